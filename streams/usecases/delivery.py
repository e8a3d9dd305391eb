"""Deliver windows of prepared events as their agencies, every key in order, counting acknowledgements exactly.

The bulk publishers (`kim publish`, `kim simulate --publish`) hand over windows of prepared events. A window
goes out in the rounds of ``publish_in_order.rounds`` (one batch per agency, all agencies at once; a key's
hand-over to another agency's producer waits for the acknowledgement of its previous event). Unlike
``publish_in_order`` it counts each acknowledgement as it arrives (``Tally``) and it gives up when the broker
is gone: an idempotent aiokafka producer never expires a batch — it retries until the broker answers — so
a broker that is killed, unreachable or hung would keep the publisher waiting forever. When nothing was
acknowledged for ``timeout`` seconds while events were outstanding (the delivery timeout), or Kafka refused
an event for a reason that is not the event's own, the producers are aborted: acknowledgements still on the
way are counted, everything else is failed, and ``DeliveryStopped`` says why. After that ``tally.acked`` is
exactly what the broker acknowledged. (Events the broker wrote but whose acknowledgement was lost are not in
it; ``resumable_publish`` finds them in the log.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from aiokafka.errors import KafkaError

from schemas import Codec
from schemas.errors import KimError
from schemas.signing import SigningKey
from streams.kafka.connection import KafkaConnection
from streams.sdk.errors import DeliveryError
from streams.sdk.ordered import AFTER_FAILED
from streams.sdk.prepare import Outgoing
from streams.sdk.publisher import TOO_LARGE, Published, Publisher
from streams.usecases.publish_in_order import rounds

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class Item:
    """One prepared event and where it is in the input (a line number, an index)."""

    ordinal: int
    agency: str
    outgoing: Outgoing


@dataclass
class Tally:
    """What the broker acknowledged, counted per acknowledgement; and what it refused for the event's own sake."""

    acked: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    agencies: Counter[str] = field(default_factory=Counter)
    targets: dict[TopicPartition, int] = field(default_factory=dict)  # the next offset per partition written
    refused: dict[int, str] = field(default_factory=dict)  # ordinal -> why (too large; an earlier of its key was)

    def note(self, item: Item, published: Published) -> None:
        self.acked += 1
        self.topics[published.topic] += 1
        self.agencies[item.agency] += 1
        tp = (published.topic, published.partition)
        self.targets[tp] = max(self.targets.get(tp, 0), published.offset + 1)


class DeliveryStopped(KimError):
    """Kafka stopped acknowledging (or refused events for a reason that is not theirs); the producers are closed
    and the tally is final."""


