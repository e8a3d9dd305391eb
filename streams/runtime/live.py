"""The live driver of the record loop: a faust-streaming worker that keeps one projection up to date.

One consumer group per projection (faust gives group membership and rebalances). Events are collected into
batches (``_Batches``: cut at ``batch_size`` events or ``within`` seconds) that the record loop
(``loop.py``) decodes and commits — rows and checkpoints in one transaction; faust hears of an event (ack)
only after its batch committed. On assignment the worker seeks every partition to its checkpoint; the loop
also drops records below the checkpoint, so losing a race with faust's own positioning costs time, never
correctness. A batch the database refuses is retried until it commits (``loop.LIVE``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import faust
from aiokafka import AIOKafkaProducer

from projections import checkpoints
from projections.projection import Projection
from projections.records import LogRecord
from schemas import Codec
from schemas.topics import DLQ
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import consumer_group
from streams.runtime.batch import OnRejected
from streams.runtime.collector import EVERY_SECONDS
from streams.runtime.dlq import send_once
from streams.runtime.loop import LIVE, LoopObserver, RecordLoop

log = logging.getLogger("kim.worker")


class LiveObserver(LoopObserver, Protocol):
    """Also told which partitions the worker was given, and where their checkpoints stand (metrics)."""

    def assign(self, checkpoints: Mapping[tuple[str, int], int], assigned: Iterable[tuple[str, int]]) -> None: ...


class Service(Protocol):
    """Something that runs inside the worker's event loop beside the agent (the metrics endpoint)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Resources:
    """Pool and DLQ producer, created on first use inside the worker's event loop."""

    def __init__(self, kafka: KafkaConnection, database_url: str, application_name: str) -> None:
        self.kafka = kafka
        self.database_url = database_url
        self.application_name = application_name
        self._lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.database_url,
                    min_size=1,
                    max_size=2,
                    server_settings={"application_name": self.application_name},  # who is who in pg_stat_activity
                )
            return self._pool

    async def producer(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = self.kafka.producer()
                await producer.start()
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()


def build_app(
    projection: Projection,
    kafka: KafkaConnection,
    database_url: str,
    *,
    platform_secret: bytes | None,
    topic_prefix: str = "",
    batch_size: int = 5000,
    within: float = 0.2,
    observer: LiveObserver | None = None,
    services: Sequence[Service] = (),
    datadir: Path | None = None,
) -> faust.App:
    """The faust app of one projection's worker; ``observer`` hears of assignments and commits, ``services``
    run beside the agent (started with it, stopped before the last batch is drained)."""
    source_topics = tuple(topic_prefix + t for t in projection.source_topics)
    dlq_topic = topic_prefix + DLQ
    resources = _Resources(kafka, database_url, f"kim-worker-{projection.name}")

    async def dead_letter(rejections: list, *, conn: asyncpg.Connection, name: str) -> None:
        await send_once(conn, await resources.producer(), dlq_topic, name, rejections)

    def dead_letters(p: Projection, conn: asyncpg.Connection) -> OnRejected:
        return functools.partial(dead_letter, conn=conn, name=p.name)

    loop = RecordLoop(
        [projection],
        resources.pool,
        Codec(),
        dead_letters=dead_letters,
        platform_secret=platform_secret,
        retry=LIVE,
        observer=observer,
    )

    datadir = datadir or Path(tempfile.gettempdir()) / "kim-faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        consumer_group(projection.name, topic_prefix),
        **kafka.faust_options(),
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
        # faust keeps per-app files in its datadir; by default that is the current directory.
        datadir=str(datadir),
        topic_replication_factor=1,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # A crashed worker holds its partitions until the session times out (faust's default: 60 s).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
    )
    source = app.topic(*source_topics, key_type=bytes, value_type=bytes, internal=False)

    @app.on_partitions_assigned.connect
    async def seek_to_checkpoints(sender: Any, assigned: set[Any], **_: Any) -> None:
        mine = [tp for tp in assigned if tp.topic in source_topics]
        if not mine:
            return
        pool = await resources.pool()
        async with pool.acquire() as conn:
            seen = await checkpoints.load(conn, projection.name)
        # seek_wait runs in faust's consumer thread; a plain seek() from here races its fetcher.
        await app.consumer.seek_wait({tp: seen.get((tp.topic, tp.partition), 0) for tp in mine})
        if observer is not None:
            observer.assign(seen, [(tp.topic, tp.partition) for tp in mine])
        log.info("assigned %s; seeked to checkpoints", sorted((tp.topic, tp.partition) for tp in mine))

    batches: list[_Batches] = []

    @app.agent(source, name=f"{projection.name}-sink")
    async def sink(stream: faust.StreamT) -> None:
        # Plain iteration with manual acknowledgement: faust's take_events() costs ~25 us per event more.
        manual = stream.noack()
        batcher = _Batches(manual, loop, batch_size, within)
        batches.append(batcher)
        with loop:
            async for event in manual.events():
                await batcher.add(event)

    @app.timer(EVERY_SECONDS)
    async def collect_garbage() -> None:
        loop.gc_clock.tick()  # also while no batch comes (the loop ticks per batch)

    if services:

        @app.task
        async def start_services() -> None:
            for service in services:
                await service.start()

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def close_resources(sender: Any, **_: Any) -> None:
        for service in services:
            await service.stop()
        for batcher in batches:
            try:  # a clean stop commits what it has taken; a batch left over is applied again after restart
                await asyncio.wait_for(batcher.drain(), timeout=10.0)
            except Exception as why:
                log.warning("%s: last batch not committed before shutdown (%s)", projection.name, why)
        await resources.close()

    return app


