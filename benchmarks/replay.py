"""The rebuild benchmark (issue 6): replay the whole history into every projection with the bulk path.

One process replays every partition into an empty database; then two processes, each with a disjoint
half of the partitions (even / odd partition numbers of every topic), replay into another empty
database at the same time — one core each. Each process reads every topic ONCE for all the
projections (``streams.runtime.bulk.catch_up_many``: one fetch and one decode per record, each projection
committing its share with its own checkpoints); its ``targets`` limit it to its partitions.

Each process runs in a fresh interpreter (``spawn``), so the parent's list of generated events costs
it nothing; it reports how many log records it read (each once), how many records the projections
applied between them (a kim.cases record counts for caseload and for referrals) and when
(``time.monotonic``, the same clock in every process on Linux) it started and finished; the rate is
all log records read over the span from the first start to the last finish. Each also reports its own
CPU seconds and garbage collections over its span, so the cost per process is its own, not the parent's,
and its peak resident memory (each replay starts fresh processes, so that peak is the rebuild's own).
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from benchmarks.lanes import BenchLane
from benchmarks.usage import Meter, gc_collections, gc_delta, peak_rss_mb
from infra.platform_identity import signing_secret
from projections.registry import PROJECTIONS
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets
from streams.runtime.bulk import catch_up_many
from streams.runtime.progress import Progress


@dataclass(frozen=True)
class Share:
    """What one process replayed: log records read, records applied (all projections), ``time.monotonic`` span,
    and what it cost that process over the span: CPU seconds and garbage collections per generation."""

    read: int
    applied: int
    started: float
    finished: float
    cpu_s: float = 0.0
    gc_collections: tuple[int, ...] = (0, 0, 0)
    peak_rss_mb: float = 0.0


@dataclass(frozen=True)
class Rebuilt:
    """A whole rebuild: log records/s over the span of all processes, and each process's own CPU seconds."""

    rate: float
    read: int
    applied: int
    python_cpu_s: list[float]
    gc_collections: list[int]
    peak_rss_mb: list[float]


async def _replay(kafka: KafkaConnection, database_url: str, prefix: str, group: int | None, groups: int) -> Share:
    projections = list(PROJECTIONS.values())
    topics = sorted({prefix + t for p in projections for t in p.source_topics})
    ends = await end_offsets(kafka, topics)
    targets = {tp: end for tp, end in ends.items() if group is None or tp[1] % groups == group}
    quiet = Progress(sum(targets.values()), "replay", out=io.StringIO())
    collections, cpu = gc_collections(), time.process_time()
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
    cpu = time.process_time() - cpu
    return Share(result.read, result.applied, started, finished, cpu, tuple(gc_delta(collections)), peak_rss_mb())


def _child(kafka: KafkaConnection, database_url: str, prefix: str, group: int | None, groups: int) -> Share:
    return asyncio.run(_replay(kafka, database_url, prefix, group, groups))


def replay(kafka: KafkaConnection, database_url: str, prefix: str, processes: int = 1) -> Rebuilt:
    """Replay everything into ``database_url`` (empty, migrated) with ``processes`` processes."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        groups = [None] if processes == 1 else list(range(processes))
        futures = [pool.submit(_child, kafka, database_url, prefix, g, processes) for g in groups]
        shares = [f.result() for f in futures]
    read = sum(s.read for s in shares)
    span = max(s.finished for s in shares) - min(s.started for s in shares)
    collections = [sum(generation) for generation in zip(*(s.gc_collections for s in shares), strict=True)]
    return Rebuilt(
        read / span if span > 0 else 0.0,
        read,
        sum(s.applied for s in shares),
        [s.cpu_s for s in shares],
        collections,
        [s.peak_rss_mb for s in shares],
    )


async def metered(lane: BenchLane, processes: int, purpose: str) -> tuple[Rebuilt, dict[str, Any]]:
    """A rebuild into a fresh database, metered: each process's CPU, GC and peak RSS; the backends'; the broker's."""
    url = await lane.database(purpose)
    with Meter(lane.settings, url) as meter:
        rebuilt = await asyncio.to_thread(replay, lane.kafka, url, lane.prefix, processes)
    usage = meter.usage(rebuilt.read, rebuilt.rate, rebuilt.python_cpu_s, rebuilt.gc_collections)
    return rebuilt, {**usage, "peak_rss_mb": rebuilt.peak_rss_mb}
