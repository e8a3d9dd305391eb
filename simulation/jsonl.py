"""Events as JSON lines: ``{"agency", "event_type", "occurred_at", "payload"}`` one per line, keys sorted.

The line format ``kim publish FILE.jsonl`` reads. Timestamps are ISO 8601 in UTC with ``Z``,
dates ISO (``2025-03-01``); no event ids (the publisher assigns them). Same events, same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import IO, Any

from schemas import Codec
from simulation.engine import SimEvent
from streams.sdk.convert import from_json
from streams.sdk.publisher import EventDraft


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_line(event: SimEvent) -> str:
    """One event as one JSON line (without the newline)."""
    draft = event.draft
    record = {
        "agency": event.agency,
        "event_type": draft.event_type,
        "occurred_at": draft.occurred_at,
        "payload": draft.payload,
    }
    return json.dumps(record, sort_keys=True, separators=(", ", ": "), ensure_ascii=False, default=_iso)


def write_jsonl(events: Iterable[SimEvent], out: IO[str]) -> int:
    """Write every event as a line; returns how many."""
    n = 0
    lines: list[str] = []
    for event in events:
        lines.append(to_line(event))
        n += 1
        if len(lines) >= 4096:
            out.write("\n".join(lines) + "\n")
            lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")
    return n


def from_line(line: str, codec: Codec | None = None) -> SimEvent:
    """Parse one line back into a ``SimEvent`` (timestamps and dates typed by the event's schema)."""
    codec = codec or Codec()
    data = json.loads(line)
    event_type = data["event_type"]
    message = codec.schema_for(event_type).schema
    converted = from_json(message, {"envelope": {"occurred_at": data["occurred_at"]}, "payload": data["payload"]})
    if converted.errors:
        raise ValueError("; ".join(converted.errors))
    draft = EventDraft(event_type, converted.value["payload"], occurred_at=converted.value["envelope"]["occurred_at"])
    return SimEvent(data["agency"], draft)


def read_jsonl(lines: Iterable[str], codec: Codec | None = None) -> Iterator[SimEvent]:
    """Every non-blank line as a ``SimEvent``."""
    codec = codec or Codec()
    for line in lines:
        if line.strip():
            yield from_line(line, codec)
