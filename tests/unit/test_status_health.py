"""`kim status` derivations and output: lag, the two freshness figures, workers, dead letters, rebuilds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cli.status_view import Service, Snapshot, as_json, text
from streams.operations.health import (
    Checkpoint,
    Group,
    Member,
    PartitionState,
    ProjectionHealth,
    Rebuild,
    age,
    partition_states,
    processing_text,
)
from streams.operations.health_io import letter_projection

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EVENT = datetime(2025, 12, 31, 18, 0, tzinfo=UTC)


def _health(lags: tuple[int, int], applied_ago: float | None = 4.0, **extra: object) -> ProjectionHealth:
    updated = None if applied_ago is None else NOW - timedelta(seconds=applied_ago)
    event = EVENT if updated else None
    partitions = tuple(PartitionState("kim.cases", p, 100, 100 - lag, event, updated) for p, lag in enumerate(lags))
    return ProjectionHealth("caseload", "kim-projection-caseload", partitions, **extra)  # type: ignore[arg-type]


def test_partition_states_join_end_offsets_with_checkpoints_of_the_projections_topics() -> None:
    ends = {("kim.cases", 0): 10, ("kim.cases", 1): 5, ("kim.immigration", 0): 7}
    seen = {("kim.cases", 0): Checkpoint(8, EVENT, NOW)}
    states = partition_states(ends, seen, ["kim.cases"])
    assert [(s.partition, s.next_offset, s.lag, s.last_event_at) for s in states] == [(0, 8, 2, EVENT), (1, 0, 5, None)]


def test_lag_never_goes_below_zero() -> None:
    assert PartitionState("t", 0, 3, 5, None, None).lag == 0


def test_event_and_processing_freshness_are_kept_apart() -> None:
    current = _health((0, 0), applied_ago=3600)
    assert current.event_freshness(NOW) == (NOW - EVENT).total_seconds()  # old data: a simulated 2025
    assert current.processing_freshness(NOW) == 3600
    assert processing_text(current, NOW) == "current"  # lag 0: current, however long ago it last applied
    behind = _health((0, 7), applied_ago=90)
    assert behind.lag == 7
    assert processing_text(behind, NOW) == "behind, applied 90 s ago"
    assert processing_text(_health((3, 0), applied_ago=None), NOW) == "never applied"


def test_ages_read_well() -> None:
    assert [age(s) for s in (None, 4.2, 119, 600, 3 * 3600, 334 * 86400)] == [
        "-",
        "4 s",
        "119 s",
        "10 min",
        "3.0 h",
        "334 d",
    ]


def test_a_rebuild_whose_row_stopped_moving_is_interrupted() -> None:
    def rebuild(state: str, seconds_ago: float) -> Rebuild:
        return Rebuild("c", "caseload", "rebuild", state, 30, 120, NOW, NOW - timedelta(seconds=seconds_ago))

    assert rebuild("running", 5).condition(NOW) == "running"
    assert rebuild("running", 31).condition(NOW) == "interrupted"
    assert rebuild("verifying", 31).condition(NOW) == "interrupted"
    assert rebuild("running", 5).progress == 0.25


def test_a_dead_letter_names_its_projection_in_a_header() -> None:
    assert letter_projection([("kim.reason", b"x"), ("kim.projection", b"referrals")]) == "referrals"
    assert letter_projection([]) == ""


def _snapshot(*healths: ProjectionHealth) -> Snapshot:
    ends = {("kim.cases", 0): 100, ("kim.cases", 1): 100, ("kim.dlq", 0): 3}
    return Snapshot(
        Service("127.0.0.1:19092", True),
        Service("127.0.0.1:15432/kim", True),
        ends,
        ("kim.cases", "kim.dlq"),
        healths,
    )


def test_text_shows_workers_lag_freshness_dead_letters_and_rebuilds() -> None:
    group = Group(
        "kim-projection-caseload", "Stable", (Member("m1", "127.0.0.1", (("kim.cases", 0), ("kim.cases", 1))),)
    )
    rebuild = Rebuild("replay_caseload_a", "caseload", "rebuild", "running", 50, 200, NOW, NOW - timedelta(seconds=60))
    health = _health((0, 2), local_pid=4242, group=group, dead_letters=3, redriven={"applied": 1}, rebuilds=(rebuild,))
    out = text(_snapshot(health), NOW)
    row = next(line for line in out.splitlines() if line.startswith("caseload"))
    assert row.split()[1:7] == ["up", "(pid", "4242)", "2", "1", "(2"]
    assert "0:0 1:2" in row and "2025-12-31T18:00:00+00:00" in row and "334 d" in row
    assert "behind, applied 4 s ago" in row and row.endswith("3 (1 re-driven)")
    rebuild_row = next(line for line in out.splitlines() if line.startswith("caseload") and "replay_" in line)
    assert "interrupted 50/200 25%" in rebuild_row and "60 s ago" in rebuild_row
    assert "event freshness: now - event time" in out


def test_a_projection_without_workers_or_counts_says_so() -> None:
    health = _health((0, 0), group=Group("g", "Empty"), dead_letters=None)
    row = next(line for line in text(_snapshot(health), NOW).splitlines() if line.startswith("caseload"))
    assert row.split()[1:4] == ["stopped", "0", "0"]
    assert row.endswith("current             ?")


def test_json_has_the_same_facts() -> None:
    group = Group("kim-projection-caseload", "Stable", (Member("m1", "127.0.0.1", (("kim.cases", 0),)),))
    health = _health((0, 5), local_pid=None, group=group, dead_letters=2, redriven={"failed_again": 1})
    doc = json.loads(json.dumps(as_json(_snapshot(health), NOW)))
    assert doc["healthy"] is True
    assert doc["topics"][0] == {
        "name": "kim.cases",
        "end_offsets": {"0": 100, "1": 100},
        "records": 200,
        "replication": None,  # no cluster metadata in this snapshot
    }
    (projection,) = doc["projections"]
    assert projection["lag"] == 5 and projection["processing"] == "behind"
    assert [p["lag"] for p in projection["partitions"]] == [0, 5]
    assert projection["event_freshness_seconds"] == (NOW - EVENT).total_seconds()
    assert projection["processing_freshness_seconds"] == 4.0
    assert projection["workers"]["member_count"] == 1 and projection["workers"]["local_pid"] is None
    assert projection["workers"]["members"][0]["partitions"] == ["kim.cases:0"]
    assert projection["dead_letters"] == 2 and projection["redriven"] == {"failed_again": 1}


def test_a_broker_down_is_unhealthy_and_says_how_to_start_it() -> None:
    down = Snapshot(Service("127.0.0.1:9", False, "connection refused"), Service("db", True))
    assert not down.healthy
    assert "broker    127.0.0.1:9 (external): DOWN: connection refused" in text(down, NOW)
    assert as_json(down, NOW)["projections"] is None
