"""`kim replay all`: rebuild every projection into its own copy from ONE shared read of the log.

Each projection gets what a single `kim replay` gives it (``replay.py``): its advisory lock, its registry row,
its copy (resumed from the copy's own checkpoints after an interruption), its dead letters marked
``kim.rebuild=<copy>`` and its audit records. What is shared is the read: the catch-up rounds fetch and decode
each record once for all copies (``catch_up_many`` with a ``Destination`` per projection: its copy schema, its
dead-letter handler, its live checkpoints as targets), so ``kim.cases``, which caseload, referrals and outcomes
all read, is read once and not three times. Then each copy is swapped in turn by the single replay's swap, whose
last small catch-up stays per projection. A refusal (a copy that differs, a lock another replay holds) stops that
projection only; the others go on.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

import asyncpg

from projections import copies, rebuilds
from projections.records import TopicPartition
from streams.kafka.connection import KafkaConnection
from streams.operations.replay import (
    Outcome,
    ReplayRefused,
    Request,
    RoundsLine,
    Runner,
    connect,
    full_history,
    open_copy,
)
from streams.runtime import read_plan
from streams.runtime.bulk import Destination, catch_up_many


@dataclass
class AllOutcome:
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # per projection that got to its swap
    refused: dict[str, str] = field(default_factory=dict)  # per projection stopped before: why
    read: int = 0  # records fetched from the log in this run: the shared rounds plus each swap's last catch-up
    resumed: dict[str, bool] = field(default_factory=dict)

    @property
    def all_swapped(self) -> bool:
        return not self.refused and all(o.state == "swapped" for o in self.outcomes.values())


async def replay_all(
    kafka: KafkaConnection,
    database_url: str,
    requests: Sequence[Request],
    *,
    platform_secret: bytes | None,
    out: TextIO = sys.stderr,
) -> AllOutcome:
    """Rebuild the projections of ``requests`` (rebuilds, not as-of copies); their batch, topic prefix, rounds and
    swap gap are the first request's."""
    if not requests or any(r.kind != copies.REBUILD for r in requests):
        raise ValueError("replay_all rebuilds: every request must be a rebuild")
    result = AllOutcome()
    control = await connect(database_url)
    try:
        runners = []
        for request in requests:
            try:
                runner, resumed = await _open(control, kafka, database_url, request, platform_secret, out)
            except ReplayRefused as why:
                result.refused[request.projection.name] = str(why)
                continue
            runners.append(runner)
            result.resumed[runner.name] = resumed
        if runners:
            await _rebuild(control, kafka, database_url, runners, result, platform_secret, out)
        return result
    finally:
        await control.close()  # also releases the session locks


async def _open(
    control: asyncpg.Connection,
    kafka: KafkaConnection,
    database_url: str,
    request: Request,
    platform_secret: bytes | None,
    out: TextIO,
) -> tuple[Runner, bool]:
    """What ``replay`` does before it folds: the projection's lock, its full history, its copy opened or resumed."""
    name = request.projection.name
    key = f"kim-rebuild|{name}"
    if not await control.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
        raise ReplayRefused(f"another `kim replay` is running a rebuild of {name}; wait for it to end or stop it first")
    try:
        partitions = await full_history(kafka, [request.topic_prefix + t for t in request.projection.source_topics])
        resumed = await open_copy(control, request)
    except ReplayRefused:  # this projection only: the others go on (anything else ends the run and the session)
        await control.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
        raise
    # its own line (the swap's last catch-up) stays quiet: the shared read has the one line
    return Runner(kafka, database_url, request, partitions, io.StringIO(), platform_secret), resumed


async def _rebuild(
    control: asyncpg.Connection,
    kafka: KafkaConnection,
    database_url: str,
    runners: list[Runner],
    result: AllOutcome,
    platform_secret: bytes | None,
    out: TextIO,
) -> None:
    first = runners[0].request
    line = RoundsLine(0, f"replay all (one read for {', '.join(r.name for r in runners)})", out=out)
    producer = kafka.producer()
    await producer.start()
    live = await connect(database_url)
    try:
        async with contextlib.AsyncExitStack() as reporting:
            for runner in runners:
                await reporting.enter_async_context(runner.reporting())
            for _ in range(first.rounds):
                gaps = {r.name: await r.gap(live) for r in runners}
                if all(gap <= first.swap_gap for _, gap in gaps.values()):
                    break
                chasing = [r for r in runners if gaps[r.name][1] > 0]
                line.total += await _to_read(live, chasing, {r.name: gaps[r.name][0] for r in chasing})
                done = await catch_up_many(
                    [r.request.projection for r in chasing],
                    kafka,
                    database_url,
                    platform_secret=platform_secret,
                    topic_prefix=first.topic_prefix,
                    max_records=first.batch,
                    progress=line,
                    destinations={
                        r.name: Destination(f"{r.schema}, public", r.dead_letter(producer), gaps[r.name][0])
                        for r in chasing
                    },
                )
                result.read += done.read
            line.close()
            for runner in runners:  # still reporting: every row's updated_at stays fresh while the others swap
                try:
                    await rebuilds.set_state(control, runner.schema, "verifying")
                    outcome = await runner.swap(control, live, runner.dead_letter(producer))
                    outcome.resumed = result.resumed[runner.name]
                    result.outcomes[runner.name] = outcome
                except ReplayRefused as why:
                    await rebuilds.set_state(control, runner.schema, "failed", str(why))
                    result.refused[runner.name] = str(why)
                finally:
                    result.read += runner.read
    finally:
        await live.close()
        await producer.stop()


async def _to_read(
    live: asyncpg.Connection, runners: list[Runner], targets: dict[str, dict[TopicPartition, int]]
) -> int:
    """Records the shared read of a round fetches: per partition from the lowest copy checkpoint short of its
    target to the highest target (what ``catch_up_many`` reads), not the sum of the copies' gaps."""
    seen = {r.name: await copies.checkpoints_in(live, r.schema, r.name) for r in runners}
    return sum(end - start for start, end in read_plan.plan(targets, seen).values())
