"""Publishing a stream of events from many agencies without reordering any case.

Each agency has its own producer, and two producers give no order between them. So an event
goes out at once when its key's previous event came from the same agency (one producer keeps
the order per partition) or is already acknowledged; otherwise it waits for that acknowledgement.
Everything else is in flight together, which is what makes a mixed file fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from streams.sdk.errors import DeliveryError
from streams.sdk.pool import PublisherPool
from streams.sdk.prepare import Outgoing
from streams.sdk.publisher import Published, Publisher

Result = Published | BaseException
AFTER_FAILED = "an earlier event with the same key was not published"


class OrderedSender:
    def __init__(self, pool: PublisherPool) -> None:
        self.pool = pool
        self._last: dict[tuple[str, bytes], tuple[str, asyncio.Future[Published]]] = {}
        self._waiting: set[asyncio.Future[Published]] = set()

    async def send(self, batch: Sequence[tuple[str, Outgoing]]) -> asyncio.Future[list[Result]]:
        """Hand ``(agency, event)`` pairs over in order; returns what resolves to each one's ``Published`` or
        error, in the same order. Connecting a new agency's producer may raise aiokafka's errors."""
        publishers = {agency: await self.pool.get(agency) for agency in dict.fromkeys(a for a, _ in batch)}
        self._forget_settled()
        results = []
        for agency, outgoing in batch:
            key = (outgoing.topic, outgoing.key)
            before = self._last.get(key)
            in_order = before is None or (before[0] == agency and before[1] not in self._waiting)
            if in_order or _acknowledged(before[1]):
                result = asyncio.ensure_future(await publishers[agency].enqueue(outgoing))
            else:
                result = asyncio.ensure_future(_after(before[1], publishers[agency], outgoing))
                self._waiting.add(result)
            self._last[key] = (agency, result)
            results.append(result)
        return asyncio.gather(*results, return_exceptions=True)

    def _forget_settled(self) -> None:
        self._last = {key: last for key, last in self._last.items() if not last[1].done()}
        self._waiting = {f for f in self._waiting if not f.done()}


async def _after(before: asyncio.Future[Published], publisher: Publisher, outgoing: Outgoing) -> Published:
    try:
        await before
    except Exception:
        raise DeliveryError([None], {0: AFTER_FAILED}) from None
    return await (await publisher.enqueue(outgoing))


def _acknowledged(future: asyncio.Future[Published]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
