"""The one record loop: both drivers hand it batches of log records, it does everything else.

A driver reads records — the live worker from faust (group membership, acknowledgements), the bulk path
with aiokafka ``getmany`` (catch-up, rebuilds) — and calls ``submit`` with each batch. The loop then:

1. decodes and judges the batch at once (``batch.prepare``: pure CPU, no database), for one projection or
   several sharing one read (``batch.prepare_many``);
2. commits it after every batch submitted before it, each projection's share in one transaction of its
   own: repeats dropped by the checkpoint, signatures screened, rows folded, dead letters sent and the
   checkpoint moved, all or nothing (``batch_io.apply_prepared``);
3. while one batch commits, the next is decoded: at most one commit runs and one waits (``wait_for_room``
   holds the driver back until then);
4. retries a batch whose transaction failed for a passing reason (the database restarting, a dropped
   connection) with the same records until it commits, as ``retry`` says; a batch is never skipped;
5. runs the garbage collector on a clock instead of per allocation (``collector.py``).

``after`` runs once a batch committed: the live driver mirrors the new checkpoints to its Kafka consumer group
there (``group_commit.py``), so the group's offsets never run ahead of the checkpoints in PostgreSQL.
``outages`` hears whether PostgreSQL answers: a connection lost while a batch retries is one outage to report,
not an ERROR line per attempt (``outage_log.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from aiokafka.errors import KafkaError

from projections.projection import Projection
from projections.records import LogRecord, Rejection
from schemas import Codec
from streams.runtime.batch import OnRejected, Prepared, prepare, prepare_many
from streams.runtime.batch_io import apply_prepared
from streams.runtime.collector import ClockedCollection
from streams.runtime.outage_log import DATABASE_GONE, KAFKA, KAFKA_GONE, POSTGRES
from streams.runtime.read_plan import Offsets, trim

log = logging.getLogger("kim.loop")

# What a projection's transaction does with its rejections, given its connection (dead-letter them, or
# keep them in a copy's table): it runs inside the transaction, so a failure rolls the batch back.
DeadLetters = Callable[[Projection, asyncpg.Connection], OnRejected]
After = Callable[[], Awaitable[None]]


class LoopObserver(Protocol):
    """Told of every committed share of a batch (the live worker's metrics)."""

    def batch_committed(
        self, records: Sequence[LogRecord], dead_lettered: Sequence[Rejection], seconds: float
    ) -> None: ...


class Reachability(Protocol):
    """Told when a service failed to answer and when it answered (``outage_log.OutageReport``)."""

    def failed(self, service: str, reason: str) -> None: ...

    def succeeded(self, service: str) -> None: ...


@dataclass(frozen=True)
class Retry:
    """Which failures of a batch's transaction are retried with the same records, how often, how far apart."""

    errors: tuple[type[BaseException], ...]
    attempts: int | None = None  # None: until it commits
    pause: float = 2.0


# A database, broker or network that goes away and comes back: the live worker waits for it as long as it takes
# and also rides out any refusal of PostgreSQL or Kafka (it cannot skip the batch); a catch-up or rebuild run by
# a person retries a passing outage for a minute and stops on anything else, with the error. Kafka counts because
# a batch's dead letters are sent inside its transaction: a broker that is down while a batch has a rejection
# holds that batch back exactly like a database that is down.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection an interrupted operation left busy ("another operation …")
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    *KAFKA_GONE,
)
LIVE = Retry((*CONNECTION_ERRORS, asyncpg.PostgresError, KafkaError))
BULK = Retry(CONNECTION_ERRORS, attempts=30)
# Errors that mean PostgreSQL is not there (rather than that it refused this batch): an outage to report once.
UNREACHABLE = DATABASE_GONE


