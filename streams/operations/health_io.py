"""Reading the facts behind `kim status` and the worker metrics from Kafka and PostgreSQL (thin edge)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import TopicPartition
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import OffsetOutOfRangeError

from streams.kafka.connection import KafkaConnection
from streams.operations.dlq_tally import PartitionTally, Tally, add, done, plan, restarts
from streams.operations.health import SHOWN_REBUILD_STATES, Checkpoint, Group, Member, Rebuild


async def read_checkpoints(conn: asyncpg.Connection, projection: str) -> dict[tuple[str, int], Checkpoint]:
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset, last_event_at, updated_at FROM projection_checkpoints"
        " WHERE projection = $1",
        projection,
    )
    return {
        (r["topic"], r["partition"]): Checkpoint(r["next_offset"], r["last_event_at"], r["updated_at"]) for r in rows
    }


async def _has_table(conn: asyncpg.Connection, name: str) -> bool:
    return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name)


async def read_rebuilds(conn: asyncpg.Connection, projection: str | None = None) -> list[Rebuild]:
    """Rebuilds and as-of copies running or verifying (or interrupted in those states), or failed."""
    if not await _has_table(conn, "projection_rebuilds"):  # a database migrated before 0070
        return []
    rows = await conn.fetch(
        "SELECT copy_schema, projection, kind, state, applied, total, started_at, updated_at"
        " FROM projection_rebuilds WHERE state = ANY($1::text[]) AND ($2::text IS NULL OR projection = $2)"
        " ORDER BY projection, started_at, copy_schema",
        list(SHOWN_REBUILD_STATES),
        projection,
    )
    return [Rebuild(**dict(r)) for r in rows]


async def read_redriven(conn: asyncpg.Connection, dlq_topic: str) -> dict[str, dict[str, int]]:
    """Re-driven dead letters per projection and outcome (``applied`` / ``failed_again``)."""
    if not await _has_table(conn, "dlq_redriven"):
        return {}
    rows = await conn.fetch(
        "SELECT projection, outcome, count(*) AS n FROM dlq_redriven WHERE dlq_topic = $1 GROUP BY 1, 2", dlq_topic
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["projection"], {})[r["outcome"]] = r["n"]
    return out


async def describe_groups(kafka: KafkaConnection, group_ids: Sequence[str]) -> dict[str, Group]:
    """Members of each consumer group and the partitions assigned to them.

    One request per group: with several groups in one DescribeGroups request aiokafka 0.14 misreads
    Kafka 4.4's answer for the second one.
    """
    admin = kafka.admin(request_timeout_ms=10000)
    await admin.start()
    try:
        out = {}
        for group_id in group_ids:
            for response in await admin.describe_consumer_groups([group_id]):
                for error_code, name, state, _protocol_type, _protocol, members in response.groups:
                    if name != group_id:
                        continue
                    out[group_id] = Group(name, state if error_code == 0 else f"error {error_code}", _members(members))
        return out
    finally:
        await admin.close()


def _members(raw: Sequence[tuple]) -> tuple[Member, ...]:
    members = []
    for member_id, _client_id, client_host, _metadata, assignment in raw:
        partitions: tuple[tuple[str, int], ...] = ()
        if assignment:
            decoded = ConsumerProtocolMemberAssignment.decode(assignment)
            partitions = tuple(sorted((topic, p) for topic, parts in decoded.assignment for p in parts))
        members.append(Member(member_id, client_host.lstrip("/"), partitions))
    return tuple(sorted(members, key=lambda m: m.partitions))


class LogReader:
    """A plain consumer (no group, commits nothing) for end offsets and for counting dead letters.

    The count is incremental: each call reads only the letters added since the last one, so a
    worker can keep it current cheaply; a first call reads the whole dead-letter topic.
    """

    def __init__(self, kafka: KafkaConnection) -> None:
        self.consumer = kafka.consumer(auto_offset_reset="earliest")
        self.letters: Counter[str] = Counter()  # per projection (header kim.projection)
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def end_offsets(self, partitions: Mapping[str, int]) -> dict[tuple[str, int], int]:
        """End offsets of ``topic -> partition count``."""
        tps = [TopicPartition(t, p) for t, n in partitions.items() for p in range(n)]
        ends = await self.consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}

    async def count_dead_letters(self, dlq_topic: str, partitions: int, timeout: float = 30.0) -> Counter[str]:
        """Letters per projection in the dead-letter topic, up to its end offsets at call time."""
        tps = [TopicPartition(dlq_topic, p) for p in range(partitions)]
        if set(self.consumer.assignment()) != set(tps):
            self.consumer.assign(tps)
            for tp in tps:
                self.consumer.seek(tp, self._positions.get(tp, 0))
        ends = await self.consumer.end_offsets(tps)
        todo = {tp for tp in tps if self._positions.get(tp, 0) < ends[tp]}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while todo:
            if loop.time() > deadline:
                raise TimeoutError(f"counting the dead letters in {dlq_topic} took longer than {timeout:.0f} s")
            for tp, records in (await self.consumer.getmany(*todo, timeout_ms=500)).items():
                for r in records:
                    if r.offset >= self._positions.get(tp, 0):
                        self.letters[letter_projection(r.headers)] += 1
                        self._positions[tp] = r.offset + 1
            for tp in todo:  # the position also steps over offsets that hold no record
                self._positions[tp] = max(self._positions.get(tp, 0), await self.consumer.position(tp))
            todo = {tp for tp in todo if self._positions[tp] < ends[tp]}
        return self.letters


@dataclass(frozen=True)
class TallyRead:
    """A stored dead-letter tally carried on to the DLQ's end offsets (or as far as the time allowed)."""

    tally: dict[int, PartitionTally]
    read: int  # records this call read from Kafka
    restarted: frozenset[int]  # partitions counted again from their log start (retention, a recreated topic)
    complete: bool  # False: the time ran out; ``tally`` holds what was counted so far, exactly


