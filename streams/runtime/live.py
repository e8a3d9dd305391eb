"""A faust-streaming worker that keeps one projection up to date.

One consumer group per projection. Events are collected into batches (``_Batches``) that go through
``streams.runtime.batch`` (decode what the projection reads; rows and checkpoints in one transaction);
faust hears of an event (ack) only after its batch committed. On assignment the worker seeks every
partition to its checkpoint; the runner also drops records below the checkpoint, so losing a race with
faust's own positioning costs time, never correctness.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import faust
from aiokafka import AIOKafkaProducer

from projections import checkpoints
from projections.projection import Projection
from projections.records import LogRecord, Rejection
from projections.registry import PROJECTIONS
from schemas import Codec
from schemas.topics import DLQ, TOPICS
from streams.kafka.connection import client_options, faust_credentials
from streams.kafka.topics import consumer_group
from streams.operations.metrics import WorkerMetrics
from streams.operations.metrics_io import MetricsServer
from streams.runtime.batch import Prepared, apply_prepared, prepare
from streams.runtime.collector import EVERY_SECONDS, ClockedCollection
from streams.runtime.dlq import send_rejections

log = logging.getLogger("kim.worker")
RETRY_SECONDS = 2.0


class _Resources:
    """Pool and DLQ producer, created on first use inside the worker's event loop."""

    def __init__(self, bootstrap: str, database_url: str, application_name: str) -> None:
        self.bootstrap = bootstrap
        self.database_url = database_url
        self.application_name = application_name
        self._lock = asyncio.Lock()
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None

    async def get(self) -> tuple[asyncpg.Pool, AIOKafkaProducer]:
        async with self._lock:
            if self.pool is None:
                self.pool = await asyncpg.create_pool(
                    self.database_url,
                    min_size=1,
                    max_size=2,
                    server_settings={"application_name": self.application_name},  # who is who in pg_stat_activity
                )
            if self.producer is None:
                self.producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all", **client_options()
                )
                await self.producer.start()
            return self.pool, self.producer

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()


def build_app(
    projection_name: str,
    bootstrap: str,
    database_url: str,
    *,
    topic_prefix: str = "",
    batch_size: int = 5000,
    within: float = 0.2,
    metrics_port: int | None = None,
    datadir: Path | None = None,
) -> faust.App:
    projection = PROJECTIONS[projection_name]
    source_topics = tuple(topic_prefix + t for t in projection.source_topics)
    dlq_topic = topic_prefix + DLQ
    codec = Codec()
    resources = _Resources(bootstrap, database_url, f"kim-worker-{projection.name}")
    metrics = WorkerMetrics(projection.name)
    partitions = {topic_prefix + t.name: t.partitions for t in TOPICS}
    metrics_server = (
        MetricsServer(
            metrics,
            metrics_port,
            bootstrap,
            database_url,
            {t: partitions[t] for t in source_topics},
            dlq_topic,
            partitions[dlq_topic],
        )
        if metrics_port
        else None
    )

    datadir = datadir or Path(tempfile.gettempdir()) / "kim-faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        consumer_group(projection.name, topic_prefix),
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
        broker_credentials=faust_credentials(),
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
        pool, _producer = await resources.get()
        async with pool.acquire() as conn:
            seen = await checkpoints.load(conn, projection.name)
        # seek_wait runs in faust's consumer thread; a plain seek() from here races its fetcher.
        await app.consumer.seek_wait({tp: seen.get((tp.topic, tp.partition), 0) for tp in mine})
        metrics.assign(seen, [(tp.topic, tp.partition) for tp in mine])
        log.info("assigned %s; seeked to checkpoints", sorted((tp.topic, tp.partition) for tp in mine))

    batches: list[_Batches] = []
    gc_clock = ClockedCollection()  # streams/runtime/collector.py: the collector runs on a clock while the sink runs

    @app.agent(source, name=f"{projection.name}-sink")
    async def sink(stream: faust.StreamT) -> None:
        # Plain iteration with manual acknowledgement: faust's take_events() costs ~25 us per event more.
        manual = stream.noack()
        batcher = _Batches(manual, projection, codec, _apply_until_done, batch_size, within)
        batches.append(batcher)
        with gc_clock:
            async for event in manual.events():
                await batcher.add(event)

    @app.timer(EVERY_SECONDS)
    async def collect_garbage() -> None:
        gc_clock.tick()

    async def _apply_until_done(prepared: Prepared) -> None:
        """A failing database or DLQ never skips a batch: retry the same records until they commit."""
        while True:
            try:
                pool, producer = await resources.get()
                sent: list[Rejection] = []
                dead_letter = functools.partial(_send_and_note, producer, dlq_topic, projection.name, sent)
                async with pool.acquire() as conn:
                    started = time.monotonic()
                    await apply_prepared(conn, projection, prepared, dead_letter)
                metrics.batch_committed(prepared.records, sent, time.monotonic() - started)
                return
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as why:
                log.error(
                    "%s: batch of %d not applied (%s); retrying in %.0f s",
                    projection.name,
                    len(prepared.records),
                    why,
                    RETRY_SECONDS,
                )
                await asyncio.sleep(RETRY_SECONDS)

    if metrics_server is not None:

        @app.task
        async def serve_metrics() -> None:
            await metrics_server.start()

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def close_resources(sender: Any, **_: Any) -> None:
        if metrics_server is not None:
            await metrics_server.stop()
        for batcher in batches:
            try:  # a clean stop commits what it has taken; a batch left over is applied again after restart
                await asyncio.wait_for(batcher.drain(), timeout=10.0)
            except Exception as why:
                log.warning("%s: last batch not committed before shutdown (%s)", projection.name, why)
        await resources.close()

    return app


