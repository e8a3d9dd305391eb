"""The projection's Kafka consumer group holds the PostgreSQL checkpoints, also after a crash and restart.

Kafka's own lag tools (``kafka-consumer-groups --describe``, lag exporters) read the group's committed offsets;
they must show the lag ``kim status`` shows, computed from the checkpoints.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from infra import kafka_broker
from infra.settings import Settings
from streams.kafka.topics import consumer_group, end_offsets
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, checkpoint_total, history, publish_history

pytestmark = pytest.mark.integration

Offsets = dict[tuple[str, int], int]


async def group_offsets(lane: Lane, projection: str = "caseload") -> Offsets:
    admin = lane.kafka.admin()
    await admin.start()
    try:
        held = await admin.list_consumer_group_offsets(consumer_group(projection, lane.prefix))
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in held.items() if meta.offset >= 0}


async def checkpoints(lane: Lane, projection: str = "caseload") -> Offsets:
    rows = await lane.fetch(
        "SELECT topic, partition, next_offset FROM projection_checkpoints WHERE projection = $1", projection
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def group_matches_checkpoints(lane: Lane, timeout: float = 15.0) -> Offsets:
    """Wait until the group holds exactly the checkpoints (it may trail by the batch in flight); return them."""
    deadline = time.monotonic() + timeout
    while True:
        seen, held = await checkpoints(lane), await group_offsets(lane)
        if seen and held == seen:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"the group holds {sorted(held.items())}, the checkpoints are {sorted(seen.items())}")
        await asyncio.sleep(0.5)


def test_the_group_offsets_are_the_checkpoints_before_and_after_a_crash(lane: Lane, base_settings: Settings) -> None:
    first_openings, first_closings = history(seed=41, cases=2000)
    openings, closings = history(seed=42, cases=12_000)
    later_openings, later_closings = history(seed=43, cases=600)
    last_openings, last_closings = history(seed=44, cases=600)

    async def scenario() -> None:
        first = lane.worker()
        targets = await publish_history(lane, first_openings, first_closings)
        await caught_up(lane, first, targets)
        before = await group_matches_checkpoints(lane)

        # A crash in the middle of a stream: the group's offsets may trail the checkpoints by a batch here.
        targets = await publish_history(lane, openings, closings)
        while await checkpoint_total(lane) < sum(before.values()) + 3000:
            assert first.alive(), first.log_text()[-3000:]
            await asyncio.sleep(0.02)
        first.kill()

        second = lane.worker()
        await caught_up(lane, second, targets, timeout=300)
        await group_matches_checkpoints(lane)
        targets = await publish_history(lane, later_openings, later_closings)
        await caught_up(lane, second, targets)
        await group_matches_checkpoints(lane)

        # Kafka's own tool shows the lag the database shows (the worker stopped, new events waiting).
        second.stop()
        await publish_history(lane, last_openings, last_closings)
        topic = lane.topic("kim.cases")
        ends, seen = await end_offsets(lane.kafka, [topic]), await checkpoints(lane)
        database_lag = {partition: end - seen.get((t, partition), 0) for (t, partition), end in ends.items()}
        assert sum(database_lag.values()) == len(last_openings) + len(last_closings)
        described = await asyncio.to_thread(
            kafka_broker.run_admin_tool,
            base_settings,
            lane.kafka,
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--describe",
            "--group",
            consumer_group("caseload", lane.prefix),
        )
        assert kafka_lag(described, topic) == database_lag, described

    asyncio.run(scenario())


def kafka_lag(described: str, topic: str) -> dict[int, int]:
    """Per partition, the LAG column of ``kafka-consumer-groups --describe`` for ``topic``."""
    lines = [line.split() for line in described.splitlines() if line.strip()]
    header = next(line for line in lines if "LAG" in line and "PARTITION" in line)
    column = {name: i for i, name in enumerate(header)}
    return {
        int(line[column["PARTITION"]]): int(line[column["LAG"]])
        for line in lines
        if len(line) > column["LAG"] and line[column["TOPIC"]] == topic
    }
