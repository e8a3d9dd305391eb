"""A projection's "last event time" counts the events its fold applied, never one it refused (dead-lettered)."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.records import Applied, LogRecord, Rejection
from streams.runtime.batch import latest_applied
from tests.unit.events import closed, opened


def applied(offset: int, event, partition: int = 0) -> Applied:
    return Applied(LogRecord("kim.cases", partition, offset, b"k", b"v"), event)


def test_a_refused_event_does_not_move_the_last_event_time() -> None:
    kept = applied(0, opened("a", day=1))
    ancient = opened("b", day=2)._replace(  # applied, but older than the newest of its partition
        envelope={**opened("b").envelope, "occurred_at": datetime(44, 3, 15, tzinfo=UTC)}
    )
    late = applied(1, closed("zz", day=900))  # refused by the fold: never opened
    other = applied(0, opened("c", day=3), partition=1)
    latest = latest_applied([kept, applied(2, ancient), late, other], [Rejection(late.record, "never opened")])
    assert latest == {("kim.cases", 0): kept.event.occurred_at, ("kim.cases", 1): other.event.occurred_at}
