"""When the live worker cuts a batch: at once on a quiet stream, after the commit in flight on a busy one.

The record loop is replaced by one that only records what it is handed and commits when told, so the cut policy
of ``streams.runtime.live._Batches`` is seen alone (the loop itself runs against PostgreSQL in the integration
tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

from projections.records import LogRecord
from streams.runtime.group_commit import GroupMirror
from streams.runtime.group_offsets import GroupOffsets
from streams.runtime.live import _Batches
from streams.runtime.outage_log import OutageReport


class CommittingByHand:
    """The record loop's face towards ``_Batches``: batches are committed only when the test says so."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self._after: list[Callable[[], Awaitable[None]] | None] = []

    def submit(self, records: Sequence[LogRecord], after: Callable[[], Awaitable[None]] | None = None) -> None:
        self.batches.append([r.offset for r in records])
        self._after.append(after)

    def idle(self) -> bool:
        return not self._after

    async def commit_oldest(self) -> None:
        after = self._after[0]
        if after is not None:
            await after()
        self._after.pop(0)

    async def wait_for_room(self) -> None:
        while len(self._after) > 1:
            await self.commit_oldest()

    def raise_failures(self) -> None:
        pass


def event(offset: int) -> Any:
    message = SimpleNamespace(
        topic="kim.cases",
        partition=0,
        offset=offset,
        key=b"DO-1",
        value=b"",
        headers=[],
        timestamp=1.7e9,
        timestamp_type=1,
    )
    return SimpleNamespace(message=message)


def batches(loop: CommittingByHand, waiting: Callable[[], bool], size: int = 100) -> _Batches:
    group = GroupOffsets()
    return _Batches(loop, size, 0.2, group, GroupMirror(None, group), OutageReport(), waiting=waiting)  # type: ignore[arg-type]


def test_a_quiet_stream_is_applied_at_once() -> None:
    async def scenario() -> list[list[int]]:
        loop = CommittingByHand()
        batcher = batches(loop, waiting=lambda: False)
        await batcher.add(event(0))
        await loop.commit_oldest()
        await batcher.add(event(1))
        return loop.batches

    assert asyncio.run(scenario()) == [[0], [1]]


def test_a_busy_stream_batches_what_came_while_a_commit_was_in_flight() -> None:
    async def scenario() -> list[list[int]]:
        loop = CommittingByHand()
        batcher = batches(loop, waiting=lambda: False)
        await batcher.add(event(0))  # idle: cut at once
        for offset in range(1, 6):  # the first batch is still committing
            await batcher.add(event(offset))
        assert loop.batches == [[0]]
        await loop.commit_oldest()  # done: what came meanwhile is cut right away
        return loop.batches

    assert asyncio.run(scenario()) == [[0], [1, 2, 3, 4, 5]]


def test_events_still_waiting_in_the_stream_join_the_batch() -> None:
    async def scenario() -> list[list[int]]:
        loop = CommittingByHand()
        queue = [1, 2, 3]  # what the stream has buffered behind the event being added
        batcher = batches(loop, waiting=lambda: bool(queue))
        await batcher.add(event(0))
        while queue:
            await batcher.add(event(queue.pop(0)))
        return loop.batches

    assert asyncio.run(scenario()) == [[0, 1, 2, 3]]


def test_a_batch_never_exceeds_its_size() -> None:
    async def scenario() -> list[list[int]]:
        loop = CommittingByHand()
        batcher = batches(loop, waiting=lambda: True, size=3)
        for offset in range(7):
            await batcher.add(event(offset))
        batcher.cut()
        return loop.batches

    assert asyncio.run(scenario()) == [[0, 1, 2], [3, 4, 5], [6]]
