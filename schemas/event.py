"""The decoded form of one event, as every reader sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
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
