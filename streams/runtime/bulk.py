"""The bulk driver of the record loop: catch projections up from their checkpoints with aiokafka ``getmany``.

Faust spends its time in per-event plumbing (a do-nothing faust agent handles ~5–10k events/s on the
development machine); replays and catch-up read with ``getmany`` instead and hand each batch to the same
record loop as the live worker (``loop.py``), so rows, checkpoints and dead letters are identical. It is
safe beside a live worker: both lock the partition and skip what its checkpoint has seen.

``catch_up_many`` catches several projections up from ONE read of their topics (a rebuild of all of
them): each record is fetched, decoded and judged once (``prepare_many``) and each projection commits
its share in its own transaction (rows + its checkpoints), all projections' transactions at once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from projections import checkpoints
from projections.projection import Projection
from projections.records import LogRecord
from schemas import Codec
from schemas.topics import DLQ
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.runtime.batch import OnRejected
from streams.runtime.dlq import send_once
from streams.runtime.loop import BULK, RecordLoop
from streams.runtime.progress import Progress

# Records per transaction. A batch writes each key it touches once, so bigger batches write fewer rows per
# event, the more so the longer the history (more keys open at once): over 300k case events, 20,000-record
# batches loaded 43% and merged 25% fewer referral rows than 5,000-record ones. The price is memory: two
# batches are in flight (one decoding while the other commits), about 190 MB peak against 113 MB.
BATCH_RECORDS = 20_000


@dataclass(frozen=True)
class CatchUpResult:
    applied: int  # records new to the projection (summed over the projections of ``catch_up_many``)
    seconds: float
    read: int = 0  # records fetched from the log, each once

    @property
    def rate(self) -> float:
        return self.applied / self.seconds if self.seconds else 0.0


async def catch_up(projection: Projection, kafka: KafkaConnection, database_url: str, **options: Any) -> CatchUpResult:
    """``catch_up_many`` of one projection (the same options)."""
    return await catch_up_many([projection], kafka, database_url, **options)


async def catch_up_many(
    projections: Sequence[Projection],
    kafka: KafkaConnection,
    database_url: str,
    *,
    platform_secret: bytes | None,
    topic_prefix: str = "",
    max_records: int = BATCH_RECORDS,
    progress: Progress | None = None,
    targets: Mapping[tuple[str, int], int] | None = None,
    search_path: str | None = None,
    on_rejected: Callable[[asyncpg.Connection], OnRejected] | None = None,
) -> CatchUpResult:
    """Apply everything between the projections' checkpoints and the end offsets seen at the start, from ONE read
    of their topics: a partition is read from the lowest checkpoint of the projections reading it; each
    projection's transaction drops what its own checkpoint has seen, as on every path.

    Options for ``kim replay`` (defaults: the plain catch-up): ``targets`` are the offsets to stop at instead of
    the end offsets (partitions not named are left alone); ``search_path`` makes the pool's connections read and
    write another schema's tables and checkpoints (a copy); ``on_rejected`` builds, per batch connection, what to
    do with rejections instead of dead-lettering them (it runs inside the batch's transaction).
    """
    projections = list(projections)
    topics = sorted({topic_prefix + t for p in projections for t in p.source_topics})
    if targets is None:
        targets = await end_offsets(kafka, topics)
    ends = {TopicPartition(t, p): end for (t, p), end in targets.items()}
    settings = {"search_path": search_path} if search_path else None
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=len(projections) + 1, server_settings=settings)
    consumer = kafka.consumer(max_partition_fetch_bytes=4 * 1024 * 1024)
    producer = kafka.producer()
    await consumer.start()
    await producer.start()

    async def the_pool() -> asyncpg.Pool:
        return pool

    def dead_letters(projection: Projection, conn: asyncpg.Connection) -> OnRejected:
        if on_rejected is not None:
            return on_rejected(conn)
        return functools.partial(send_once, conn, producer, topic_prefix + DLQ, projection.name)

    loop = RecordLoop(
        projections,
        the_pool,
        Codec(),
        dead_letters=dead_letters,
        platform_secret=platform_secret,
        retry=BULK,
    )
    try:
        async with pool.acquire() as conn:
            seen = [await checkpoints.load(conn, p.name) for p in projections]
        start = {
            tp: min(
                s.get((tp.topic, tp.partition), 0)
                for p, s in zip(projections, seen, strict=True)
                if any(tp.topic == topic_prefix + t for t in p.source_topics)
            )
            for tp in ends
        }
        todo = {tp for tp in ends if start[tp] < ends[tp]}
        label = "+".join(p.name for p in projections)
        progress = progress or Progress(sum(ends[tp] - start[tp] for tp in todo), f"{label} catch-up")
        if todo:
            consumer.assign(sorted(todo))
            for tp in todo:
                consumer.seek(tp, start[tp])
        with loop:
            try:
                while todo:
                    batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=max_records)
                    records = [
                        LogRecord(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key,
                            r.value,
                            tuple(r.headers or ()),
                            r.timestamp,  # the broker's append time on the event topics: the signature check's
                            r.timestamp_type,
                        )
                        for tp, rs in batch.items()
                        for r in rs
                        if r.offset < ends[tp]
                    ]
                    if records:
                        # Decoded now; committed after the batch before it, while the next one is fetched.
                        loop.submit(records)
                        progress.advance(len(records))
                        await loop.wait_for_room()
                    for tp in list(todo):
                        if await consumer.position(tp) >= ends[tp]:
                            todo.discard(tp)
                await loop.drain()
            finally:
                await loop.cancel()  # cut off: the open transactions roll back, the batch is applied next time
        progress.finish()
        return CatchUpResult(loop.applied, progress.elapsed, loop.read)
    finally:
        await asyncio.gather(consumer.stop(), producer.stop(), return_exceptions=True)
        await pool.close()
