"""`kim replay`: fold a projection's whole log into a copy (projections/copies.py) through the bulk path.

A rebuild chases the LIVE checkpoints, not the log end: each round reads where the live
projection stands and brings the copy to exactly there. When the gap is small it opens the swap
transaction, takes the live partitions' advisory locks (the live worker's next commit waits),
brings the copy to the now fixed live checkpoints, compares both table by table and swaps the
rows in, all before commit. An as-of copy folds the events of a time window up to the end
offsets and stays beside the live tables (state ``ready``).

Everything a copy has applied is in its own checkpoints, so an interrupted replay resumes there.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTP

from infra import audit
from projections import checkpoints, copies, rebuilds
from projections.projection import Projection
from projections.records import Rejection, TopicPartition
from schemas.errors import KimError
from schemas.topics import DLQ
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.runtime.batch import OnRejected
from streams.runtime.bulk import BATCH_RECORDS, catch_up
from streams.runtime.dlq import send_once
from streams.runtime.progress import Progress

Handler = Callable[[asyncpg.Connection], OnRejected]  # what a batch's transaction does with its rejections


class ReplayRefused(KimError):
    """The replay cannot (or must not) go on; the message says why and what to do."""


@dataclass(frozen=True)
class Request:
    projection: Projection
    schema: str
    kind: str  # copies.REBUILD or copies.AS_OF
    since: datetime | None = None
    until: datetime | None = None
    accept_differences: bool = False
    batch: int = BATCH_RECORDS
    topic_prefix: str = ""
    swap_gap: int = 500  # records the copy may be behind live when the swap transaction opens
    rounds: int = 50  # catch-up rounds before swapping anyway (a live worker faster than the replay)
    actor: str = "kim"  # for the audit log


@dataclass
class Outcome:
    state: str  # 'swapped', 'ready' or 'refused' (the copy differs; run again with --accept-differences)
    resumed: bool
    applied: int = 0  # records the copy read in this run
    checks: list[copies.TableCheck] = field(default_factory=list)
    rejected: int = 0
    lock_seconds: float | None = None
    detail: str = ""


class RoundsLine(Progress):
    """One progress line over several catch-up rounds: the rounds' own finish() is not the end."""

    def finish(self, summary: bool = True) -> str:
        return ""

    def close(self) -> str:
        return Progress.finish(self)


async def connect(database_url: str, **kwargs: object) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(database_url, timeout=10, **kwargs)
    except (TimeoutError, OSError, asyncpg.PostgresError) as why:
        raise ReplayRefused(f"cannot reach the database ({why}); start it with `kim up`") from None


async def replay(
    kafka: KafkaConnection,
    database_url: str,
    request: Request,
    *,
    platform_secret: bytes | None,
    out: TextIO = sys.stderr,
) -> Outcome:
    """Run the request; ``platform_secret``: the platform's record-signing key (None: a cluster without one)."""
    name, schema = request.projection.name, request.schema
    control = await connect(database_url)
    try:
        key = f"kim-rebuild|{name}" if request.kind == copies.REBUILD else f"kim-copy|{schema}"
        if not await control.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
            what = f"a rebuild of {name}" if request.kind == copies.REBUILD else f"the copy {schema}"
            raise ReplayRefused(f"another `kim replay` is running {what}; wait for it to end or stop it first")
        topics = [request.topic_prefix + t for t in request.projection.source_topics]
        partitions = await full_history(kafka, topics)
        resumed = await open_copy(control, request)
        runner = Runner(kafka, database_url, request, partitions, out, platform_secret)
        outcome = await (runner.rebuild(control) if request.kind == copies.REBUILD else runner.as_of(control))
        outcome.resumed = resumed
        return outcome
    finally:
        await control.close()  # also releases the session lock


async def full_history(kafka: KafkaConnection, topics: list[str]) -> list[TopicPartition]:
    """The source partitions, refusing when a topic is missing or retention has removed its start."""
    ends = await end_offsets(kafka, topics)
    missing = sorted(set(topics) - {t for t, _ in ends})
    if missing:
        raise ReplayRefused(f"topic(s) {', '.join(missing)} do not exist at {kafka.bootstrap}; run `kim up`")
    consumer = kafka.consumer()
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets([KafkaTP(t, p) for t, p in ends])
    finally:
        await consumer.stop()
    cut = sorted(f"{tp.topic}:{tp.partition} starts at {offset}" for tp, offset in starts.items() if offset > 0)
    if cut:
        raise ReplayRefused(
            "the log no longer holds the full history ("
            + ", ".join(cut[:3])
            + (", …" if len(cut) > 3 else "")
            + "); a replay would lose the removed events — restore the topic or keep the current projection"
        )
    return sorted(ends)


