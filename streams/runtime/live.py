"""The live driver of the record loop: a faust-streaming worker that keeps one projection up to date.

One consumer group per projection (faust gives group membership and rebalances). Events are collected into
batches (``_Batches``: cut at ``batch_size`` events or ``within`` seconds) that the record loop
(``loop.py``) decodes and commits — rows and checkpoints in one transaction. On assignment the worker commits
the checkpoints to the group and seeks every partition to them; the loop also drops records below the
checkpoint, so losing a race with faust's own positioning costs time, never correctness. A batch the database
refuses is retried until it commits (``loop.LIVE``). Anything else stops the worker: faust would restart the agent
in place, after the failed batch's events were already taken from the stream, so only a restart from the
checkpoints is safe (``CrashingSupervisor``).

Faust commits nothing itself (the source topic does not ack): the group's committed offsets mirror the
checkpoints, committed after every batch, on every assignment and revocation and every ``REFRESH_SECONDS``
(``group_commit.py``), so Kafka's lag tools agree with ``kim status``. ``outages`` hears whether Kafka and
PostgreSQL answer and logs one line per change (``outage_log.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from mode import CrashingSupervisor

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
from streams.runtime.group_commit import GroupMirror
from streams.runtime.group_offsets import GroupOffsets, next_offsets
from streams.runtime.loop import LIVE, UNREACHABLE, LoopObserver, RecordLoop, discarded_unless_clean
from streams.runtime.outage_log import KAFKA, POSTGRES, OutageReport
from streams.runtime.self_catch_up import CATCH_UP_AT, SelfCatchUp, wait_settled

log = logging.getLogger("kim.worker")

REFRESH_SECONDS = 10.0  # the checkpoints are read again and mirrored (another writer may have moved them)
DRAIN_SECONDS = 10.0  # how long a revocation or shutdown waits for the batches in flight to commit
READ_SECONDS = 5.0  # the refresh's read of the checkpoints (a database that does not answer is an outage)
DISCARD_TIMEOUT_S = 5.0  # how long a failed dead-letter producer may take to stop


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
        # One lock each: a producer starting against a broker that does not answer must not hold up the pool.
        self._pool_lock = asyncio.Lock()
        self._producer_lock = asyncio.Lock()
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None

    async def pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.database_url,
                    min_size=1,
                    max_size=2,
                    server_settings={"application_name": self.application_name},  # who is who in pg_stat_activity
                )
            return self._pool

    async def producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = self.kafka.producer()
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()  # a start the broker did not answer leaves a client to close
                    raise
                self._producer = producer
            return self._producer

    async def discard(self, producer: AIOKafkaProducer) -> None:
        """Drop a producer whose send failed; the next letter starts a fresh one.

        After a broker restart a client can be left with no broker to ask (a metadata answer listing none while
        the broker starts, then its one connection gone: aiokafka issue #551) and never recovers by itself; a new
        client bootstraps from the configured servers again."""
        async with self._producer_lock:
            if self._producer is not producer:
                return
            self._producer = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), DISCARD_TIMEOUT_S)

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
    outages: OutageReport | None = None,
    catch_up_at: int = CATCH_UP_AT,
) -> faust.App:
    """The faust app of one projection's worker; ``observer`` hears of assignments and commits, ``services``
    run beside the agent (started with it, stopped before the last batch is drained), ``outages`` of services
    that do not answer (default: a report of its own, logging to ``kim.outage``); ``catch_up_at`` records behind
    make the worker catch up through the bulk path by itself (0: never; ``self_catch_up.py``)."""
    source_topics = tuple(topic_prefix + t for t in projection.source_topics)
    dlq_topic = topic_prefix + DLQ
    resources = _Resources(kafka, database_url, f"kim-worker-{projection.name}")
    outages = outages or OutageReport()

    async def dead_letter(rejections: list, *, conn: asyncpg.Connection, name: str) -> None:
        producer = await resources.producer()
        try:
            await send_once(conn, producer, dlq_topic, name, rejections)
        except (KafkaError, TimeoutError):
            await resources.discard(producer)  # the batch is retried with a fresh producer
            raise

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
        outages=outages,
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
        # After a broker dies, stops or restarts, a fetch to it waits out the request timeout and stale leadership
        # waits for the next metadata refresh (faust's defaults: 90 s and 300 s — a worker on a cluster that lost
        # a node once stalled for 300 s). Both shorter: the worker finds the new leaders within seconds.
        broker_request_timeout=30.0,
        consumer_metadata_max_age_ms=30_000,
    )
    # acks=False: faust tracks no acknowledgements and commits no offsets; the group mirror commits the checkpoints.
    source = app.topic(*source_topics, key_type=bytes, value_type=bytes, internal=False, acks=False)
    group = GroupOffsets()
    mirror = GroupMirror(app, group, on_answer=lambda: outages.succeeded(KAFKA))
    batches: list[_Batches] = []

    async def read_checkpoints() -> dict[tuple[str, int], int]:
        pool = await resources.pool()
        async with pool.acquire() as conn, discarded_unless_clean(conn):
            return await checkpoints.load(conn, projection.name)

    async def checkpoints_once_reachable() -> dict[tuple[str, int], int]:
        """The checkpoints, waiting out a PostgreSQL outage (reported as one) instead of crashing the assignment:
        nothing can be applied before they are known anyway."""
        while True:
            try:
                seen = await asyncio.wait_for(read_checkpoints(), READ_SECONDS)
            except (*UNREACHABLE, TimeoutError) as why:
                outages.failed(POSTGRES, f"{type(why).__name__}: {why}")
                await asyncio.sleep(1.0)
            else:
                outages.succeeded(POSTGRES)
                return seen

    def cut_all() -> None:
        for batcher in batches:
            batcher.cut()

    async def settle() -> None:
        await wait_settled(cut_all, loop.settled, DRAIN_SECONDS)

    def moved(seen: Mapping[tuple[str, int], int]) -> None:
        group.refreshed(seen)
        mirror.request()

    watch = SelfCatchUp(
        app,
        projection,
        kafka,
        database_url,
        platform_secret=platform_secret,
        topic_prefix=topic_prefix,
        at=catch_up_at,
        positions=lambda: group.positions,
        settle=settle,
        checkpoints=checkpoints_once_reachable,
        moved=moved,
        healthy=lambda: not outages.down(POSTGRES),
    )

    @app.on_partitions_assigned.connect
    async def seek_to_checkpoints(sender: Any, assigned: set[Any], **_: Any) -> None:
        outages.succeeded(KAFKA)  # the group coordinator answered
        mine = [tp for tp in assigned if tp.topic in source_topics]
        seen = await checkpoints_once_reachable() if mine else {}
        group.assigned(seen, [(tp.topic, tp.partition) for tp in mine])
        if not mine:
            return
        # Before the seek: faust's recovery positions the partitions at the group's offsets, now the checkpoints.
        await mirror.commit_now()
        # seek_wait runs in faust's consumer thread; a plain seek() from here races its fetcher.
        await app.consumer.seek_wait({tp: seen.get((tp.topic, tp.partition), 0) for tp in mine})
        if observer is not None:
            observer.assign(seen, [(tp.topic, tp.partition) for tp in mine])
        log.info("assigned %s; seeked to checkpoints", sorted((tp.topic, tp.partition) for tp in mine))
        watch.assigned()

    @app.on_partitions_revoked.connect
    async def hand_over(sender: Any, revoked: set[Any], **_: Any) -> None:
        """The batches in flight commit and their checkpoints reach the group while the worker still owns them."""
        cut_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(loop.settled(), DRAIN_SECONDS)
            await asyncio.wait_for(mirror.commit_now(), DRAIN_SECONDS)
        group.revoked((tp.topic, tp.partition) for tp in revoked)

    @app.task
    async def mirror_checkpoints() -> None:
        await mirror.run()

    @app.timer(REFRESH_SECONDS)
    async def refresh_checkpoints() -> None:
        """Mirror checkpoints another writer moved; while Kafka is down, every commit attempt is a probe."""
        if group.positions:
            try:
                group.refreshed(await asyncio.wait_for(read_checkpoints(), READ_SECONDS))
                outages.succeeded(POSTGRES)
            except UNREACHABLE as why:
                outages.failed(POSTGRES, f"{type(why).__name__}: {why}")
            except Exception as why:  # the next tick tries again; the batches report their own failures
                log.warning("%s: checkpoints not read for the group offsets (%r)", projection.name, why)
        mirror.request(everything=outages.down(KAFKA))

    @app.timer(1.0)
    async def outage_clock() -> None:
        outages.tick()

    @app.task
    async def watch_lag() -> None:
        await watch.watch()

    @app.agent(source, name=f"{projection.name}-sink", supervisor_strategy=CrashingSupervisor)
    async def sink(stream: faust.StreamT) -> None:
        # Plain iteration, nothing acknowledged (the group mirror commits): take_events() costs ~25 us per event more.
        manual = stream.noack()
        batcher = _Batches(loop, batch_size, within, group, mirror, outages, waiting=lambda: not manual.channel.empty())
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
        await watch.stop()  # a catch-up under way ends first: it uses the pool and faust's consumer
        for service in services:
            await service.stop()
        for batcher in batches:
            try:  # a clean stop commits what it has taken; a batch left over is applied again after restart
                await asyncio.wait_for(batcher.drain(), timeout=10.0)
            except Exception as why:
                log.warning("%s: last batch not committed before shutdown (%s)", projection.name, why)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(mirror.commit_now(), DRAIN_SECONDS)
        await resources.close()

    return app


class _Batches:
    """Collects faust events into batches for the record loop, and mirrors each batch's checkpoints to the
    consumer group only after its transaction committed.

    A batch is cut as soon as nothing more is waiting in the stream (``waiting``) and no commit is in flight, so
    a quiet stream is applied at once; while one batch commits, the next one fills (faust keeps fetching and
    iterating) and is cut the moment that commit is done — so a busy stream batches by itself, as a group
    commit does. ``size`` events and ``within`` seconds after the first event bound a batch; at most one commit
    is in flight. Because the group hears of a batch only once it is committed, the offsets in
    Kafka never run ahead of the checkpoints in PostgreSQL — so positioning from either after a crash or
    rebalance can cost time (records the checkpoint filter drops), never an event.
    """

    def __init__(
        self,
        loop: RecordLoop,
        size: int,
        within: float,
        group: GroupOffsets,
        mirror: GroupMirror,
        outages: OutageReport,
        waiting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.loop = loop
        self.waiting = waiting
        self.size = size
        self.within = within
        self.group = group
        self.mirror = mirror
        self.outages = outages
        self.events: list[Any] = []
        self.timer: asyncio.TimerHandle | None = None

    async def add(self, event: Any) -> None:
        self.events.append(event)
        if len(self.events) == 1:
            self.timer = asyncio.get_running_loop().call_later(self.within, self.cut)
        if len(self.events) >= self.size:
            self.cut()
            await self.loop.wait_for_room()  # back-pressure: one commit in flight, one batch filling
        elif self.loop.idle() and not self.waiting():
            self.cut()  # nothing else came and nothing commits: apply it now rather than at the end of the window
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
        self.outages.succeeded(KAFKA)  # it delivered these
        ends = next_offsets((r.topic, r.partition, r.offset) for r in records)
        self.loop.submit(records, after=functools.partial(self._committed, ends))

    async def _committed(self, ends: dict[tuple[str, int], int]) -> None:
        self.group.applied(ends)
        self.mirror.request()
        if self.events:  # what came while this batch committed goes next, without waiting out its window
            self.cut()

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