@contextlib.asynccontextmanager
async def discarded_unless_clean(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Close a pooled connection that anything but PostgreSQL's own refusal interrupted (an outage, a timeout, a
    cancellation), so the pool never hands out one whose protocol is still mid-operation; it makes a new one."""
    try:
        yield
    except asyncpg.PostgresError:
        raise  # the server refused: the transaction rolled back, the connection is sound
    except BaseException:
        conn.terminate()
        raise


class RecordLoop:
    """Decode, commit in order with one commit in flight, retry, dead-letter: for one read of the log.

    ``pool`` gives the connection pool on first use (the live worker makes it inside faust's event loop);
    ``platform_secret`` is the platform's record-signing key (``None`` on a cluster without one).
    For a shared read whose projections write to different schemas (``kim replay all``), ``pool_for`` gives each
    projection's pool instead of ``pool``, and ``limits`` the offsets a projection takes records below
    (``read_plan.trim``; a projection not named takes every record of its topics).
    """

    def __init__(
        self,
        projections: Sequence[Projection],
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        codec: Codec,
        *,
        dead_letters: DeadLetters,
        platform_secret: bytes | None,
        retry: Retry,
        observer: LoopObserver | None = None,
        outages: Reachability | None = None,
        pool_for: Callable[[Projection], Awaitable[asyncpg.Pool]] | None = None,
        limits: Mapping[str, Offsets] | None = None,
    ) -> None:
        if not projections:
            raise ValueError("a record loop needs at least one projection")
        self.projections = list(projections)
        self.pool = pool
        self.codec = codec
        self.dead_letters = dead_letters
        self.platform_secret = platform_secret
        self.retry = retry
        self.observer = observer
        self.outages = outages
        self.pool_for = pool_for
        self.limits = dict(limits or {})
        self.applied = 0  # records new to the projections, summed over them
        self.read = 0  # records submitted, each once
        self.gc_clock = ClockedCollection()
        self._commits: collections.deque[asyncio.Future[None]] = collections.deque()

    def __enter__(self) -> RecordLoop:
        self.gc_clock.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gc_clock.__exit__(None, None, None)

    def submit(self, records: Sequence[LogRecord], after: After | None = None) -> None:
        """Decode ``records`` now and commit them after every batch submitted before; ``after`` once they did."""
        if not records:
            return
        prepared = self._prepare(records)
        previous = self._commits[-1] if self._commits else None
        self._commits.append(asyncio.ensure_future(self._commit_after(previous, prepared, after)))
        self.read += len(records)
        self.gc_clock.tick()

    async def wait_for_room(self) -> None:
        """Back-pressure: return once at most one commit is in flight; raise what a finished commit raised."""
        while len(self._commits) > 1:
            await self._commits[0]
            self._commits.popleft()
        self.raise_failures()

    def idle(self) -> bool:
        """True when no submitted batch is still committing."""
        return all(commit.done() for commit in self._commits)

    def raise_failures(self) -> None:
        """Raise the error of a commit that failed for good (one ``retry`` does not cover); forget the done ones."""
        while self._commits and self._commits[0].done():
            self._commits.popleft().result()

    async def drain(self) -> None:
        """Wait for every submitted batch to commit."""
        while self._commits:
            await self._commits.popleft()

    async def settled(self) -> None:
        """Wait until every batch submitted so far committed or failed, leaving the queue to the driver."""
        if self._commits:
            await asyncio.wait(list(self._commits))

    async def cancel(self) -> None:
        """Cut off: open transactions roll back; their batches are applied again next time (checkpoints)."""
        commits, self._commits = list(self._commits), collections.deque()
        for commit in commits:
            commit.cancel()
        await asyncio.gather(*commits, return_exceptions=True)

    def _prepare(self, records: Sequence[LogRecord]) -> dict[str, Prepared]:
        if len(self.projections) == 1:
            only = self.projections[0]
            prepared = {only.name: prepare(only, records, self.codec)}
        else:
            prepared = prepare_many(self.projections, records, self.codec)
        for name, limit in self.limits.items():
            prepared[name] = trim(prepared[name], limit)
        return prepared

    async def _commit_after(
        self, previous: asyncio.Future[None] | None, prepared: dict[str, Prepared], after: After | None
    ) -> None:
        if previous is not None:
            await previous
        shares = [(p, prepared[p.name]) for p in self.projections if prepared[p.name].records]
        self.applied += sum(await asyncio.gather(*(self._commit(p, share) for p, share in shares)))
        if after is not None:
            await after()

    async def _commit(self, projection: Projection, prepared: Prepared) -> int:
        """One projection's share in one transaction, retried as ``retry`` says until it commits."""
        failures = 0
        while True:
            sent: list[Rejection] = []
            try:
                pool = await (self.pool_for(projection) if self.pool_for is not None else self.pool())
                async with pool.acquire() as conn, discarded_unless_clean(conn):
                    noted = _noting(self.dead_letters(projection, conn), sent)
                    started = time.monotonic()
                    fresh = await apply_prepared(
                        conn, projection, prepared, noted, platform_secret=self.platform_secret
                    )
                if self.observer is not None:
                    self.observer.batch_committed(prepared.records, sent, time.monotonic() - started)
                if self.outages is not None:
                    self.outages.succeeded(POSTGRES)
                    if sent:
                        self.outages.succeeded(KAFKA)  # its dead letters were acknowledged
                return fresh
            except self.retry.errors as why:
                failures += 1
                if self.retry.attempts is not None and failures >= self.retry.attempts:
                    raise
                if self.outages is not None and isinstance(why, KAFKA_GONE):
                    self.outages.failed(KAFKA, f"{type(why).__name__}: {why}")
                elif self.outages is not None and isinstance(why, UNREACHABLE):
                    self.outages.failed(POSTGRES, f"{type(why).__name__}: {why}")
                else:
                    log.error(
                        "%s: batch of %d not applied (%s); retrying in %.0f s",
                        projection.name,
                        len(prepared.records),
                        why,
                        self.retry.pause,
                    )
                await asyncio.sleep(self.retry.pause)


def _noting(send: OnRejected, sent: list[Rejection]) -> OnRejected:
    """``send``, noting what it sent (the observer hears of it once the transaction committed)."""

    async def noted(rejections: list[Rejection]) -> None:
        await send(rejections)
        sent.extend(rejections)

    return noted