async def open_copy(conn: asyncpg.Connection, request: Request) -> bool:
    """Create the copy, or find the one an interrupted run left; True when resuming."""
    name, schema = request.projection.name, request.schema
    row = await rebuilds.find(conn, schema)
    if row is not None and (row["projection"] != name or row["kind"] != request.kind):
        raise ReplayRefused(f"{schema} is a {row['kind']} copy of {row['projection']}; choose another --name")
    exists = await copies.schema_exists(conn, schema)
    if row is not None and request.kind == copies.AS_OF and row["state"] == "ready" and exists:
        raise ReplayRefused(
            f"the as-of copy {schema} already exists; query it, or drop it first: kim replay --drop {schema}"
        )
    resume = row is not None and exists and row["state"] in ("running", "verifying", "failed")
    if resume and request.kind == copies.AS_OF and (row["from_at"], row["until_at"]) != (request.since, request.until):
        raise ReplayRefused(
            f"the unfinished copy {schema} covers {row['from_at']} to {row['until_at']}; drop it first "
            f"(kim replay --drop {schema}) or choose another --name"
        )
    tables = copies.tables_of(request.projection)
    if not resume:
        await copies.drop(conn, schema)  # a leftover of a run killed before it registered
        await rebuilds.start(conn, schema, name, request.kind, request.since, request.until)
    await copies.create(conn, schema, tables, as_of=request.kind == copies.AS_OF)
    if resume:
        await rebuilds.set_state(conn, schema, "running")
    return resume


