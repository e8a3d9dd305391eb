"""Every relative link of README.md and docs/*.md leads to a file of the repository, and to a heading or anchor
that is there. (That no file names a document outside the repository is tests/unit/test_architecture.py's.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = ["README.md", *sorted(path.relative_to(REPO).as_posix() for path in (REPO / "docs").glob("*.md"))]
GENERATED = {"docs/catalog.md", "docs/analytics.md"}  # written by schemas.docs and analytics.docs
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
ANCHOR = re.compile(r"<a\s+(?:id|name)=\"(?P<id>[^\"]+)\"")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def prose(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fence = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown page: one per heading (lower case, punctuation dropped, spaces to
    hyphens, repeats numbered) and every explicit ``<a id=…>``."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(path):
        found.update(m["id"] for m in ANCHOR.finditer(line))
        heading = HEADING.match(line)
        if heading is None:
            continue
        title = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading["title"]).lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_leads_to_a_file_and_an_anchor_there(page: str) -> None:
    path = REPO / page
    broken = []
    for line in prose(path):
        for link in LINK.finditer(line):
            target = link["target"]
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            if not destination.is_relative_to(REPO) or not destination.exists():
                broken.append(f"{target}: no such file in the repository")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{target}: {destination.relative_to(REPO)} has no heading or anchor #{anchor}")
    assert not broken, f"{page}:\n" + "\n".join(broken)
