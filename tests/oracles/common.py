"""Plain helpers the oracles share. Deliberately independent of projections/: the oracles must not
reuse the code they check (only the event type and the calendar rule come from schemas)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas import Event

BERLIN = ZoneInfo("Europe/Berlin")


def local_day(at: datetime) -> date:
    return at.astimezone(BERLIN).date()


def monday(at: datetime) -> date:
    day = local_day(at)
    return day - timedelta(days=day.weekday())


def day_end(day: date) -> datetime:
    """The instant a day ends in Dortmund: midnight at the start of the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BERLIN)


def days_between(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 86400


def percentile(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def id64(event: Event) -> int:
    """The signed top 64 bits of the event id — how the projections remember applied events."""
    value = int(str(event.envelope["event_id"]).replace("-", "")[:16], 16)
    return value - 2**64 if value >= 2**63 else value


def by_key(events: Iterable[Event], field: str, types: frozenset[str]) -> dict[str, list[Event]]:
    """Events of the given types per key, in log order."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.event_type in types:
            grouped[event.payload[field]].append(event)
    return grouped


def bucket(days: int, bounds: list[tuple[int, str]], last: str) -> str:
    for limit, name in bounds:
        if days <= limit:
            return name
    return last


ERASURES = frozenset({"CaseErased", "ApplicationErased"})


def walk(
    stream: list[Event], refusal: Callable[[list[Event], Event], str | None]
) -> tuple[list[Event], Event | None, list[Event]]:
    """One key's events: those kept, the erasure that ended it (or None), and those refused.

    After an erasure every later event of the key is refused, except a repeated erasure (a no-op); an
    erasure of a key with nothing kept is a no-op too.
    """
    kept: list[Event] = []
    refused: list[Event] = []
    erasure: Event | None = None
    for event in stream:
        if event.event_type in ERASURES:
            if kept and erasure is None:
                erasure = event
            continue
        if erasure is not None:
            refused.append(event)
        elif id64(event) in {id64(k) for k in kept}:
            continue  # a repeat of an event already applied
        elif refusal(kept, event) is not None:
            refused.append(event)
        else:
            kept.append(event)
    return kept, erasure, refused


def anonymous(erasure: Event) -> str:
    """What an erased key becomes: ``erased-`` and the erasure event's id in hex."""
    return "erased-" + str(erasure.envelope["event_id"]).replace("-", "")


def sealed_key_id(payload: dict) -> str | None:
    sealed = payload.get("client_sealed")
    return sealed["key_id"] if sealed else None
