"""The rebuild benchmark (issue 6): replay the whole history into all three projections with the bulk path.

One process replays every partition into an empty database; then two processes, each with a disjoint
half of the partitions (even / odd partition numbers of every topic), replay into another empty
database at the same time — one core each. Each process reads every topic ONCE for all three
projections (``streams.runtime.bulk.catch_up_many``: one fetch and one decode per record, each projection
committing its share with its own checkpoints); its ``targets`` limit it to its partitions.

Each process runs in a fresh interpreter (``spawn``), so the parent's list of generated events costs
it nothing; it reports how many log records it read (each once), how many records the projections
applied between them (a kim.cases record counts for caseload and for referrals) and when
(``time.monotonic``, the same clock in every process on Linux) it started and finished; the rate is
all log records read over the span from the first start to the last finish.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from infra.platform_identity import signing_secret
from projections.registry import PROJECTIONS
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.runtime.bulk import catch_up_many
from streams.runtime.progress import Progress


@dataclass(frozen=True)
class Share:
    """What one process replayed: log records read, records applied (all projections), ``time.monotonic`` span."""

    read: int
    applied: int
    started: float
    finished: float


async def _replay(kafka: KafkaConnection, database_url: str, prefix: str, group: int | None, groups: int) -> Share:
    projections = list(PROJECTIONS.values())
    topics = sorted({prefix + t for p in projections for t in p.source_topics})
    ends = await end_offsets(kafka, topics)
    targets = {tp: end for tp, end in ends.items() if group is None or tp[1] % groups == group}
    quiet = Progress(sum(targets.values()), "replay", out=io.StringIO())
    started = time.monotonic()
    result = await catch_up_many(
        projections,
        kafka,
        database_url,
        platform_secret=signing_secret(kafka),
        topic_prefix=prefix,
        targets=targets,
        progress=quiet,
    )
    finished = time.monotonic()
    return Share(result.read, result.applied, started, finished)


def _child(kafka: KafkaConnection, database_url: str, prefix: str, group: int | None, groups: int) -> Share:
    return asyncio.run(_replay(kafka, database_url, prefix, group, groups))


def replay(kafka: KafkaConnection, database_url: str, prefix: str, processes: int = 1) -> tuple[float, int, int]:
    """Replay everything into ``database_url`` (empty, migrated) with ``processes`` processes.

    Returns (log records/s, log records read, records applied by the projections)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        groups = [None] if processes == 1 else list(range(processes))
        futures = [pool.submit(_child, kafka, database_url, prefix, g, processes) for g in groups]
        shares = [f.result() for f in futures]
    read = sum(s.read for s in shares)
    span = max(s.finished for s in shares) - min(s.started for s in shares)
    return (read / span if span > 0 else 0.0), read, sum(s.applied for s in shares)
