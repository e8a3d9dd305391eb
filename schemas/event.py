"""The decoded form of one event, as every reader sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple


class Event(NamedTuple):
    """An event: its type, envelope and payload (a named tuple: immutable, and cheap to build per record)."""

    event_type: str
    envelope: dict[str, Any]
    payload: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.envelope["event_id"])

    @property
    def occurred_at(self) -> datetime:
        return self.envelope["occurred_at"]

    @property
    def source_agency(self) -> str:
        return self.envelope["source_agency"]
