"""Validate and encode events as one agency, without Kafka: what the publisher does before it sends.

Kept apart from the producer so a front door can reject invalid events even while the
broker is unreachable, and unit tests can check preparation without a broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import Codec, EncodeError
from schemas.sealing import ERASURES, NO_KEY_STORE, SEALED, KeyRing, SealError
from streams.sdk.draft import EventDraft, check_agency
from streams.sdk.errors import InvalidBatch


@dataclass(frozen=True)
class Outgoing:
    """An encoded event, ready to send."""

    topic: str
    key: bytes
    value: bytes
    event_id: str
    event_type: str = ""


def new_envelope(
    event_type: str,
    source_agency: str,
    *,
    occurred_at: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The envelope of a new event: a fresh id (unless told), recorded now, occurred now unless told; a correlation
    of its own."""
    now = datetime.now(UTC)
    event_id = event_id or str(uuid.uuid4())
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at or now,
        "recorded_at": now,
        "source_agency": source_agency,
        "correlation_id": correlation_id or event_id,
        "causation_id": causation_id,
    }


def encoded(codec: Codec, envelope: dict[str, Any], payload: dict[str, Any], topic_prefix: str = "") -> Outgoing:
    """The event encoded (``EncodeError`` listing every invalid field), on its type's topic, keyed by its key field."""
    event_type = envelope["event_type"]
    schema = codec.schema_for(event_type)
    value = codec.encode(event_type, envelope, payload)
    key = str(payload[schema.key_field]).encode()  # never a sealed field: sealing binds the client to this id
    return Outgoing(topic_prefix + schema.topic, key, value, envelope["event_id"], event_type)


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

    def prepare(self, draft: EventDraft, *, event_id: str | None = None) -> Outgoing:
        """Validate (schema and domain rules) and encode one event; raises ``EncodeError`` listing every invalid
        field. ``event_id``: the id to give it (a UUID) instead of a fresh one — a publisher that may have to resume
        derives it from its input, so what already reached the log can be recognised (``kim publish --resume``)."""
        self.codec.schema_for(draft.event_type)  # an unknown type is refused before anything else
        envelope = new_envelope(
            draft.event_type,
            self.source_agency,
            occurred_at=draft.occurred_at,
            correlation_id=draft.correlation_id,
            causation_id=draft.causation_id,
            event_id=event_id,
        )
        payload = draft.payload
        if draft.event_type in SEALED or draft.event_type in ERASURES:
            payload = self._sealed(draft.event_type, envelope, payload)
        return encoded(self.codec, envelope, payload, self.topic_prefix)

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