async def _send_and_note(
    producer: AIOKafkaProducer, dlq_topic: str, projection: str, sent: list[Rejection], rejections: list[Rejection]
) -> None:
    """Dead-letter, and note what was sent for the metrics (counted once the batch commits)."""
    await send_rejections(producer, dlq_topic, projection, rejections)
    sent.extend(rejections)


class _Batches:
    """Collects events into batches and commits them one after the other, acknowledging each batch to
    faust only after its transaction committed.

    A batch is cut at ``size`` events or ``within`` seconds after its first event. While one batch
    commits, the next one fills (faust keeps fetching and iterating) and is decoded; at most one
    commit is in flight. Because faust learns of an event only once its batch is committed, the
    offsets faust commits to Kafka never run ahead of the checkpoints in PostgreSQL — so positioning
    from either after a crash or rebalance can cost time (records the checkpoint filter drops),
    never an event.
    """

    def __init__(
        self,
        stream: faust.StreamT,
        projection: Projection,
        codec: Codec,
        commit: Callable[[Prepared], Awaitable[None]],
        size: int,
        within: float,
    ) -> None:
        self.stream = stream
        self.projection = projection
        self.codec = codec
        self.commit = commit
        self.size = size
        self.within = within
        self.events: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None
        self.committing: collections.deque[asyncio.Future[None]] = collections.deque()

    async def add(self, event: Any) -> None:
        self.events.append(event)
        if len(self.events) == 1:
            self.timer = asyncio.get_running_loop().call_later(self.within, self.cut)
        if len(self.events) >= self.size:
            self.cut()
            while len(self.committing) > 1:  # back-pressure: one commit in flight, one batch filling
                await self.committing[0]
                self.committing.popleft()
        while self.committing and self.committing[0].done():
            self.committing.popleft().result()  # a failure that is not retried stops the agent

    def cut(self) -> None:
        """Close the current batch: decode it now, commit it after the batches before it."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.events:
            return
        events, self.events = self.events, []
        records = [
            LogRecord(
                e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value, _headers(e)
            )
            for e in events
        ]
        prepared = prepare(self.projection, records, self.codec)
        previous = self.committing[-1] if self.committing else None
        self.committing.append(asyncio.ensure_future(self._commit(previous, prepared, events)))

    async def _commit(self, previous: asyncio.Future[None] | None, prepared: Prepared, events: list[Any]) -> None:
        if previous is not None:
            await previous
        await self.commit(prepared)
        for event in events:
            await self.stream.ack(event)

    async def drain(self) -> None:
        self.cut()
        while self.committing:
            await self.committing.popleft()


def _headers(event: Any) -> tuple[tuple[str, bytes], ...]:
    headers = event.message.headers or ()
    return tuple(headers.items() if isinstance(headers, dict) else headers)