class Delivery:
    """One producer per agency, signing as the platform; ``deliver`` windows, ``close`` at the end."""

    def __init__(
        self,
        kafka: KafkaConnection,
        *,
        platform_key: SigningKey,
        topic_prefix: str = "",
        codec: Codec | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.kafka = kafka
        self.platform_key = platform_key
        self.topic_prefix = topic_prefix
        self.codec = codec or Codec()
        self.timeout = timeout
        self.tally = Tally()
        self._publishers: dict[str, Publisher] = {}
        self._failed_keys: set[tuple[str, bytes]] = set()
        self._pending: set[asyncio.Future[Published]] = set()
        self._wake = asyncio.Event()
        self._progress_at = time.monotonic()
        self._fatal: str | None = None

    async def deliver(self, items: Sequence[Item]) -> None:
        """Send a window and wait for every acknowledgement; ``DeliveryStopped`` when Kafka stopped answering
        (then nothing more can be sent: the producers are aborted)."""
        by_outgoing = {id(item.outgoing): item for item in items}
        for batches in rounds((item.agency, item.outgoing) for item in items):
            await self._round({agency: [by_outgoing[id(o)] for o in batch] for agency, batch in batches.items()})

    async def close(self) -> None:
        """Flush and disconnect (after a successful run; ``abort`` otherwise)."""
        publishers, self._publishers = list(self._publishers.values()), {}
        await asyncio.gather(*(p.stop() for p in publishers), return_exceptions=True)

    async def abort(self) -> None:
        """Disconnect without waiting for the broker; what was not acknowledged by then is failed."""
        publishers, self._publishers = list(self._publishers.values()), {}
        await asyncio.gather(*(p.abort() for p in publishers), return_exceptions=True)
        if self._pending:  # the acknowledgements that arrived during the abort: count them
            await asyncio.wait(set(self._pending), timeout=5)
        for ack in list(self._pending):
            ack.cancel()

    async def __aenter__(self) -> Delivery:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        await (self.close() if kind is None else self.abort())

    async def _round(self, batches: dict[str, list[Item]]) -> None:
        for agency in batches:
            await self._publisher(agency)
        self._progress_at = time.monotonic()
        sending = asyncio.ensure_future(self._enqueue(batches))
        sending.add_done_callback(lambda _: self._wake.set())
        try:
            await self._watch(sending)
        except BaseException:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            await self.abort()
            raise

    async def _publisher(self, agency: str) -> Publisher:
        if agency not in self._publishers:
            publisher = Publisher(
                self.kafka,
                agency,
                signing_key=self.platform_key,
                topic_prefix=self.topic_prefix,
                codec=self.codec,
                linger_ms=0,  # a round is one batch per agency already: lingering would only add latency
                request_timeout_ms=int(self.timeout * 1000),
            )
            try:
                async with asyncio.timeout(self.timeout):
                    await publisher.start()
            except (KafkaError, OSError, TimeoutError) as why:
                await self.abort()
                raise DeliveryStopped(f"cannot connect to Kafka at {self.kafka.bootstrap} ({_text(why)})") from None
            self._publishers[agency] = publisher
        return self._publishers[agency]

    async def _enqueue(self, batches: dict[str, list[Item]]) -> None:
        for agency, items in batches.items():
            publisher = self._publishers[agency]
            for item in items:
                key = (item.outgoing.topic, item.outgoing.key)
                if key in self._failed_keys:
                    self.tally.refused[item.ordinal] = AFTER_FAILED
                    continue
                ack = asyncio.ensure_future(await publisher.enqueue(item.outgoing))
                self._pending.add(ack)
                ack.add_done_callback(functools.partial(self._settled, item))

    def _settled(self, item: Item, ack: asyncio.Future[Published]) -> None:
        self._pending.discard(ack)
        if not self._pending:
            self._wake.set()
        if ack.cancelled():
            return
        error = ack.exception()
        if error is None:
            self._progress_at = time.monotonic()
            self.tally.note(item, ack.result())
            return
        self._failed_keys.add((item.outgoing.topic, item.outgoing.key))
        reason = _reason(error)
        if reason.startswith(TOO_LARGE):  # the event's own problem: the others go on
            self._progress_at = time.monotonic()
            self.tally.refused[item.ordinal] = reason
        elif self._fatal is None:
            self._fatal = reason
            self._wake.set()

    async def _watch(self, sending: asyncio.Future[None]) -> None:
        """Until the round is acknowledged; ``DeliveryStopped`` after ``timeout`` s without an acknowledgement."""
        while True:
            if self._fatal is not None:
                raise DeliveryStopped(f"Kafka at {self.kafka.bootstrap} did not acknowledge an event ({self._fatal})")
            if sending.done():
                sending.result()  # an error of our own: raise it
                if not self._pending:
                    return
            left = self._progress_at + self.timeout - time.monotonic()
            if left <= 0:
                raise DeliveryStopped(
                    f"Kafka at {self.kafka.bootstrap} stopped answering (no acknowledgement for {self.timeout:g} s)"
                )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left)


def _reason(error: BaseException) -> str:
    if isinstance(error, DeliveryError):
        return error.reasons[min(error.reasons)]
    return _text(error)


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@contextlib.contextmanager
def quiet_kafka_logs() -> Iterator[None]:
    """Keep aiokafka's log lines off the console: during an outage it logs every failed reconnect (thousands of
    lines); the outcome is reported once, by the caller."""
    logger = logging.getLogger("aiokafka")
    handler = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
