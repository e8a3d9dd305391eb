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
from streams.runtime import read_plan
from streams.runtime.batch import OnRejected
from streams.runtime.dlq import send_once
from streams.runtime.loop import BULK, RecordLoop
from streams.runtime.progress import Progress

# Records per transaction. A batch writes each key it touches once, so bigger batches write fewer rows per
# event, the more so the longer the history (more keys open at once): over 300k case events, 20,000-record
# batches loaded 43% and merged 25% fewer referral rows than 5,000-record ones. The price is memory: two
# batches are in flight (one decoding while the other commits), about 190 MB peak against 113 MB.
BATCH_RECORDS = 20_000


Handler = Callable[[asyncpg.Connection], OnRejected]  # per batch connection: what to do with its rejections


@dataclass(frozen=True)
class Destination:
    """Where one projection of a shared read goes: its schema, its rejections' handler and where it stops
    (None: the defaults — ``public``, dead-lettering, the end offsets at the start)."""

    search_path: str | None = None
    on_rejected: Handler | None = None
    targets: Mapping[tuple[str, int], int] | None = None


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
    on_rejected: Handler | None = None,
    destinations: Mapping[str, Destination] | None = None,
) -> CatchUpResult:
    """Apply everything between the projections' checkpoints and the end offsets seen at the start, from ONE read
    of their topics: a partition is read from the lowest checkpoint of the projections reading it; each
    projection's transaction drops what its own checkpoint has seen, as on every path.

    Options for ``kim replay`` (defaults: the plain catch-up): ``targets`` are the offsets to stop at instead of
    the end offsets (partitions not named are left alone); ``search_path`` makes the pool's connections read and
    write another schema's tables and checkpoints (a copy); ``on_rejected`` builds, per batch connection, what to
    do with rejections instead of dead-lettering them (it runs inside the batch's transaction).
    ``destinations`` gives these three per projection name instead (``kim replay all``: each projection folds
    into its own copy up to its own live checkpoints); a projection not named there takes the ones above.
    Partitions are read from the lowest checkpoint of the projections short of their targets to the highest
    target (``read_plan``); a projection takes only the records below its own.
    """
    projections = list(projections)
    shared = Destination(search_path, on_rejected, targets)
    destinations = {p.name: (destinations or {}).get(p.name, shared) for p in projections}
    bounds = await _bounds(projections, destinations, kafka, topic_prefix)
    # One pool per schema, its search_path set when a connection opens: each projection's batch stays one
    # transaction of its own, with no statement added to switch schemas.
    pools: dict[str, asyncpg.Pool] = {}
    consumer = kafka.consumer(max_partition_fetch_bytes=4 * 1024 * 1024)
    producer = kafka.producer()

    async def pool_of(projection: Projection) -> asyncpg.Pool:
        return pools[destinations[projection.name].search_path or ""]

    def dead_letters(projection: Projection, conn: asyncpg.Connection) -> OnRejected:
        handler = destinations[projection.name].on_rejected
        if handler is not None:
            return handler(conn)
        return functools.partial(send_once, conn, producer, topic_prefix + DLQ, projection.name)

    try:
        for path in sorted({d.search_path or "" for d in destinations.values()}):
            pools[path] = await asyncpg.create_pool(
                database_url,
                min_size=1,
                max_size=sum((d.search_path or "") == path for d in destinations.values()) + 1,
                server_settings={"search_path": path} if path else None,
            )
        await consumer.start()
        await producer.start()
        seen = {}
        for p in projections:
            async with (await pool_of(p)).acquire() as conn:
                seen[p.name] = await checkpoints.load(conn, p.name)
        span = read_plan.plan(bounds, seen)
        reads = {p.name: {tp for tp in span if _reads(p, tp[0], topic_prefix)} for p in projections}
        ends = {TopicPartition(*tp): end for tp, (_, end) in span.items()}
        start = {TopicPartition(*tp): begin for tp, (begin, _) in span.items()}
        loop = RecordLoop(
            projections,
            lambda: pool_of(projections[0]),
            Codec(),
            dead_letters=dead_letters,
            platform_secret=platform_secret,
            retry=BULK,
            pool_for=pool_of,
            limits=read_plan.limits(bounds, reads, {tp: end for tp, (_, end) in span.items()}),
        )
        todo = set(ends)
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
        await asyncio.gather(*(pool.close() for pool in pools.values()), return_exceptions=True)


def _reads(projection: Projection, topic: str, topic_prefix: str) -> bool:
    return any(topic == topic_prefix + t for t in projection.source_topics)


async def _bounds(
    projections: Sequence[Projection], destinations: Mapping[str, Destination], kafka: KafkaConnection, prefix: str
) -> dict[str, dict[tuple[str, int], int]]:
    """Per projection, where it stops on each partition of its topics: its targets, else the end offsets now."""
    open_ended = sorted(
        {prefix + t for p in projections if destinations[p.name].targets is None for t in p.source_topics}
    )
    ends = await end_offsets(kafka, open_ended) if open_ended else {}
    bounds = {}
    for p in projections:
        stop = destinations[p.name].targets
        stop = ends if stop is None else stop
        bounds[p.name] = {tp: end for tp, end in stop.items() if _reads(p, tp[0], prefix)}
    return bounds
