"""A live worker that finds itself far behind catches up through the bulk path by itself, then goes on live.

faust hands the live path one event at a time; the bulk path reads with ``getmany`` and is several times faster
(docs/operations.md has the figures). When the partitions a worker owns are together ``at`` records or more
behind the log end — after an outage, a long stop, a burst — the worker:

1. pauses those partitions in faust (it stops fetching them; what it had buffered still flows);
2. lets the batches in flight commit;
3. brings the partitions to the end offsets it saw, with ``bulk.catch_up``: the same record loop, tables,
   checkpoints, partition locks and dead letters as every other path;
4. seeks faust to the new checkpoints, mirrors them to the consumer group and resumes the partitions.

Records faust had buffered before the pause reach the live path afterwards and are dropped by the checkpoint
filter, as on every path. A catch-up that fails (an outage that outlasts the bulk path's retries) is logged and
the live path goes on from wherever the checkpoints stand. ``behind`` is the pure decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust.types import TP

from projections.projection import Projection
from projections.records import TopicPartition
from streams.kafka.connection import KafkaConnection
from streams.runtime.bulk import catch_up
from streams.runtime.progress import Progress

log = logging.getLogger("kim.catchup")

CATCH_UP_AT = 100_000  # records behind (summed over the owned partitions) that start a bulk catch-up
CHECK_SECONDS = 10.0  # how often the worker compares its checkpoints with the log end
AFTER_ASSIGNMENT_SECONDS = 1.0  # after an assignment, check this often until faust knows every owned log end


def behind(
    positions: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int], at: int
) -> dict[TopicPartition, int] | None:
    """The end offsets to catch up to when the owned partitions (``positions``: their checkpoints) are together
    ``at`` records or more behind ``ends``; None when they are not (or ``at`` is 0: never)."""
    targets = {tp: ends[tp] for tp, position in positions.items() if ends.get(tp, 0) > position}
    lag = sum(end - positions[tp] for tp, end in targets.items())
    return targets if at > 0 and lag >= at else None


def every_end_known(positions: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> bool:
    """Whether the log end of every owned partition is known (and something is owned at all)."""
    return bool(positions) and all(tp in ends for tp in positions)


class _LogLines:
    """A text stream for ``Progress`` that writes each progress line to the worker's log."""

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                log.warning("%s", line.strip())
        return len(text)

    def flush(self) -> None:
        pass


