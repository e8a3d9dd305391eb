"""`kim dlq list | show | redrive` through the real broker and database: each letter re-applied once."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from schemas import Codec
from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import caught_up, read_all, send_raw
from tests.unit.events import closed, opened

pytestmark = pytest.mark.integration


def kim(lane: Lane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=lane.env(), cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _bytes(event) -> bytes:
    return Codec().encode(event.event_type, event.envelope, event.payload)


def test_redrive_after_the_fix_applies_each_letter_once_and_a_repeat_failure_keeps_its_history(lane: Lane) -> None:
    worker = lane.worker()
    topic = lane.topic("kim.cases")

    async def publish(key: bytes, value: bytes) -> dict:
        partition, offset = await send_raw(lane, "kim.cases", key, value)
        await caught_up(lane, worker, {(topic, partition): offset + 1})
        return {"partition": partition, "offset": offset}

    async def closed_at() -> list:
        return [
            r["closed_at"] for r in await lane.fetch("SELECT closed_at FROM caseload_cases WHERE case_id = 'DO-L9'")
        ]

    asyncio.run(publish(b"DO-L9", _bytes(closed("DO-L9", day=5))))  # its CaseOpened is not there yet
    asyncio.run(publish(b"DO-J9", b"\x00 not an event"))

    listed = kim(lane, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "2 of 2 dead letters" in listed.stdout
    assert "CaseClosed" in listed.stdout and "undecodable" in listed.stdout
    position = next(line.split()[0] for line in listed.stdout.splitlines() if "CaseClosed" in line)
    shown = kim(lane, "dlq", "show", position)
    assert shown.returncode == 0 and "kim.source.topic: " + topic in shown.stdout and "DO-L9" in shown.stdout
    assert kim(lane, "dlq", "show", "9:999").stderr.startswith("error: no dead letter at '9:999'")

    asyncio.run(publish(b"DO-L9", _bytes(opened("DO-L9", day=1))))  # the fix: the missing event arrives
    assert asyncio.run(closed_at()) == [None]

    first = kim(lane, "dlq", "redrive", "--projection", "caseload")
    assert first.returncode == 0, first.stderr
    assert "1 applied, 1 failed again, 0 already re-driven (of 2 chosen)" in first.stdout
    closed_once = asyncio.run(closed_at())
    assert closed_once[0] is not None

    letters = asyncio.run(read_all(lane, "kim.dlq"))
    assert len(letters) == 3
    returned = next(
        {k: v.decode() for k, v in r.headers} for r in letters if dict(r.headers).get("kim.attempt") == b"2"
    )
    assert returned["kim.redriven_from"] and "undecodable" in returned["kim.history"]

    second = kim(lane, "dlq", "redrive")
    assert "0 applied, 1 failed again, 2 already re-driven (of 3 chosen)" in second.stdout
    assert asyncio.run(closed_at()) == closed_once
    assert kim(lane, "dlq", "list", "--reason", "UNDECODABLE").stdout.count("undecodable") == 3
