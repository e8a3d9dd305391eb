"""The rebuild benchmark (issue 6): replay the whole history into all three projections with the bulk path.

One process replays every partition into an empty database; then two processes, each with a disjoint
half of the partitions (even / odd partition numbers of every topic), replay into another empty
database at the same time — one core each. Both call ``streams.bulk.catch_up`` (its ``targets``
limit it to given partitions), the three projections concurrently within a process.

Each process runs in a fresh interpreter (``spawn``), so the parent's list of generated events costs
it nothing; it reports how many records it read and when (``time.monotonic``, the same clock in every
process on Linux) it started and finished; the rate is all records read over the span from the first
start to the last finish.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from projections.registry import PROJECTIONS
from streams.bulk import catch_up
from streams.progress import Progress
from streams.topics import end_offsets


@dataclass(frozen=True)
class Share:
    """What one process replayed: records read (all projections) between two ``time.monotonic`` readings."""

    read: int
    started: float
    finished: float


async def _replay(bootstrap: str, database_url: str, prefix: str, group: int | None, groups: int) -> Share:
    jobs = []
    for projection in PROJECTIONS.values():
        topics = [prefix + t for t in projection.source_topics]
        ends = await end_offsets(bootstrap, topics)
        targets = {tp: end for tp, end in ends.items() if group is None or tp[1] % groups == group}
        quiet = Progress(sum(targets.values()), f"replay {projection.name}", out=io.StringIO())
        jobs.append((projection, targets, quiet))
    started = time.monotonic()
    results = await asyncio.gather(
        *(
            catch_up(projection, bootstrap, database_url, topic_prefix=prefix, targets=targets, progress=quiet)
            for projection, targets, quiet in jobs
        )
    )
    finished = time.monotonic()
    return Share(sum(r.applied for r in results), started, finished)


def _child(bootstrap: str, database_url: str, prefix: str, group: int | None, groups: int) -> Share:
    return asyncio.run(_replay(bootstrap, database_url, prefix, group, groups))


def replay(bootstrap: str, database_url: str, prefix: str, processes: int = 1) -> tuple[float, int]:
    """Replay everything into ``database_url`` (empty, migrated) with ``processes`` processes: (records/s, records)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        groups = [None] if processes == 1 else list(range(processes))
        futures = [pool.submit(_child, bootstrap, database_url, prefix, g, processes) for g in groups]
        shares = [f.result() for f in futures]
    read = sum(s.read for s in shares)
    span = max(s.finished for s in shares) - min(s.started for s in shares)
    return (read / span if span > 0 else 0.0), read