class SelfCatchUp:
    """Watches one live worker's lag and runs the bulk catch-up when it is large (see the module's docstring).

    ``positions`` gives the owned partitions' checkpoints, ``settle`` lets the batches in flight commit,
    ``checkpoints`` reads them from PostgreSQL, ``moved`` hears the checkpoints after a catch-up (the group
    mirror), ``healthy`` says whether PostgreSQL is reachable now (no catch-up during its outage).
    """

    def __init__(
        self,
        app: Any,
        projection: Projection,
        kafka: KafkaConnection,
        database_url: str,
        *,
        platform_secret: bytes | None,
        topic_prefix: str,
        at: int,
        positions: Callable[[], Mapping[TopicPartition, int]],
        settle: Callable[[], Awaitable[None]],
        checkpoints: Callable[[], Awaitable[Mapping[TopicPartition, int]]],
        moved: Callable[[Mapping[TopicPartition, int]], None],
        healthy: Callable[[], bool],
    ) -> None:
        self.app = app
        self.projection = projection
        self.kafka = kafka
        self.database_url = database_url
        self.platform_secret = platform_secret
        self.topic_prefix = topic_prefix
        self.at = at
        self.positions = positions
        self.settle = settle
        self.checkpoints = checkpoints
        self.moved = moved
        self.healthy = healthy
        self.runs = 0  # catch-ups started (for tests and the log)
        self._assigned = asyncio.Event()
        self._watching: asyncio.Task[None] | None = None

    def assigned(self) -> None:
        """Partitions were assigned: check soon (a worker that was stopped for long finds its lag right away)."""
        self._assigned.set()

    async def watch(self) -> None:
        """Check every ``CHECK_SECONDS``, and after an assignment every ``AFTER_ASSIGNMENT_SECONDS`` until faust
        knows the log end of every owned partition (its first fetches tell it; a check before that would see no
        lag and leave a worker far behind on the slower live path until the next regular check)."""
        self._watching = asyncio.current_task()
        while True:
            try:
                await asyncio.wait_for(self._assigned.wait(), CHECK_SECONDS)
            except TimeoutError:
                await self.check()
                continue
            self._assigned.clear()
            for _ in range(int(CHECK_SECONDS / AFTER_ASSIGNMENT_SECONDS)):
                await asyncio.sleep(AFTER_ASSIGNMENT_SECONDS)
                if self._assigned.is_set() or every_end_known(self.positions(), self.ends()):
                    break
            await self.check()

    def ends(self) -> dict[TopicPartition, int]:
        """The log end of each owned partition as faust's consumer last saw it (no request to the broker)."""
        ends: dict[TopicPartition, int] = {}
        for topic, partition in self.positions():
            try:
                highwater = self.app.consumer.highwater(TP(topic, partition))
            except Exception:  # not assigned any more (a rebalance under way): the next check sees it again
                continue
            if highwater is not None:
                ends[(topic, partition)] = highwater
        return ends

    async def stop(self) -> None:
        """The worker shuts down: end the watch, and a catch-up under way (its open transactions roll back; the
        checkpoints say where the next start goes on). Called before the pool and the consumer close."""
        task, self._watching = self._watching, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def check(self) -> None:
        """Catch up through the bulk path if the worker is ``at`` records or more behind."""
        if self.at <= 0 or not self.healthy():
            return
        targets = behind(dict(self.positions()), self.ends(), self.at)
        if targets is not None:
            await self.run(targets)

    async def run(self, targets: Mapping[TopicPartition, int]) -> None:
        positions = self.positions()
        lag = sum(end - positions.get(tp, 0) for tp, end in targets.items())
        paused = [TP(t, p) for t, p in targets]
        self.runs += 1
        log.warning(
            "%s: %s records behind on %d partitions; catching up through the bulk path, then back to live",
            self.projection.name,
            f"{lag:,}",
            len(targets),
        )
        self.app.consumer.pause_partitions(paused)
        result = None
        try:
            await self.settle()
            result = await catch_up(
                self.projection,
                self.kafka,
                self.database_url,
                platform_secret=self.platform_secret,
                topic_prefix=self.topic_prefix,
                targets=targets,
                progress=Progress(lag, f"{self.projection.name} catch-up", out=_LogLines()),  # type: ignore[arg-type]
            )
        except Exception as why:  # the live path goes on from the checkpoints; a later check may try again
            log.error(
                "%s: bulk catch-up stopped (%s); the live path goes on from the checkpoints", self.projection.name, why
            )
        # Not on cancellation (the worker shuts down, ``stop``): its consumer and pool are about to close.
        await self._back_to_live(paused)
        if result is not None:
            log.warning(
                "%s: caught up %s records in %.1f s (%s/s) through the bulk path; back on the live path",
                self.projection.name,
                f"{result.read:,}",
                result.seconds,
                f"{result.read / result.seconds:,.0f}" if result.seconds else "-",
            )

    async def _back_to_live(self, paused: list[TP]) -> None:
        """Seek faust to the checkpoints of the paused partitions it still owns and resume them."""
        consumer = self.app.consumer
        try:
            seen = await self.checkpoints()
            self.moved(seen)
            owned = set(consumer.assignment())
            mine = [tp for tp in paused if tp in owned]
            if mine:
                await consumer.seek_wait({tp: seen.get((tp.topic, tp.partition), 0) for tp in mine})
        except Exception as why:  # resumed anyway: faust reads on from where it stood, the filter drops repeats
            log.error("%s: not seeked to the checkpoints after the catch-up (%s)", self.projection.name, why)
        finally:
            consumer.resume_partitions(paused)


async def wait_settled(cut: Callable[[], None], settled: Callable[[], Awaitable[None]], seconds: float) -> None:
    """Cut the batches being collected and wait (at most ``seconds``) for every batch in flight to commit."""
    cut()
    try:
        await asyncio.wait_for(settled(), seconds)
    except TimeoutError:
        log.warning("batches in flight not committed within %.0f s; catching up beside them", seconds)