class Runner:
    """One copy's folding, verification and swap (``replay`` runs one; ``replay_all.py`` shares its reads)."""

    def __init__(
        self,
        kafka: KafkaConnection,
        database_url: str,
        request: Request,
        partitions: list[TopicPartition],
        out: TextIO,
        platform_secret: bytes | None,
    ) -> None:
        self.platform_secret = platform_secret
        self.kafka, self.database_url, self.request = kafka, database_url, request
        self.partitions, self.out = partitions, out
        self.name, self.schema = request.projection.name, request.schema
        self.tables = copies.tables_of(request.projection)
        label = f"{self.name} {'rebuild' if request.kind == copies.REBUILD else 'as-of copy'} ({self.schema})"
        self.line = RoundsLine(0, label, out=out)
        self.total: int | None = None
        self.rejected = 0
        self.read = 0  # records this runner's own catch-ups fetched from the log

    async def _catch_up(
        self, projection: Projection, targets: Mapping[TopicPartition, int], on_rejected: Handler
    ) -> None:
        result = await catch_up(
            projection,
            self.kafka,
            self.database_url,
            platform_secret=self.platform_secret,
            topic_prefix=self.request.topic_prefix,
            max_records=self.request.batch,
            progress=self.line,
            targets=targets,
            search_path=f"{self.schema}, public",
            on_rejected=on_rejected,
        )
        self.read += result.read

    async def _report(self) -> None:
        """Keep the registry row's applied/total/updated_at current (about once a second)."""
        conn = await connect(self.database_url)
        try:
            while True:
                applied = sum((await copies.checkpoints_in(conn, self.schema, self.name)).values())
                await rebuilds.progress(conn, self.schema, applied, self.total)
                await asyncio.sleep(1.0)
        finally:
            await conn.close()

    @contextlib.asynccontextmanager
    async def reporting(self) -> AsyncIterator[None]:
        task = asyncio.ensure_future(self._report())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def as_of(self, control: asyncpg.Connection) -> Outcome:
        r = self.request
        targets = await end_offsets(self.kafka, [t for t, _ in self.partitions])
        self.total = sum(targets.values())
        seen = await copies.checkpoints_in(control, self.schema, self.name)
        self.line.total = sum(max(end - seen.get(tp, 0), 0) for tp, end in targets.items())
        window = copies.Window(r.projection, r.since, r.until)
        async with self.reporting():
            await self._catch_up(window, targets, lambda conn: _stored(conn))
        self.line.close()
        applied = sum((await copies.checkpoints_in(control, self.schema, self.name)).values())
        rejected = await control.fetchval(f"SELECT count(*) FROM {self.schema}.rejections")
        await rebuilds.progress(control, self.schema, applied, self.total)
        detail = f"{rejected} events rejected (listed in {self.schema}.rejections)"
        async with control.transaction():
            await rebuilds.set_state(control, self.schema, "ready", detail)
            facts = {
                "projection": self.name,
                "from": r.since,
                "until": r.until,
                "applied": applied,
                "rejected": rejected,
            }
            await audit.record(control, r.actor, "replay.as_of", self.schema, "ok", facts)
        return Outcome("ready", False, self.line.done, rejected=rejected, detail=detail)

    async def rebuild(self, control: asyncpg.Connection) -> Outcome:
        producer = self.kafka.producer()
        await producer.start()
        live = await connect(self.database_url)
        try:
            dead_letter = self.dead_letter(producer)
            async with self.reporting():
                for _ in range(self.request.rounds):
                    targets, gap = await self.gap(live)
                    if gap <= self.request.swap_gap:
                        break
                    self.line.total += gap
                    await self._catch_up(self.request.projection, targets, dead_letter)
                await rebuilds.set_state(control, self.schema, "verifying")
                return await self.swap(control, live, dead_letter)  # still reporting: updated_at stays fresh
        finally:
            await live.close()
            await producer.stop()

    async def gap(self, live: asyncpg.Connection) -> tuple[dict[TopicPartition, int], int]:
        """The live checkpoints of the source partitions, and how many records the copy is behind them."""
        wanted = set(self.partitions)
        targets = {tp: o for tp, o in (await checkpoints.load(live, self.name)).items() if tp in wanted}
        self.total = sum(targets.values())
        seen = await copies.checkpoints_in(live, self.schema, self.name)
        return targets, sum(max(end - seen.get(tp, 0), 0) for tp, end in targets.items())

    def dead_letter(self, producer: AIOKafkaProducer) -> Handler:
        """Rejections go to the DLQ as on the live path, marked ``kim.rebuild=<copy>``."""
        topic = self.request.topic_prefix + DLQ
        extra = [("kim.rebuild", self.schema.encode())]

        def send(conn: asyncpg.Connection) -> OnRejected:
            async def to_dlq(rejections: list[Rejection]) -> None:
                # Only what no letter was sent for yet (by the live projection, or an earlier rebuild): a
                # rebuild never multiplies a bad record in kim.dlq. An oversized one goes without its bytes.
                self.rejected += len(await send_once(conn, producer, topic, self.name, rejections, extra))

            return to_dlq

        return send

    async def swap(self, control: asyncpg.Connection, live: asyncpg.Connection, dead_letter: Handler) -> Outcome:
        r = self.request
        async with live.transaction():
            started = time.monotonic()
            await checkpoints.lock_partitions(live, self.name, self.partitions)  # the live worker's commits wait
            targets, gap = await self.gap(live)
            if gap:
                self.line.total += gap
                await self._catch_up(r.projection, targets, dead_letter)
            seen = await copies.checkpoints_in(live, self.schema, self.name)
            behind = {tp: (seen.get(tp, 0), end) for tp, end in targets.items() if seen.get(tp, 0) != end}
            if behind:
                raise ReplayRefused(f"the copy did not reach the live checkpoints ({behind}); run the replay again")
            self.line.close()
            checks = await copies.verify(live, self.schema, self.tables)
            summary = copies.describe(checks)
            if not all(c.equal for c in checks) and not r.accept_differences:
                refused = True
            else:
                refused = False
                await copies.swap(live, self.schema, self.tables)
                await rebuilds.progress(live, self.schema, self.total or 0, self.total)
                await rebuilds.set_state(live, self.schema, "swapped", summary)
                facts = {"copy": self.schema, "accept_differences": r.accept_differences, "tables": _facts(checks)}
                await audit.record(live, r.actor, "replay.swap", self.name, "ok", facts)
        held = time.monotonic() - started
        if refused:
            detail = summary + "\nnot swapped: the copy differs; run again with --accept-differences to swap it in"
            async with control.transaction():
                await rebuilds.set_state(control, self.schema, "failed", detail)
                facts = {"copy": self.schema, "reason": "the copy differs", "tables": _facts(checks)}
                await audit.record(control, r.actor, "replay.swap", self.name, "refused", facts)
            return Outcome("refused", False, self.line.done, checks, self.rejected, held, detail)
        await copies.drop(control, self.schema)
        return Outcome("swapped", False, self.line.done, checks, self.rejected, held, summary)


def _facts(checks: list[copies.TableCheck]) -> dict[str, dict[str, int]]:
    return {
        c.table: {
            "live_rows": c.live_rows,
            "copy_rows": c.copy_rows,
            "only_live": c.only_live,
            "only_copy": c.only_copy,
            "differing": c.differing,
        }
        for c in checks
    }


def _stored(conn: asyncpg.Connection) -> OnRejected:
    async def store(rejections: list[Rejection]) -> None:
        await copies.record_rejections(conn, rejections)

    return store
