"""One sink transaction: drop what the checkpoint has seen, decode, fold, write rows and checkpoints together.

The stream side hands in raw log records; everything that decides what a record does to a
projection happens here, so a worker, a replay and a test all share the same path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

import asyncpg

from projections import checkpoints
from projections.records import Applied, LogRecord, Rejection, TopicPartition, next_offsets
from schemas import Codec, DecodeError

OnRejected = Callable[[list[Rejection]], Awaitable[None]]


class Projection(Protocol):
    name: str
    source_topics: tuple[str, ...]

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]: ...


async def apply_batch(
    conn: asyncpg.Connection,
    projection: Projection,
    records: Sequence[LogRecord],
    codec: Codec,
    on_rejected: OnRejected,
) -> int:
    """Apply one batch exactly once; return how many records were new.

    ``on_rejected`` runs inside the transaction (it dead-letters); if it fails, nothing commits
    and the batch is retried.
    """
    async with conn.transaction():
        await checkpoints.lock_partitions(conn, projection.name, {r.tp for r in records})
        fresh = unseen(records, await checkpoints.load(conn, projection.name))
        if not fresh:
            return 0
        decoded: list[Applied] = []
        rejected: list[Rejection] = []
        for record in fresh:
            try:
                decoded.append(Applied(record, codec.decode(record.value)))
            except DecodeError as why:
                rejected.append(Rejection(record, f"undecodable: {why}"))
        rejected.extend(await projection.apply(conn, decoded))
        if rejected:
            await on_rejected(rejected)
        await checkpoints.save(conn, projection.name, next_offsets(fresh), _last_event_times(decoded))
        return len(fresh)


def unseen(records: Sequence[LogRecord], seen: dict[TopicPartition, int]) -> list[LogRecord]:
    """Records at or past each partition's position, each offset once.

    A batch can hold an offset twice (a consumer that seeks re-fetches what it had buffered),
    so the position advances record by record, not only from the stored checkpoint.
    """
    position = dict(seen)
    fresh = []
    for record in records:
        if record.offset >= position.get(record.tp, 0):
            fresh.append(record)
            position[record.tp] = record.offset + 1
    return fresh


def _last_event_times(decoded: list[Applied]) -> dict[TopicPartition, datetime]:
    latest: dict[TopicPartition, datetime] = {}
    for item in decoded:
        tp = item.record.tp
        if tp not in latest or item.event.occurred_at > latest[tp]:
            latest[tp] = item.event.occurred_at
    return latest
