"""The outage state machine: which lines come out for a sequence of failures, successes and clock ticks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.outage import STILL_DOWN_EVERY, Outage
from streams.runtime.outage_log import KAFKA, POSTGRES, FoldConnectionErrors, OutageReport, connection_error

WALL = datetime(2026, 3, 2, 9, 15, 0, tzinfo=UTC)


def texts(outage: Outage, events: list[tuple[str, float]]) -> list[str]:
    out = []
    for kind, now in events:
        if kind == "fail":
            lines = outage.failed(now, WALL, "Connect call failed ('127.0.0.1', 19092)")
        elif kind == "ok":
            lines = outage.succeeded(now)
        else:
            lines = outage.tick(now)
        out.extend(line.text for line in lines)
    return out


def test_an_outage_is_three_kinds_of_line() -> None:
    outage = Outage("Kafka")
    failures = [("fail", t / 20) for t in range(0, 20 * 75)]  # 20 failed attempts a second for 75 s
    ticks = [("tick", float(t)) for t in range(76)]
    lines = texts(outage, [*sorted(failures + ticks, key=lambda e: e[1]), ("ok", 75.4)])
    assert lines[0] == (
        "Kafka unreachable since 2026-03-02 09:15:00 (Connect call failed ('127.0.0.1', 19092)); "
        "retrying, a line every 30 s until it is back"
    )
    assert lines[1].startswith("Kafka still down for 30 s (")
    assert lines[2].startswith("Kafka still down for 60 s (")
    assert lines[3] == "Kafka back after 75 s"
    assert len(lines) == 4


def test_a_late_tick_says_how_long_and_the_next_line_comes_on_the_grid() -> None:
    outage = Outage("PostgreSQL")
    assert len(outage.failed(100.0, WALL, "refused")) == 1
    assert [line.text.split(" (")[0] for line in outage.tick(171.0)] == ["PostgreSQL still down for 60 s"]
    assert outage.tick(189.0) == []
    assert len(outage.tick(190.0)) == 1


def test_levels_errors_while_down_a_warning_when_back() -> None:
    outage = Outage("Kafka")
    assert [line.level for line in outage.failed(0.0, WALL, "x")] == [logging.ERROR]
    assert [line.level for line in outage.tick(30.0)] == [logging.ERROR]
    assert [line.level for line in outage.succeeded(31.0)] == [logging.WARNING]
    assert outage.succeeded(32.0) == [] and outage.tick(100.0) == []


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Outage("Kafka", every=0)


events = st.lists(
    st.tuples(st.sampled_from(["fail", "ok", "tick"]), st.floats(min_value=0.0, max_value=5.0)), max_size=300
)


@given(events)
def test_lines_follow_the_state_and_are_bounded_by_the_clock(steps: list[tuple[str, float]]) -> None:
    outage, now, timeline = Outage("Kafka"), 0.0, []
    for kind, gap in steps:
        now += gap
        timeline.append((kind, now))
    state, since, last_still = "up", 0.0, 0
    lines = downs = 0
    for kind, at in timeline:
        for text in texts(outage, [(kind, at)]):
            lines += 1
            if "unreachable since" in text:
                assert state == "up" and kind == "fail"
                state, since, last_still = "down", at, 0
                downs += 1
            elif "still down for" in text:
                assert state == "down"
                lasted = int(text.split("still down for ")[1].split(" s")[0])
                assert lasted % STILL_DOWN_EVERY == 0 and last_still < lasted <= at - since
                last_still = lasted
            else:
                assert state == "down" and kind == "ok"
                assert text == f"Kafka back after {at - since:.0f} s"
                state = "up"
    # However many attempts failed: one line down, one back, one per 30 s in between.
    assert lines <= 2 * downs + now / STILL_DOWN_EVERY
    assert outage.down == (state == "down")


@given(st.integers(min_value=1, max_value=5000), st.floats(min_value=0.01, max_value=600.0))
def test_failures_alone_never_log_more_than_one_line_per_period(attempts: int, seconds: float) -> None:
    outage = Outage("Kafka")
    lines = texts(outage, [("fail", seconds * i / attempts) for i in range(attempts)])
    assert 1 <= len(lines) <= 1 + seconds / STILL_DOWN_EVERY


@pytest.mark.parametrize(
    ("logger", "message"),
    [
        ("aiokafka.conn", "Unable connect to node with id 1: [Errno 111] Connect call failed ('127.0.0.1', 37149)"),
        ("aiokafka.cluster", "Unable to update metadata from [1]"),
        ("aiokafka.consumer.fetcher", "Failed fetch messages from 1: NodeNotReadyError: Attempt to send a request"),
        ("aiokafka.consumer.group_coordinator", "Group Coordinator Request failed: NodeNotReadyError: Attempt"),
        ("aiokafka.consumer.group_coordinator", "Marking the coordinator dead (node 1)for group g."),
        ("aiokafka.consumer.group_coordinator", "Heartbeat session expired - marking coordinator dead"),
        ("aiokafka.conn", "Unable connect to node with id 1: [Errno 104] Connection reset by peer"),
    ],
)
def test_the_clients_connection_errors_are_recognised(logger: str, message: str) -> None:
    assert connection_error(logger, message) == (KAFKA, message)


def test_the_database_pool_failing_to_reconnect_is_recognised() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 15432)")
    message = "Failed to restore the pool connection floor; retrying"
    assert connection_error("asyncpg.pool", message, refused) == (POSTGRES, f"ConnectionRefusedError: {refused}")
    assert connection_error("asyncpg.pool", message, ValueError("a bug")) is None
    assert connection_error("asyncpg.pool", message) is None


@pytest.mark.parametrize(
    ("logger", "message"),
    [
        ("aiokafka.consumer.group_coordinator", "Revoking previously assigned partitions"),
        ("faust.transport.drivers.aiokafka", "Missing sensor state for rebalance #1"),
        ("kim.worker", "Unable connect to node with id 1"),  # the platform's own lines are never folded
    ],
)
def test_other_lines_are_not(logger: str, message: str) -> None:
    assert connection_error(logger, message) is None


def test_the_filter_folds_connection_errors_into_the_report_and_lets_the_rest_through() -> None:
    written: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(f"{record.name}: {record.getMessage()}")

    outage_log = logging.getLogger("kim.outage.test")
    outage_log.propagate = False
    outage_log.addHandler(Keep())
    clock = iter([float(t) for t in range(1000)])
    report = OutageReport(outage_log, clock=lambda: next(clock), wall=lambda: WALL)
    fold = FoldConnectionErrors(report)
    client = logging.getLogger("aiokafka.conn.test")
    client.propagate = False
    handler = Keep()
    handler.addFilter(fold)
    client.addHandler(handler)
    try:
        for _ in range(50):
            client.error("Unable connect to node with id %d: [Errno 111] Connect call failed", 1)
        client.warning("Something else entirely")
        assert report.down(KAFKA)
        report.succeeded(KAFKA)
    finally:
        client.removeHandler(handler)
        outage_log.handlers.clear()
    assert written[0].startswith("kim.outage.test: Kafka unreachable since 2026-03-02 09:15:00 (Unable connect")
    assert "aiokafka.conn.test: Something else entirely" in written
    assert [w for w in written if "still down" in w]  # the clock passed 30 s after 50 attempts, one second each
    assert written[-1].startswith("kim.outage.test: Kafka back after")
    assert not any("aiokafka.conn.test: Unable connect" in w for w in written)
    assert len(written) <= 4
