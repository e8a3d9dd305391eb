"""`kim status` per projection and the Prometheus metrics a worker serves, through the real broker and database."""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from infra.processes import free_port
from streams.sdk.draft import EventDraft
from tests.integration.conftest import Lane, Worker
from tests.integration.demo_events import DemoEvent
from tests.integration.helpers import UNTIL, caught_up, history, publish_history, send_raw
from tests.integration.test_cli import kim
from tests.unit.test_metrics import parse

pytestmark = pytest.mark.integration


def _until(check: Callable[[], Any], what: str, worker: Worker, timeout: float = 120.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the last value and the worker's log."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        assert worker.alive(), f"the worker died:\n{worker.log_text()[-4000:]}"
        time.sleep(1.0)
    raise AssertionError(
        f"{what} not reached in {timeout:.0f} s; last: {last}\n--- worker log ---\n{worker.log_text()[-4000:]}"
    )


def _publish(lane: Lane, cases: int) -> int:
    openings, closings = history(seed=11, cases=cases)
    targets = asyncio.run(publish_history(lane, openings, closings))
    return sum(targets.values())


def test_status_shows_lag_members_dead_letters_and_json(lane: Lane) -> None:
    worker = lane.worker("caseload")
    published = _publish(lane, cases=15)
    asyncio.run(send_raw(lane, "kim.cases", b"garbage-key", b"garbage"))
    asyncio.run(_register_rebuilds(lane))

    def caseload() -> dict | None:
        result = kim("status", "--json", env=lane.env(), timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        doc = json.loads(result.stdout)
        mine = next(p for p in doc["projections"] if p["name"] == "caseload")
        done = mine["lag"] == 0 and mine["dead_letters"] == 1 and mine["workers"]["member_count"] >= 1
        return (doc, mine) if done else None

    doc, mine = _until(caseload, "caseload lag 0, one dead letter, a member", worker)
    assert doc["healthy"] is True and doc["broker"]["up"] and doc["database"]["up"]
    cases = next(t for t in doc["topics"] if t["name"] == lane.topic("kim.cases"))
    assert cases["records"] == published + 1  # the garbage record too: it is consumed and dead-lettered
    assert sum(p["checkpoint"] for p in mine["partitions"]) == published + 1
    assert {p["partition"] for p in mine["partitions"]} == set(range(6))
    assert mine["processing"] == "current" and mine["last_event_at"].startswith("2025-")
    assert mine["event_freshness_seconds"] > 86400  # a simulated 2025: old data, still current
    assert 0 <= mine["processing_freshness_seconds"] < 3600
    assert mine["workers"]["group"] == lane.prefix + "kim-projection-caseload"
    members = mine["workers"]["members"]
    assert sorted(p for m in members for p in m["partitions"]) == [f"{lane.topic('kim.cases')}:{p}" for p in range(6)]
    assert mine["workers"]["local_pid"] is None  # started by the test, not by `kim up`
    assert mine["redriven"] == {}
    rebuilds = {r["copy_schema"]: r for r in mine["rebuilds"]}
    assert set(rebuilds) == {"kim_rebuild_fresh", "kim_rebuild_stale"}  # not the swapped one
    assert rebuilds["kim_rebuild_fresh"]["condition"] == "running" and rebuilds["kim_rebuild_fresh"]["progress"] == 0.25
    assert rebuilds["kim_rebuild_stale"]["condition"] == "interrupted"
    referrals = next(p for p in doc["projections"] if p["name"] == "referrals")
    assert referrals["lag"] == published + 1 and referrals["workers"]["member_count"] == 0
    assert referrals["processing"] == "never applied" and referrals["dead_letters"] == 0

    text = kim("status", env=lane.env(), timeout=120)
    assert text.returncode == 0, text.stderr
    row = next(line for line in text.stdout.splitlines() if line.startswith("caseload"))
    assert row.split()[1:5] == ["stopped", "0", "1", "(6"], text.stdout
    assert "current" in row and row.rstrip().endswith(" 1"), row
    assert "processing freshness" in text.stdout and "event freshness" in text.stdout
    rebuild_rows = [line for line in text.stdout.splitlines() if "kim_rebuild_" in line]
    assert len(rebuild_rows) == 2 and "running 250/1000 25%" in rebuild_rows[0], text.stdout
    assert "interrupted 10/?" in rebuild_rows[1], text.stdout


async def _register_rebuilds(lane: Lane) -> None:
    """Rows as `kim replay` writes them: one moving, one whose replay was killed a minute ago, one done."""
    await lane.fetch(
        "INSERT INTO projection_rebuilds (copy_schema, projection, kind, state, total, applied, started_at, updated_at)"
        " VALUES ('kim_rebuild_fresh', 'caseload', 'rebuild', 'running', 1000, 250, now(), now() + interval '1 hour'),"
        " ('kim_rebuild_stale', 'caseload', 'rebuild', 'running', NULL, 10, now(), now() - interval '60 seconds'),"
        " ('kim_rebuild_done', 'caseload', 'rebuild', 'swapped', 5, 5, now(), now())"
    )


def _scrape(port: int) -> dict[str, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=15) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return parse(response.read().decode())
    except OSError:  # not listening yet
        return None


def _values(families: dict[str, dict], name: str) -> list[float]:
    return [float(value) for _, _, value in families.get(name, {}).get("samples", [])]


def test_worker_serves_prometheus_metrics_that_reach_what_was_published(lane: Lane) -> None:
    lane.metrics_port = free_port()
    worker = lane.worker("caseload")
    published = _publish(lane, cases=15)

    def applied_all() -> dict[str, dict] | None:
        families = _scrape(lane.metrics_port)
        if families is None:
            return None
        lag = _values(families, "kim_consumer_lag")
        done = sum(_values(families, "kim_events_applied_total")) == published and len(lag) == 6 and not any(lag)
        return families if done else None

    families = _until(applied_all, f"kim_events_applied_total == {published} and lag 0", worker)
    assert _values(families, "kim_batches_total")[0] >= 1
    buckets = [s for s in families["kim_batch_seconds"]["samples"] if s[0] == "kim_batch_seconds_count"]
    assert float(buckets[0][2]) == _values(families, "kim_batches_total")[0]
    updated = [v for v in _values(families, "kim_checkpoint_updated_timestamp_seconds") if not math.isnan(v)]
    assert updated and time.time() - 3600 < max(updated) <= time.time() + 60
    assert families["kim_state_read_ok"]["samples"][0][2] == "1"
    label = f'{{projection="caseload",topic="{lane.topic("kim.cases")}",partition="0"}}'
    assert ("kim_consumer_lag", label, "0") in families["kim_consumer_lag"]["samples"]

    asyncio.run(send_raw(lane, "kim.cases", b"garbage-key", b"garbage"))
    _until(
        lambda: (
            (f := _scrape(lane.metrics_port))
            and _values(f, "kim_dead_letters_total") == [1.0]
            and _values(f, "kim_dlq_letters") == [1.0]
        ),
        "one dead letter counted by the worker and found in the DLQ",
        worker,
    )

    asyncio.run(_register_rebuilds(lane))
    families = _until(
        lambda: (f := _scrape(lane.metrics_port)) and len(f["kim_rebuild_applied"]["samples"]) == 2 and f,
        "the two unfinished rebuilds",
        worker,
    )
    fresh = '{projection="caseload",copy="kim_rebuild_fresh",kind="rebuild"}'
    assert ("kim_rebuild_progress_ratio", fresh, "0.25") in families["kim_rebuild_progress_ratio"]["samples"]
    assert ("kim_rebuild_applied", fresh, "250") in families["kim_rebuild_applied"]["samples"]

    # A second worker whose metrics port is taken logs one line and runs on, without metrics.
    second = lane.worker("caseload")
    _until(lambda: "no metrics: cannot listen on 127.0.0.1" in second.log_text(), "the port-taken line", second)
    time.sleep(3.0)
    assert second.alive(), second.log_text()[-4000:]
    assert second.log_text().count("no metrics") == 1
    assert "Traceback" not in second.log_text()


def test_the_last_event_time_counts_applied_events_only(lane: Lane) -> None:
    """A record the fold refuses (here: the closing of a case never opened, dated today) is dead-lettered; its time
    is not the projection's freshness, which stays that of the newest event it applied (a simulated 2025)."""
    worker = lane.worker("caseload")
    openings, closings = history(seed=12, cases=5)
    stray = DemoEvent("JOBCENTER", EventDraft("CaseClosed", {"case_id": "DO-X9-404", "reason": "NO_CONTACT"}))
    targets = asyncio.run(publish_history(lane, openings, [*closings, stray]))
    asyncio.run(caught_up(lane, worker, targets))
    rows = asyncio.run(lane.fetch("SELECT last_event_at FROM projection_checkpoints WHERE projection = 'caseload'"))
    newest = max(r["last_event_at"] for r in rows if r["last_event_at"] is not None)
    assert newest == max(e.draft.occurred_at for e in [*openings, *closings])
    assert newest < UNTIL

    def caseload() -> dict | None:
        result = kim("status", "--json", env=lane.env(), timeout=120)
        mine = next(p for p in json.loads(result.stdout)["projections"] if p["name"] == "caseload")
        return mine if mine["dead_letters"] == 1 else None

    mine = _until(caseload, "the stray closing dead-lettered", worker)
    assert mine["last_event_at"].startswith("2025-"), mine["last_event_at"]
