"""What every fold shares: rejections, repeat detection by event id, consents, calendar days. Pure, no I/O."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import lru_cache
from typing import Any, TypeVar

from schemas import Event
from schemas.errors import KimError
from schemas.rules import event_date

__all__ = [
    "Rejected",
    "consent_problem",
    "event_date",
    "fold_by_key",
    "grant_consent",
    "replaced",
    "seen_id",
    "withdraw_consent",
]

_TOP = 1 << 63


class Rejected(KimError):
    """The event contradicts the history a projection keeps; it is dead-lettered, never applied."""


def seen_id(event: Event) -> int | None:
    """The event's id as a signed 64-bit number (its first 8 bytes), kept per key to drop repeats.

    A partner that sends the same event twice produces two records with one ``event_id``; the
    catalog says readers drop repeats by it. Within one key's few dozen ids 64 bits never collide
    in practice. ``None`` for hand-made events without an id (they are never treated as repeats).
    """
    raw: Any = event.envelope.get("event_id")
    if raw is None:
        return None
    if not isinstance(raw, uuid.UUID):
        raw = uuid.UUID(str(raw))
    high = raw.int >> 64
    return high - (1 << 64) if high >= _TOP else high


# Consents live in a key's row as JSON text, written canonically (sorted keys, no spaces) so that
# the same history gives byte-identical text: {"<consent_id>": {"to": [...], "until": "YYYY-MM-DD"
# or null, "withdrawn": "<ISO timestamp>" or null}}.
NO_CONSENTS = "{}"


# What ``json.dumps(consents, sort_keys=True, separators=(",", ":"))`` builds on every call, built once: the
# constructor was a third of the cost of writing a case's consents, which happens on every grant of a rebuild.
_dump = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


@lru_cache(maxsize=4096)
def _parsed(consents: str) -> dict[str, Any]:
    """Parsed once per distinct text (a case's consents change rarely); callers must not change it."""
    return json.loads(consents)


def grant_consent(consents: str, case_id: str, payload: dict[str, Any]) -> str:
    parsed = dict(_parsed(consents))  # a copy of the top level: only a new entry is added below
    consent_id = payload["consent_id"]
    if consent_id in parsed:
        raise Rejected(f"consent {consent_id} of case {case_id} was already granted")
    until: date | None = payload.get("valid_until")
    parsed[consent_id] = {
        "to": sorted(payload["recipients"]),
        "until": until.isoformat() if until is not None else None,
        "withdrawn": None,
    }
    return _dump(parsed)


def withdraw_consent(consents: str, case_id: str, consent_id: str, at: datetime) -> str:
    parsed = json.loads(consents)
    consent = parsed.get(consent_id)
    if consent is None:
        raise Rejected(f"consent {consent_id} of case {case_id} was never granted")
    if consent["withdrawn"] is not None:
        raise Rejected(f"consent {consent_id} of case {case_id} was already withdrawn")
    consent["withdrawn"] = at.isoformat()
    return _dump(parsed)


def consent_problem(consents: str, consent_id: str, agency: str, at: datetime) -> str | None:
    """Why ``consent_id`` does not let data pass to ``agency`` at ``at`` (docs/domain.md rule 2), or None."""
    consent = _parsed(consents).get(consent_id)
    if consent is None:
        return f"consent {consent_id} was never granted for this case"
    if agency not in consent["to"]:
        return f"consent {consent_id} does not cover {agency}"
    if consent["withdrawn"] is not None and datetime.fromisoformat(consent["withdrawn"]) <= at:
        return f"consent {consent_id} was withdrawn on {consent['withdrawn'][:10]}"
    if consent["until"] is not None and event_date(at).isoformat() > consent["until"]:
        return f"consent {consent_id} expired after {consent['until']}"
    return None


S = TypeVar("S")
R = TypeVar("R", bound=tuple[Any, ...])

_FIELD_INDEX: dict[type, dict[str, int]] = {}


def replaced(row: R, **changes: Any) -> R:
    """``row._replace(**changes)`` for a named tuple, at about half the cost.

    NamedTuple's ``_replace`` passes every field through ``dict.pop`` (some 20 per row here); this copies the
    tuple once and sets the changed fields. The folds make one such copy per event of a rebuild.
    """
    cls = type(row)
    index = _FIELD_INDEX.get(cls)
    if index is None:
        index = _FIELD_INDEX[cls] = {name: i for i, name in enumerate(cls._fields)}  # type: ignore[attr-defined]
    values = list(row)
    try:
        for name, value in changes.items():
            values[index[name]] = value
    except KeyError:
        raise ValueError(f"{cls.__name__} has no field {name!r}") from None
    return tuple.__new__(cls, values)  # type: ignore[return-value]


def fold_by_key(
    state: dict[str, S],
    events: Iterable[Event],
    relevant: frozenset[str],
    key_field: str,
    evolve: Callable[[S | None, Event], S | None],
    changed: Callable[[str, S | None, S], None],
) -> list[tuple[int, str]]:
    """The loop every fold shares: evolve each relevant event's key in order, updating ``state`` in place.

    ``changed(key, old, new)`` hears of every real change; the return value lists ``(index, reason)``
    of the events ``evolve`` rejected (they change nothing).
    """
    rejected: list[tuple[int, str]] = []
    for index, event in enumerate(events):
        if event.event_type not in relevant:
            continue
        key = event.payload[key_field]
        old = state.get(key)
        try:
            new = evolve(old, event)
        except Rejected as why:
            rejected.append((index, str(why)))
            continue
        if new is None or new is old:
            continue
        state[key] = new
        changed(key, old, new)
    return rejected
