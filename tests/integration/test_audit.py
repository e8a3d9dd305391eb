"""The audit log through the real database: operational actions are recorded, listed and never rewritten."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import asyncpg
import pytest

from tests.integration.conftest import REPO, Lane
from tests.integration.helpers import caught_up, send_raw

pytestmark = pytest.mark.integration


def kim(lane: Lane, *args: str, actor: str = "alice@ops-desk") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env={**lane.env(), "KIM_ACTOR": actor},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_redrive_is_recorded_with_actor_filter_and_outcome(lane: Lane) -> None:
    worker = lane.worker()
    partition, offset = asyncio.run(send_raw(lane, "kim.cases", b"DO-J9", b"\x00 not an event"))
    asyncio.run(caught_up(lane, worker, {(lane.topic("kim.cases"), partition): offset + 1}))

    assert kim(lane, "audit").stdout.strip() == "no audit entries match"
    redriven = kim(lane, "dlq", "redrive", "--projection", "caseload", actor="bob@night-shift")
    assert redriven.returncode == 0, redriven.stderr

    listed = kim(lane, "audit", "--action", "dlq", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry["actor"] == "bob@night-shift"
    assert entry["action"] == "dlq.redrive" and entry["target"] == lane.topic("kim.dlq")
    assert entry["outcome"] == "ok"
    assert entry["details"]["filter"] == "--projection caseload"
    assert entry["details"]["chosen"] == 1 and entry["details"]["failed again"] == 1

    table = kim(lane, "audit")
    assert "bob@night-shift" in table.stdout and "dlq.redrive" in table.stdout
    assert json.loads(kim(lane, "audit", "--action", "replay", "--format", "json").stdout) == []
    assert json.loads(kim(lane, "audit", "--actor", "alice@ops-desk", "--format", "json").stdout) == []


def test_the_audit_log_refuses_changes_and_bad_filters_get_one_error_line(lane: Lane) -> None:
    async def tamper() -> list[str]:
        conn = await asyncpg.connect(lane.database_url)
        refused = []
        try:
            await conn.execute(
                "INSERT INTO audit_log (actor, action, target, outcome) VALUES ('eve', 'erase', 'P-1', 'ok')"
            )
            for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                try:
                    await conn.execute(sql)
                except asyncpg.InsufficientPrivilegeError as why:
                    refused.append(str(why))
            return refused
        finally:
            await conn.close()

    refused = asyncio.run(tamper())
    assert len(refused) == 3 and all("append-only" in r for r in refused)
    assert json.loads(kim(lane, "audit", "--format", "json").stdout)[0]["actor"] == "eve"

    for args, fragment in (
        (("--since", "last tuesday"), "is not an ISO date"),
        (("--limit", "0"), "is not a number from 1 to 10000"),
    ):
        bad = kim(lane, "audit", *args)
        assert bad.returncode != 0 and fragment in bad.stderr and "Traceback" not in bad.stderr
    blank = subprocess.run(
        [sys.executable, "-m", "cli.main", "audit"],
        env={**lane.env(), "KIM_ACTOR": "bad\nname"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert blank.returncode == 1 and blank.stderr.startswith("error: KIM_ACTOR=")