async def continue_tally(
    kafka: KafkaConnection, dlq_topic: str, partitions: Iterable[int], stored: Tally, timeout: float
) -> TallyRead:
    """Read only the letters after each partition's stored position, up to the end offsets at call time.

    ``auto_offset_reset="none"``: a position that retention deleted while reading is an error here (not
    a silent jump), and that partition is counted again from its new start.
    """
    consumer = kafka.consumer(auto_offset_reset="none")
    await consumer.start()
    try:
        tps = {p: TopicPartition(dlq_topic, p) for p in sorted(set(partitions))}
        consumer.assign(list(tps.values()))
        ends = {tp.partition: end for tp, end in (await consumer.end_offsets(list(tps.values()))).items()}
        starts = {tp.partition: start for tp, start in (await consumer.beginning_offsets(list(tps.values()))).items()}
        restarted = restarts(stored, starts, ends)
        tally = plan(stored, starts, ends)
        for p, part in tally.items():
            consumer.seek(tps[p], part.next_offset)
        read = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(tally, ends):
            if loop.time() > deadline:
                return TallyRead(tally, read, frozenset(restarted), complete=False)
            todo = [tps[p] for p, part in tally.items() if part.next_offset < ends[p]]
            try:
                batches = await consumer.getmany(*todo, timeout_ms=500)
            except OffsetOutOfRangeError:  # retention deleted letters after the start offsets were read
                starts.update((tp.partition, o) for tp, o in (await consumer.beginning_offsets(todo)).items())
                again = restarts(tally, starts, ends)
                restarted |= again
                tally = plan(tally, starts, ends)
                for tp in todo:  # a seek also clears the partition's error
                    consumer.seek(tp, tally[tp.partition].next_offset)
                continue
            for tp in todo:
                records = batches.get(tp, [])
                read += len(records)
                letters = ((r.offset, letter_projection(r.headers)) for r in records)
                tally[tp.partition] = add(tally[tp.partition], letters, await consumer.position(tp), ends[tp.partition])
        return TallyRead(tally, read, frozenset(restarted), complete=True)
    finally:
        await consumer.stop()


def letter_projection(headers: Sequence[tuple[str, bytes]]) -> str:
    """The projection a dead letter belongs to (``""`` when its header is missing)."""
    for key, value in headers:
        if key == "kim.projection":
            return value.decode(errors="replace")
    return ""
