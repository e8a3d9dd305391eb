"""What a sink receives from the stream side: a log position, the raw bytes and the decoded event."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Event

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LogRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()  # kim.signer / kim.sig (schemas/signing.py)

    @property
    def tp(self) -> TopicPartition:
        return (self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record a projection could not apply, with the reason; it goes to the dead-letter topic."""

    record: LogRecord
    reason: str
    event_type: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    """One event a projection accepted, still paired with its log position."""

    record: LogRecord
    event: Event


def next_offsets(records: list[LogRecord]) -> dict[TopicPartition, int]:
    """The checkpoint each partition moves to after these records: highest offset + 1."""
    positions: dict[TopicPartition, int] = {}
    for record in records:
        if record.offset + 1 > positions.get(record.tp, -1):
            positions[record.tp] = record.offset + 1
    return positions
