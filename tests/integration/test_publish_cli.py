"""`kim publish FILE.jsonl` as a user runs it, through the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from schemas import Codec
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import read_all

pytestmark = pytest.mark.integration


def kim_publish(lane: Lane, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "publish", str(path), *extra],
        env=lane.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )


def opened(case_id: str, agency: str = "JOBCENTER", **changes: Any) -> dict[str, Any]:
    payload = {
        "case_id": case_id,
        "client_ref": f"P-{case_id}",
        "district": "HOERDE",
        "access_route": "OUTREACH",
        "target_group": "LONG_RESIDENT",
        "rechtskreise": ["SGB_II"],
        **changes,
    }
    return {"agency": agency, "event_type": "CaseOpened", "occurred_at": "2025-03-01T10:00:00Z", "payload": payload}


def closed(case_id: str, agency: str = "KIM_CASE_MANAGEMENT") -> dict[str, Any]:
    return {
        "agency": agency,
        "event_type": "CaseClosed",
        "occurred_at": "2025-05-01T10:00:00+02:00",
        "payload": {"case_id": case_id, "reason": "GOALS_ACHIEVED"},
    }


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_good_lines_are_published_and_bad_ones_named_by_line_number(lane: Lane) -> None:
    path = write_lines(
        lane.home / "events.jsonl",
        [
            opened("DO-P-1"),  # 1
            opened("DO-P-2", district="Nord"),  # 2: not a Stadtbezirk
            '{"agency": "JOBCENTER", "event_type": ',  # 3: broken JSON
            opened("DO-P-3", agency="FINANZAMT"),  # 4: unknown agency
            "",  # 5: blank, skipped
            opened("DO-P-4", agency="JUGENDAMT"),  # 6
            closed("DO-P-1"),  # 7
            {**closed("DO-P-4"), "occurred_at": "2025-05-01"},  # 8: a date is not a timestamp
            opened("DO-P-5", client_ref="Erika Mustermann"),  # 9: a name, not a pseudonym
        ],
    )
    result = kim_publish(lane, path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.startswith("accepted 3 of 8 lines in ")
    assert f"3 to {lane.topic('kim.cases')}" in result.stdout
    assert "rejected 5 lines:" in result.stdout
    reasons = [line.strip() for line in result.stdout.splitlines() if line.startswith("  line ")]
    assert [r.split(":")[0] for r in reasons] == ["line 2", "line 3", "line 4", "line 8", "line 9"]
    assert reasons[0].startswith("line 2: payload.district: 'Nord' is not one of INNENSTADT_WEST")
    assert reasons[1].startswith("line 3: not valid JSON: Expecting value at column")
    assert reasons[2].startswith("line 4: agency: 'FINANZAMT' is not one of KIM_CASE_MANAGEMENT")
    assert reasons[3] == "line 8: occurred_at: '2025-05-01' has no timezone; add 'Z' or an offset like '+01:00'"
    assert reasons[4].startswith("line 9: payload.client_ref: must be a pseudonym")

    records = asyncio.run(read_all(lane, "kim.cases"))
    codec = Codec()
    events = sorted((codec.decode(r.value) for r in records), key=lambda e: (e.payload["case_id"], e.occurred_at))
    assert [(e.event_type, e.payload["case_id"], e.source_agency) for e in events] == [
        ("CaseOpened", "DO-P-1", "JOBCENTER"),
        ("CaseClosed", "DO-P-1", "KIM_CASE_MANAGEMENT"),
        ("CaseOpened", "DO-P-4", "JUGENDAMT"),
    ]

    # The platform spoke for three agencies: one audit entry says for whom, how much, and which login did it.
    (entry,) = asyncio.run(lane.fetch("SELECT * FROM audit_log WHERE action = 'events.publish'"))
    assert entry["target"] == "events.jsonl" and entry["outcome"] == "ok"
    details = json.loads(entry["details"])
    assert details["agencies"] == {"JOBCENTER": 1, "KIM_CASE_MANAGEMENT": 1, "JUGENDAMT": 1}
    assert (details["lines"], details["accepted"], details["rejected"]) == (8, 3, 5)
    assert entry["db_login"].startswith("kim_operations")  # the operations login, whatever KIM_ACTOR claims


def test_a_clean_file_exits_0_and_keeps_each_cases_order_across_agencies(lane: Lane) -> None:
    lines = []
    for n in range(300):  # opened by one agency, closed by another, both inside one chunk
        lines += [opened(f"DO-Q-{n}", agency="JOBCENTER"), closed(f"DO-Q-{n}", agency="KIM_CASE_MANAGEMENT")]
    path = write_lines(lane.home / "clean.jsonl", lines)
    result = kim_publish(lane, path, "--chunk", "250")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("accepted 600 of 600 lines")
    assert "rejected" not in result.stdout

    codec = Codec()
    seen: dict[str, list[str]] = {}
    for record in sorted(asyncio.run(read_all(lane, "kim.cases")), key=lambda r: (r.partition, r.offset)):
        event = codec.decode(record.value)
        seen.setdefault(event.payload["case_id"], []).append(event.event_type)
    assert len(seen) == 300
    assert all(types == ["CaseOpened", "CaseClosed"] for types in seen.values())


def test_many_rejected_lines_are_listed_up_to_the_limit(lane: Lane) -> None:
    path = write_lines(lane.home / "bad.jsonl", ["not json"] * 7)
    result = kim_publish(lane, path, "--max-errors", "3")
    assert result.returncode == 1
    assert result.stdout.count("  line ") == 3
    assert "… and 4 more rejected lines (--max-errors 0 lists all)" in result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [("missing.jsonl", "missing.jsonl: no such file"), (".", "is a directory; give a .jsonl file")],
)
def test_a_missing_file_is_one_error_line(lane: Lane, name: str, expected: str) -> None:
    result = kim_publish(lane, lane.home / name)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_an_unreachable_broker_is_one_error_line(lane: Lane) -> None:
    path = write_lines(lane.home / "one.jsonl", [opened("DO-U-1")])
    env = {**lane.env(), "KIM_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "publish", str(path)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Kafka at 127.0.0.1:9")
    assert "Traceback" not in result.stderr
