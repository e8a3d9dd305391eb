"""Waiting until a projection has applied everything up to given log positions (lag 0)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import asyncpg

from projections import checkpoints
from projections.records import TopicPartition


def behind(targets: Mapping[TopicPartition, int], seen: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Per partition, how many records the projection still has to apply to reach the targets."""
    return {tp: end - seen.get(tp, 0) for tp, end in targets.items() if end > seen.get(tp, 0)}


async def wait_caught_up(
    database_url: str,
    projection: str,
    targets: Mapping[TopicPartition, int],
    timeout: float,
    still_running: Callable[[], bool] = lambda: True,
) -> float:
    """Poll the checkpoints until they reach ``targets``; return the seconds it took.

    Raises TimeoutError naming what is left, or RuntimeError when the worker died meanwhile.
    """
    started = time.monotonic()
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            left = behind(targets, await checkpoints.load(conn, projection))
            if not left:
                return time.monotonic() - started
            if not still_running():
                raise RuntimeError(f"the {projection} worker stopped with {sum(left.values())} records still to apply")
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"the {projection} projection did not catch up within {timeout:.0f} s "
                    f"({sum(left.values())} records left in {len(left)} partitions)"
                )
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
