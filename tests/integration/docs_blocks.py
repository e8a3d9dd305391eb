"""The fenced code blocks of the Markdown docs, split into what ``test_docs.py`` runs. Pure: no services.

A block is the text between two ``` fences; its language is the first word of the fence's info string.
An HTML comment right before a block (only blank lines between) is a directive for the test:

    <!-- docs-test: not run (why) -->   shown only, never run; the reason in brackets is required
    <!-- docs-test: exit N -->          every command of the block exits with N (default 0)
    <!-- docs-test: file NAME -->       the block's text is also written to NAME in the page's working directory

Shell blocks (``sh``, ``bash``, ``shell``) are commands; a command may continue over lines (a trailing
backslash, or a quote still open). ``console`` blocks prefix each command with ``$ `` and show (part of) its
output below it: every shown line must appear in the real output, in that order, where ``…`` stands for
anything and a run of spaces for any run of whitespace; a line of only ``…`` skips any number of lines.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SHELL = frozenset({"sh", "bash", "shell", "console"})
LANGUAGES = SHELL | {"python", "sql", "json", "jsonl"}

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,})\s*(?P<info>[^`]*)$")
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<text>.*?)\s*-->\s*$")
NOT_RUN = re.compile(r"^not run \((?P<why>.+)\)$")
EXIT = re.compile(r"^exit (?P<code>\d+)$")
FILE = re.compile(r"^file (?P<name>[\w.-]+)$")


@dataclass(frozen=True)
class Block:
    page: str  # the page's path in the repository, e.g. docs/partners.md
    line: int  # the line of the opening fence, counted from 1
    language: str
    text: str
    directive: str = ""

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """Why the block is shown only (its directive says so), or None."""
        found = NOT_RUN.match(self.directive)
        return found["why"] if found else None

    @property
    def exit_code(self) -> int:
        found = EXIT.match(self.directive)
        return int(found["code"]) if found else 0

    @property
    def file_name(self) -> str | None:
        found = FILE.match(self.directive)
        return found["name"] if found else None

    def problem(self) -> str | None:
        """Why the test cannot take this block as it stands, or None."""
        if self.directive and not (self.not_run or EXIT.match(self.directive) or self.file_name):
            return f"{self.where}: unknown directive <!-- docs-test: {self.directive} -->"
        if self.not_run is None and self.language not in LANGUAGES:
            shown = self.language or "a block without a language"
            return (
                f"{self.where}: {shown} is not a language the docs test runs ({', '.join(sorted(LANGUAGES))}); "
                "give the block one of them, or mark it <!-- docs-test: not run (why) -->"
            )
        return None


def blocks(path: Path, page: str) -> list[Block]:
    """Every fenced block of the Markdown file at ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            line = lines[end]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])  # the fence's indent, at most
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{index + 1}: the fence opened here is never closed")
        info = opening["info"].split()
        found.append(Block(page, index + 1, info[0].lower() if info else "", "\n".join(body), _directive(lines, index)))
        index = end + 1
    return found


def _directive(lines: list[str], fence: int) -> str:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    found = DIRECTIVE.match(lines[before]) if before >= 0 else None
    return found["text"] if found else ""


@dataclass(frozen=True)
class Command:
    line: int  # where the command starts in the page
    text: str
    shown: tuple[str, ...] = ()  # the output a console block shows below it

    def where(self, page: str) -> str:
        return f"{page}:{self.line}"


def commands(block: Block) -> list[Command]:
    """The commands of a shell or console block, each with the output the page shows for it."""
    console = block.language == "console"
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for offset, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if pending:
            pending.append(line)
        elif console and line.startswith("$ "):
            pending, start = [line[2:]], offset
        elif console:
            if found:
                found[-1] = Command(found[-1].line, found[-1].text, (*found[-1].shown, line))
            elif line.strip():
                raise ValueError(f"{block.page}:{offset}: output shown before the first `$ ` command")
            continue
        elif line.strip() and not line.lstrip().startswith("#"):
            pending, start = [line], offset
        if pending and complete("\n".join(pending)):
            found.append(Command(start, "\n".join(pending)))
            pending = []
    if pending:
        raise ValueError(f"{block.page}:{start}: the command starting here never ends (an open quote?)")
    return found


def complete(text: str) -> bool:
    """Whether ``text`` is a whole shell command: no trailing backslash, no quote left open."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


def missing_output(shown: tuple[str, ...], output: str) -> str | None:
    """The first shown line that is not in ``output`` (in order), or None when all of them are."""
    lines = output.splitlines()
    at = 0
    for expected in shown:
        if not expected.strip() or expected.strip() == "…":
            continue
        pattern = re.compile(_pattern(expected))
        while at < len(lines) and not pattern.search(lines[at]):
            at += 1
        if at == len(lines):
            return expected
        at += 1
    return None


def _pattern(expected: str) -> str:
    words = [".*?".join(re.escape(part) for part in word.split("…")) for word in expected.split()]
    return r"\s+".join(words)
