"""A faust-streaming worker that keeps one projection up to date.

One consumer group per projection. Batches come from ``stream.take_events`` and go through
``projections.runner.apply_batch`` (rows and checkpoints in one transaction). On assignment
the worker seeks every partition to its checkpoint; the runner also drops records below the
checkpoint, so losing a race with faust's own positioning costs time, never correctness.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import asyncpg
import faust
from aiokafka import AIOKafkaProducer

from projections import checkpoints
from projections.records import LogRecord
from projections.registry import PROJECTIONS
from projections.runner import apply_batch
from schemas import Codec
from streams.dlq import send_rejections
from streams.topics import DLQ

log = logging.getLogger("kim.worker")
RETRY_SECONDS = 2.0


class _Resources:
    """Pool and DLQ producer, created on first use inside the worker's event loop."""

    def __init__(self, bootstrap: str, database_url: str) -> None:
        self.bootstrap = bootstrap
        self.database_url = database_url
        self._lock = asyncio.Lock()
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None

    async def get(self) -> tuple[asyncpg.Pool, AIOKafkaProducer]:
        async with self._lock:
            if self.pool is None:
                self.pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2)
            if self.producer is None:
                self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all")
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
    batch_size: int = 1000,
    within: float = 0.2,
) -> faust.App:
    projection = PROJECTIONS[projection_name]
    source_topics = tuple(topic_prefix + t for t in projection.source_topics)
    dlq_topic = topic_prefix + DLQ
    codec = Codec()
    resources = _Resources(bootstrap, database_url)

    app = faust.App(
        f"{topic_prefix}kim-projection-{projection.name}",
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
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
        log.info("assigned %s; seeked to checkpoints", sorted((tp.topic, tp.partition) for tp in mine))

    @app.agent(source, name=f"{projection.name}-sink")
    async def sink(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch_size, within=within):
            records = [
                LogRecord(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
                for e in events
            ]
            await _apply_until_done(records)

    async def _apply_until_done(records: list[LogRecord]) -> None:
        """A failing database or DLQ never skips a batch: retry the same records until they commit."""
        while True:
            try:
                pool, producer = await resources.get()
                dead_letter = functools.partial(send_rejections, producer, dlq_topic, projection.name)
                async with pool.acquire() as conn:
                    await apply_batch(conn, projection, records, codec, dead_letter)
                return
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as why:
                log.error(
                    "%s: batch of %d not applied (%s); retrying in %.0f s",
                    projection.name,
                    len(records),
                    why,
                    RETRY_SECONDS,
                )
                await asyncio.sleep(RETRY_SECONDS)

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def close_resources(sender: Any, **_: Any) -> None:
        await resources.close()

    return app
