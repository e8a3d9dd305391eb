"""The partner publisher: validate, encode (Avro single-object), publish idempotently with acks=all.

The source agency is fixed when the publisher is made (an agency speaks only for itself);
the key is the event's aggregate id (``case_id`` / ``application_id``), so everything about
one case lands in one partition, in order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import Codec


@dataclass(frozen=True)
class Published:
    topic: str
    partition: int
    offset: int
    event_id: str


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes
    event_id: str


@dataclass(frozen=True)
class EventDraft:
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


class Publisher:
    def __init__(
        self,
        bootstrap: str,
        source_agency: str,
        *,
        topic_prefix: str = "",
        codec: Codec | None = None,
        linger_ms: int = 5,
    ) -> None:
        self.codec = codec or Codec()
        self.source_agency = source_agency
        self.topic_prefix = topic_prefix
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,
            acks="all",
            linger_ms=linger_ms,
            request_timeout_ms=30000,
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    def prepare(self, draft: EventDraft) -> Outgoing:
        """Validate and encode one event; raises ``EncodeError`` listing every invalid field."""
        schema = self.codec.schema_for(draft.event_type)
        now = datetime.now(UTC)
        event_id = str(uuid.uuid4())
        envelope = {
            "event_id": event_id,
            "event_type": draft.event_type,
            "occurred_at": draft.occurred_at or now,
            "recorded_at": now,
            "source_agency": self.source_agency,
            "correlation_id": draft.correlation_id or event_id,
            "causation_id": draft.causation_id,
        }
        value = self.codec.encode(draft.event_type, envelope, draft.payload)
        key = str(draft.payload[schema.key_field]).encode()
        return Outgoing(self.topic_prefix + schema.topic, key, value, event_id)

    async def publish(self, draft: EventDraft) -> Published:
        return (await self.publish_many([draft]))[0]

    async def publish_many(self, drafts: Iterable[EventDraft]) -> list[Published]:
        """Validate all first (nothing is sent if one is invalid), then send and await every ack."""
        outgoing = [self.prepare(d) for d in drafts]
        futures = [await self._producer.send(o.topic, o.value, key=o.key) for o in outgoing]
        metadata = await asyncio.gather(*futures)
        return [Published(m.topic, m.partition, m.offset, o.event_id) for m, o in zip(metadata, outgoing, strict=True)]
