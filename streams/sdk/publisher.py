"""The partner publisher: validate, encode (Avro single-object), publish idempotently with acks=all.

The source agency is fixed when the publisher is made (an agency speaks only for itself);
the key is the event's aggregate id (``case_id`` / ``application_id``), so everything about
one case lands in one partition, in order. A batch is validated as a whole before anything
is sent: one invalid event and nothing of the batch reaches Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import NamedTuple, Protocol

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from schemas import Codec, EncodeError
from schemas.sealing import client_refs
from schemas.signing import SigningKey
from streams.kafka.connection import KafkaConnection
from streams.sdk.draft import EventDraft
from streams.sdk.errors import DeliveryError, InvalidBatch
from streams.sdk.keys import KeyStore
from streams.sdk.prepare import Outgoing, Preparer
from streams.sdk.published import Published

__all__ = ["TOO_LARGE", "EventDraft", "Outgoing", "Published", "Publisher", "SigningKey"]

TOO_LARGE = "the event is too large for Kafka"  # starts the reason of an event over Kafka's record limit


class Refusal(NamedTuple):
    """Why a draft may not be sent: ``field`` is ``source_agency`` when the publisher has no part in the case
    (the gateway answers 403) or ``payload.consent_id`` when no consent lets the data pass (422)."""

    field: str
    reason: str


class CaseCheck(Protocol):
    """Judges drafts against their cases before they are sent — may this agency act on the case, may the data
    pass (the platform's ``streams.usecases.case_gate.CaseGate``): index of each refused draft -> the refusal."""

    async def check(self, drafts: Sequence[EventDraft], publisher: str | None = None) -> dict[int, Refusal]: ...


class Publisher(Preparer):
    """Prepares (see ``Preparer``) and sends with an idempotent producer, acks=all."""

    def __init__(
        self,
        kafka: KafkaConnection | str,
        source_agency: str,
        *,
        signing_key: str | SigningKey | None = None,
        username: str | None = None,
        password: str | None = None,
        topic_prefix: str = "",
        codec: Codec | None = None,
        linger_ms: int = 5,
        request_timeout_ms: int = 30000,
        case_gate: CaseCheck | None = None,
        client_keys: KeyStore | None = None,
    ) -> None:
        """``kafka``: the brokers, TLS and the login (a ``KafkaConnection``, or ``host:port,…`` for a cluster
        without logins whose certificates the system trusts); ``username``/``password`` replace its login.
        ``signing_key``: the key every record is signed with — an agency's as `kim agency add` printed it
        (``KEYID:secret``), or the platform's when the platform speaks for an agency (``infra.platform_identity``);
        required.

        ``client_keys``: the platform's key table (started and closed by the caller), needed to publish CaseOpened
        and ApplicationFiled — they carry the client only sealed. A partner's publisher has none: those two
        types raise ``EncodeError`` there; partners send them through the HTTP gateway.
        """
        super().__init__(
            source_agency,
            topic_prefix=topic_prefix,
            codec=codec,
            keys=client_keys.ring if client_keys is not None else None,
        )
        self.client_keys = client_keys
        self.kafka, self.signing_key = _credentials(self.source_agency, kafka, username, password, signing_key)
        self.case_gate = case_gate  # judge each draft against its case first: the agency's part, the consent
        self._producer = self.kafka.producer(linger_ms=linger_ms, request_timeout_ms=request_timeout_ms)
        self._started = False
        self._unacknowledged: set[asyncio.Future] = set()  # what ``abort`` fails

    async def start(self) -> None:
        """Connect to the broker; raises aiokafka's ``KafkaConnectionError`` when it cannot be reached
        (the publisher is then closed: make a new one to try again)."""
        if not self._started:
            try:
                with self.kafka.explained():
                    await self._producer.start()
            except BaseException:
                await self._producer.stop()  # release the half-open client, no "unclosed producer" warning
                raise
            self._started = True

    async def stop(self) -> None:
        """Flush what is in flight and disconnect. Twice is harmless."""
        if self._started:
            self._started = False
            await self._producer.stop()

    async def abort(self) -> None:
        """Disconnect at once, without waiting for what is in flight — ``stop`` waits for it, and an idempotent
        producer retries until the broker answers, however long it is gone. Acknowledgements that arrive while the
        requests in flight end still count; every other send fails (``DeliveryError``). Twice, or after ``stop``,
        is harmless."""
        if not self._started:
            return
        self._started = False
        sender = getattr(self._producer, "_sender", None)  # aiokafka has no public "give up": stop its sender
        task = getattr(sender, "sender_task", None)
        if task is not None and not task.done():
            task.cancel()  # it ends its requests in flight (each within request_timeout_ms), then stops
            await asyncio.gather(task, return_exceptions=True)
        for ack in list(self._unacknowledged):  # nothing can acknowledge them any more
            if not ack.done():
                ack.set_exception(KafkaConnectionError("the publisher gave up: Kafka did not acknowledge in time"))
        self._unacknowledged.clear()
        await self._producer.stop()  # its sender is gone, so it does not wait for the unsent batches

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def send(self, outgoing: Sequence[Outgoing]) -> list[Published]:
        """Send encoded events in order and wait for every acknowledgement (acks=all).

        Raises ``DeliveryError`` (with what *was* acknowledged) when Kafka did not take them all.
        """
        self._require_started()
        futures: list[asyncio.Future | None] = []
        reasons: dict[int, str] = {}
        for i, item in enumerate(outgoing):
            if reasons:  # the producer already gave up on an earlier one: do not wait out a timeout per event
                reasons[i] = "not sent after an earlier failure"
                futures.append(None)
                continue
            try:
                futures.append(await self._send(item))
            except KafkaError as error:
                reasons[i] = _describe(error, item.topic)
                futures.append(None)
        acks = await asyncio.gather(*(f for f in futures if f is not None), return_exceptions=True)
        pending = iter(acks)
        results: list[Published | None] = []
        for i, (item, future) in enumerate(zip(outgoing, futures, strict=True)):
            meta = next(pending) if future is not None else None
            if isinstance(meta, BaseException):
                reasons[i] = _describe(meta, item.topic)
                meta = None
            results.append(Published(meta.topic, meta.partition, meta.offset, item.event_id) if meta else None)
        if reasons:
            raise DeliveryError(results, reasons)
        return [r for r in results if r is not None]

    async def enqueue(self, item: Outgoing) -> Awaitable[Published]:
        """Hand one encoded event to the producer and return what resolves to its ``Published`` once Kafka
        acknowledged it (or raises ``DeliveryError``). Events enqueued one after the other keep their order per
        partition; await each result."""
        self._require_started()
        try:
            ack = await self._send(item)
        except KafkaError as error:
            return _failed(_describe(error, item.topic))
        return _acked(ack, item)

    async def _send(self, item: Outgoing) -> asyncio.Future:
        """Hand one event to the producer; its acknowledgement, which ``abort`` fails if it never comes."""
        ack = await self._producer.send(item.topic, item.value, key=item.key, headers=self._sign(item))
        self._unacknowledged.add(ack)
        ack.add_done_callback(self._unacknowledged.discard)
        return ack

    async def publish(self, draft: EventDraft) -> Published:
        """Publish one event; raises ``EncodeError`` when it is invalid (or, with a case gate, about a case the
        agency has no part in, or not covered by a consent), ``DeliveryError`` when not acknowledged."""
        await self.load_keys([draft])
        outgoing = self.prepare(draft)
        if self.case_gate is not None:
            refused = await self.case_gate.check([draft], self.source_agency)
            if refused:
                raise EncodeError(draft.event_type, [f"{refused[0].field}: {refused[0].reason}"])
        return (await self.send([outgoing]))[0]

    async def publish_many(self, drafts: Iterable[EventDraft]) -> list[Published]:
        """Validate all first (nothing is sent if one is invalid), then send and await every ack."""
        drafts = list(drafts)
        await self.load_keys(drafts)
        outgoing = self.prepare_all(drafts)
        if self.case_gate is not None:
            refused = await self.case_gate.check(drafts, self.source_agency)
            if refused:
                items = {
                    i: EncodeError(drafts[i].event_type, [f"{why.field}: {why.reason}"]) for i, why in refused.items()
                }
                raise InvalidBatch(items, len(drafts))
        return await self.send(outgoing)

    async def load_keys(self, drafts: Iterable[EventDraft]) -> None:
        """Load (or make) the client keys that ``prepare`` will seal ``drafts`` with: one round trip, then cached."""
        if self.client_keys is not None:
            await self.client_keys.load([ref for d in drafts for ref in client_refs(d.event_type, d.payload)])

    def _sign(self, item: Outgoing) -> list[tuple[str, bytes]]:
        return self.signing_key.headers(item.key, item.value)

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("the publisher is not started: use `async with Publisher(...)` or `await start()`")

    async def missing_topics(self) -> list[str]:
        """The catalog's topics (with this publisher's prefix) that the broker does not have."""
        metadata = await self._producer.client.fetch_all_metadata()
        wanted = {self.topic_prefix + topic for topic in self.codec.catalog.topics()}
        return sorted(wanted - set(metadata.topics()))


def _credentials(
    agency: str,
    kafka: KafkaConnection | str,
    username: str | None,
    password: str | None,
    signing_key: str | SigningKey | None,
) -> tuple[KafkaConnection, SigningKey]:
    """The connection and the signing key of a publisher for ``agency``; ``ValueError`` for a mismatch."""
    if (username is None) != (password is None):
        raise ValueError("give both username and password (as `kim agency add` printed them), or neither")
    if signing_key is None:
        raise ValueError(f"{agency} needs a signing_key to publish (as `kim agency add` printed it)")
    connection = KafkaConnection(kafka) if isinstance(kafka, str) else kafka
    if username is not None and password is not None:
        connection = connection.login_as(username, password)
    key = SigningKey.parse(signing_key) if isinstance(signing_key, str) else signing_key
    if key.agency is not None and key.agency != agency:
        raise ValueError(f"the signing key is {key.agency}'s, not {agency}'s: an agency speaks only for itself")
    return connection, key


async def _acked(ack: asyncio.Future, item: Outgoing) -> Published:
    try:
        meta = await ack
    except KafkaError as error:
        raise DeliveryError([None], {0: _describe(error, item.topic)}) from None
    return Published(meta.topic, meta.partition, meta.offset, item.event_id)


async def _failed(reason: str) -> Published:
    raise DeliveryError([None], {0: reason})


def _describe(error: BaseException, topic: str) -> str:
    if isinstance(error, MessageSizeTooLargeError):
        return f"{TOO_LARGE} ({error}); an event is a few hundred bytes: shorten its lists or split it into several"
    if isinstance(error, UnknownTopicOrPartitionError):
        return f"topic {topic} does not exist on the broker (kim up creates the topics)"
    if isinstance(error, TopicAuthorizationFailedError | ClusterAuthorizationFailedError):
        name = type(error).__name__
        return f"the Kafka user may not write {topic} ({name}); `kim agency add` grants an agency its topics"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
