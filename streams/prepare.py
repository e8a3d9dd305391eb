"""Validate and encode events as one agency, without Kafka: what the publisher does before it sends.

Kept apart from the producer so a front door can reject invalid events even while the
broker is unreachable, and unit tests can check preparation without a broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import Codec, EncodeError
from schemas.sealing import ERASURES, NO_KEY_STORE, SEALED, KeyRing, SealError
from streams.draft import EventDraft, check_agency
from streams.errors import InvalidBatch


@dataclass(frozen=True)
class Outgoing:
    """An encoded event, ready to send."""

    topic: str
    key: bytes
    value: bytes
    event_id: str
    event_type: str = ""


class Preparer:
    """Builds the envelope (the source agency is this one's, always), validates and encodes."""

    def __init__(
        self, source_agency: str, *, topic_prefix: str = "", codec: Codec | None = None, keys: KeyRing | None = None
    ) -> None:
        """``keys``: the client keys that seal CaseOpened/ApplicationFiled (``infra.client_keys``); without them
        those two types are refused — their pseudonym never goes on the log in clear."""
        self.codec = codec or Codec()
        self.source_agency = check_agency(source_agency, self.codec)
        self.topic_prefix = topic_prefix
        self.keys = keys

    def prepare(self, draft: EventDraft) -> Outgoing:
        """Validate (schema and domain rules) and encode one event; raises ``EncodeError`` listing every invalid
        field."""
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
        payload = draft.payload
        if draft.event_type in SEALED or draft.event_type in ERASURES:
            payload = self._sealed(draft.event_type, envelope, payload)
        value = self.codec.encode(draft.event_type, envelope, payload)
        key = str(draft.payload[schema.key_field]).encode()
        return Outgoing(self.topic_prefix + schema.topic, key, value, event_id, draft.event_type)

    def _sealed(self, event_type: str, envelope: dict, payload: dict) -> dict:
        """The payload with the client sealed (``schemas/sealing.py``); erasure events are the platform's alone."""
        if event_type in ERASURES:
            raise EncodeError(event_type, [f"event_type: {event_type} is published by `kim erase` only"])
        try:
            if self.keys is None:
                raise SealError(NO_KEY_STORE.format(type=event_type))
            return self.keys.seal_payload(event_type, payload)  # encode validates the sealed payload after
        except SealError as why:  # every problem of the clear draft, as ever, else why it cannot be sealed
            raise EncodeError(event_type, self.codec.validate(event_type, envelope, payload) or [str(why)]) from None

    def prepare_all(self, drafts: Iterable[EventDraft]) -> list[Outgoing]:
        """Validate and encode every event; raises ``InvalidBatch`` naming each invalid one by its index."""
        outgoing: list[Outgoing] = []
        invalid: dict[int, EncodeError] = {}
        for i, draft in enumerate(drafts):
            try:
                outgoing.append(self.prepare(draft))
            except EncodeError as error:
                invalid[i] = error
        if invalid:
            raise InvalidBatch(invalid, len(outgoing) + len(invalid))
        return outgoing
