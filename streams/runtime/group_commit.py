"""Commit the checkpoints to the projection's Kafka consumer group, through faust's own consumer.

Faust's committing is off in the live worker (its source topic does not ack): faust derives the offsets to commit
from the events it saw acknowledged since its last seek, and after the worker seeks to its checkpoints on an
assignment that bookkeeping stops committing — faust's recovery sets its "committed" mark to the group's old offset,
the seek moves only its read position, and an acknowledged offset more than one past that mark never counts as
committable. Instead, ``GroupMirror`` commits what ``GroupOffsets`` says after every batch, on every assignment
and on a clock, with the member's current generation (aiokafka's ``commit`` on faust's consumer, run in faust's
consumer thread). A commit the group refuses (a rebalance under way) is no error: the next assignment or batch
commits again. PostgreSQL stays the authority; the group's offsets trail it by at most the batch in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from aiokafka import TopicPartition as KafkaTP
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from projections.records import TopicPartition
from streams.runtime.group_offsets import GroupOffsets

log = logging.getLogger("kim.group")

COMMIT_TIMEOUT = 10.0  # seconds; aiokafka would wait for a lost coordinator forever


class Committed(Enum):
    OK = "ok"  # the group holds the offsets now
    REFUSED = "refused"  # the broker answered no (a rebalance, an unassigned partition): Kafka is reachable
    UNREACHABLE = "unreachable"  # no answer in time
    SKIPPED = "skipped"  # nothing to commit, or no consumer yet: says nothing about Kafka


async def commit_through_faust(app: Any, offsets: Mapping[TopicPartition, int]) -> Committed:
    """Commit ``offsets`` (only the partitions the member owns now) with faust's aiokafka consumer, in the thread
    and event loop that consumer lives in."""
    thread = getattr(app.consumer, "_thread", None)
    consumer = getattr(thread, "_consumer", None)
    if consumer is None or not offsets:
        return Committed.SKIPPED
    future = asyncio.run_coroutine_threadsafe(_commit(consumer, offsets), thread.thread_loop)
    return await asyncio.wrap_future(future)


async def _commit(consumer: Any, offsets: Mapping[TopicPartition, int]) -> Committed:
    """Runs in faust's consumer thread."""
    owned = consumer.assignment()
    wanted = {KafkaTP(t, p): o for (t, p), o in offsets.items() if KafkaTP(t, p) in owned}
    if not wanted:
        return Committed.SKIPPED
    try:
        await asyncio.wait_for(consumer.commit(wanted), COMMIT_TIMEOUT)
    except (CommitFailedError, IllegalStateError) as why:
        log.info("group offsets not committed (%s); the next assignment or batch commits them", why)
        return Committed.REFUSED
    except TimeoutError:
        return Committed.UNREACHABLE
    except KafkaError as why:
        if why.retriable:
            return Committed.UNREACHABLE
        log.warning("group offsets not committed: %r", why)
        return Committed.REFUSED
    return Committed.OK


class GroupMirror:
    """Keeps the consumer group's offsets at ``offsets``' positions: ``request`` after a batch (coalesced, never
    waits), ``commit_now`` on an assignment (waits, so faust's own positioning finds the checkpoints)."""

    def __init__(self, app: Any, offsets: GroupOffsets, on_answer: Callable[[], None] | None = None) -> None:
        self.app = app
        self.offsets = offsets
        self.on_answer = on_answer  # called when Kafka answered a commit (the outage report's "back")
        self._wanted = asyncio.Event()
        self._everything = False
        self._lock = asyncio.Lock()

    def request(self, everything: bool = False) -> None:
        """Commit soon, in the background (``everything``: as ``commit_now`` says)."""
        self._everything = self._everything or everything
        self._wanted.set()

    async def run(self) -> None:
        """The background committer: one commit at a time, of whatever is due when it starts."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            everything, self._everything = self._everything, False
            await self.commit_now(everything)

    async def commit_now(self, everything: bool = False) -> Committed:
        """Commit what is due (``everything``: every owned position, which also probes whether Kafka answers)."""
        async with self._lock:
            epoch, offsets = self.offsets.everything() if everything else self.offsets.due()
            if not offsets:
                return Committed.SKIPPED
            try:
                outcome = await commit_through_faust(self.app, offsets)
            except Exception as why:  # the mirror must never take the worker down
                log.warning("group offsets not committed: %r", why)
                return Committed.SKIPPED
            if outcome is Committed.OK:
                self.offsets.committed(epoch, offsets)
            if outcome in (Committed.OK, Committed.REFUSED) and self.on_answer is not None:
                self.on_answer()
            return outcome
