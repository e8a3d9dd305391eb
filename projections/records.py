"""What a sink receives from the stream side: a log position, the raw bytes and the decoded event."""

from __future__ import annotations

from typing import NamedTuple

from schemas import Event

TopicPartition = tuple[str, int]

# Kafka's timestamp types (a record's ``timestamp_type``): the producer's time, or the broker's when it appended.
CREATE_TIME, LOG_APPEND_TIME = 0, 1


class LogRecord(NamedTuple):
    """One record of a source topic as the stream side read it.

    Named tuples rather than frozen dataclasses, here and below: the bulk path builds several per log
    record, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost about
    3 µs per record of a rebuild; a named tuple is as immutable and about four times cheaper to build.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()  # kim.signer / kim.sig (schemas/signing.py)
    # Kafka's timestamp (ms since the epoch) and its type: on the event topics (``message.timestamp.type=
    # LogAppendTime``) the time the broker appended the record; None when unknown (a letter of an older kim).
    timestamp: int | None = None
    timestamp_type: int | None = None  # CREATE_TIME or LOG_APPEND_TIME

    @property
    def tp(self) -> TopicPartition:
        return (self.topic, self.partition)


class Rejection(NamedTuple):
    """A record a projection could not apply, with the reason; it goes to the dead-letter topic."""

    record: LogRecord
    reason: str
    event_type: str | None = None


class Applied(NamedTuple):
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