class _Batches:
    """Collects faust events into batches for the record loop, and acknowledges each batch's events to faust
    only after its transaction committed.

    A batch is cut at ``size`` events or ``within`` seconds after its first event. While one batch
    commits, the next one fills (faust keeps fetching and iterating) and is decoded; at most one
    commit is in flight. Because faust learns of an event only once its batch is committed, the
    offsets faust commits to Kafka never run ahead of the checkpoints in PostgreSQL — so positioning
    from either after a crash or rebalance can cost time (records the checkpoint filter drops),
    never an event.
    """

    def __init__(self, stream: faust.StreamT, loop: RecordLoop, size: int, within: float) -> None:
        self.stream = stream
        self.loop = loop
        self.size = size
        self.within = within
        self.events: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None

    async def add(self, event: Any) -> None:
        self.events.append(event)
        if len(self.events) == 1:
            self.timer = asyncio.get_running_loop().call_later(self.within, self.cut)
        if len(self.events) >= self.size:
            self.cut()
            await self.loop.wait_for_room()  # back-pressure: one commit in flight, one batch filling
        self.loop.raise_failures()  # a failure that is not retried stops the agent

    def cut(self) -> None:
        """Close the current batch: the loop decodes it now and commits it after the batches before it."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.events:
            return
        events, self.events = self.events, []
        records = [
            LogRecord(
                e.message.topic,
                e.message.partition,
                e.message.offset,
                e.message.key,
                e.message.value,
                _headers(e),
                _millis(e.message.timestamp),
                e.message.timestamp_type,
            )
            for e in events
        ]
        self.loop.submit(records, after=functools.partial(self._acknowledge, events))

    async def _acknowledge(self, events: list[Any]) -> None:
        for event in events:
            await self.stream.ack(event)

    async def drain(self) -> None:
        self.cut()
        await self.loop.drain()


def _millis(seconds: float | None) -> int | None:
    """Kafka's timestamp as aiokafka gives it (ms), from faust's seconds: the bulk path and the live worker must
    hand the signature check the very same number (``round`` undoes the division exactly at these magnitudes)."""
    return None if seconds is None else round(seconds * 1000)


def _headers(event: Any) -> tuple[tuple[str, bytes], ...]:
    headers = event.message.headers or ()
    return tuple(headers.items() if isinstance(headers, dict) else headers)
