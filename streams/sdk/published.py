"""Where Kafka stored an event: what a publisher returns for every acknowledged event."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    topic: str
    partition: int
    offset: int
    event_id: str
