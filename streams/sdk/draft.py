"""An event before it is published: typed, or built from a JSON-ish dict (``EventDraft.from_dict``).

``from_dict`` checks what a caller can get wrong before the publisher adds the envelope:
the shape, the event type, ISO timestamps and dates, and the payload against the schema.
It reports every problem at once; domain rules (which need the real envelope, e.g. the
source agency) run when the publisher prepares the event (``Codec.validate``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from schemas import Codec, EncodeError
from schemas.validation import field_errors
from streams.sdk.convert import from_json, json_kind, named_types, to_json

FIELDS = ("event_type", "occurred_at", "payload", "correlation_id", "causation_id")
# Envelope fields only the publisher sets: an agency speaks only for itself, ids and record time are assigned.
SET_BY_PUBLISHER = ("source_agency", "agency", "event_id", "recorded_at")


@dataclass(frozen=True)
class EventDraft:
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime | None = None
    correlation_id: str | None = None
    causation_id: str | None = None

    @classmethod
    def from_dict(cls, data: Any, codec: Codec | None = None) -> EventDraft:
        """Build from ``{"event_type", "occurred_at"?, "payload", "correlation_id"?, "causation_id"?}``.

        Raises ``EncodeError`` whose ``errors`` name every invalid field (``payload.district: …``).
        """
        return _from_dict(data, codec or default_codec())

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form ``from_dict`` reads (timestamps and dates as ISO strings)."""
        out: dict[str, Any] = {"event_type": self.event_type}
        if self.occurred_at is not None:
            out["occurred_at"] = self.occurred_at.isoformat()
        out["payload"] = to_json(self.payload)
        for name in ("correlation_id", "causation_id"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@cache
def default_codec() -> Codec:
    return Codec()


def agencies(codec: Codec | None = None) -> tuple[str, ...]:
    """The agencies that may publish: the symbols of the envelope's ``source_agency`` enum except its default
    (``OTHER``, what a reader falls back to for an agency it does not know — no publisher is "other")."""
    return _agencies(codec or default_codec())


def check_agency(agency: str, codec: Codec | None = None) -> str:
    """``agency`` when it is one of the network's; ``ValueError`` naming the known ones otherwise."""
    known = agencies(codec)
    if agency not in known:
        raise ValueError(f"unknown agency {agency!r}; known agencies: {', '.join(known)}")
    return agency


@cache
def _agencies(codec: Codec) -> tuple[str, ...]:
    envelope = codec.schema_for(min(codec.catalog.event_types())).schema["fields"][0]["type"]
    kind = next(f["type"] for f in envelope["fields"] if f["name"] == "source_agency")
    enum = named_types(envelope).get(kind, kind) if isinstance(kind, str) else kind
    return tuple(s for s in enum["symbols"] if s != enum.get("default"))


def _from_dict(data: Any, codec: Codec) -> EventDraft:
    if not isinstance(data, Mapping):
        raise EncodeError("event", [f"event: expected a JSON object, got {json_kind(data)}"])
    errors = _top_level_errors(data)
    event_type = data.get("event_type")
    if not isinstance(event_type, str):
        errors.append("event_type: " + ("required field is missing" if event_type is None else "expected a string"))
        raise EncodeError("event", errors)
    if event_type not in codec.catalog.event_types():
        known = ", ".join(sorted(codec.catalog.event_types()))
        raise EncodeError(event_type, [*errors, f"event_type: unknown type {event_type!r}; known types: {known}"])
    payload = data.get("payload")
    if "payload" not in data:
        errors.append("payload: required field is missing")
    elif not isinstance(payload, Mapping):
        errors.append(f"payload: expected an object, got {json_kind(payload)}")

    message = codec.schema_for(event_type).schema
    given = {name: data[name] for name in ("occurred_at", "correlation_id", "causation_id") if name in data}
    datum = {"envelope": given, "payload": payload if isinstance(payload, Mapping) else {}}
    converted = from_json(message, datum, named=_named(codec, event_type))
    envelope, payload_value = converted.value["envelope"], converted.value["payload"]
    unconvertible = {_field_of(e) for e in converted.errors}
    schema_errors = _schema_errors(codec, message, event_type, envelope, payload_value)
    if not isinstance(payload, Mapping):
        schema_errors = [e for e in schema_errors if not e.startswith("payload")]
    errors += converted.errors + [e for e in schema_errors if _field_of(e) not in unconvertible]
    if errors:
        raise EncodeError(event_type, [e.removeprefix("envelope.") for e in errors])
    return EventDraft(
        event_type,
        payload_value,
        occurred_at=envelope.get("occurred_at"),
        correlation_id=envelope.get("correlation_id"),
        causation_id=envelope.get("causation_id"),
    )


@cache
def _named(codec: Codec, event_type: str) -> dict[str, dict[str, Any]]:
    return named_types(codec.schema_for(event_type).schema)


def _top_level_errors(data: Mapping[str, Any]) -> list[str]:
    errors = []
    for key in data:
        if key in SET_BY_PUBLISHER:
            errors.append(f"{key}: set by the publisher, not by the event (an agency speaks only for itself)")
        elif key not in FIELDS:
            errors.append(f"{key}: unknown field; allowed: {', '.join(FIELDS)}")
    return errors


def _schema_errors(
    codec: Codec, message: dict[str, Any], event_type: str, given: dict[str, Any], payload: dict[str, Any]
) -> list[str]:
    """Schema errors (no domain rules) of the caller's fields, checked inside a stand-in envelope."""
    now = datetime.now(UTC)
    stand_in = str(uuid.uuid4())
    envelope = {
        "event_id": stand_in,
        "event_type": event_type,
        "occurred_at": now,
        "recorded_at": now,
        "source_agency": agencies(codec)[0],
        "correlation_id": stand_in,
        "causation_id": None,
        **given,
    }
    return field_errors(message, {"envelope": envelope, "payload": payload})


def _field_of(error: str) -> str:
    return error.split(": ", 1)[0]
