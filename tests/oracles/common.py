"""Plain helpers the oracles share. Deliberately independent of projections/: the oracles must not
reuse the code they check (only the event type and the calendar rule come from schemas)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
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
