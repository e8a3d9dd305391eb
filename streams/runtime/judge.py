"""What the stream side accepts from a source topic, and which projection dead-letters what.

Partners normally publish through the SDK, which validates, but anything with access to the broker can
write raw bytes. So every record is judged again on the stream side, in full: it must decode (single-object
marker, a writer fingerprint the catalog knows, a body that reads exactly to its end, resolution and
upcasters), be on its type's topic, keyed by its key field and in the partition that key hashes to (murmur2, the
contract's partitioner: a record elsewhere would be read out of order with the rest of its case), pass the domain
rules of ``schemas/rules.py`` (those need no history; rules that do are the folds' job, which reject into the DLQ
as well), and not be dated after the broker appended it. The rules include
"the envelope names the type the event is encoded as": single-object encoding names the writer schema,
so an *unknown event type* is either an unknown fingerprint or an envelope ``event_type`` that
contradicts it.

Who writes the dead letter. Each letter names its projection, and ``kim dlq redrive`` re-applies it
into that projection only, so a letter is a to-do for that projection:

- A known type is judged by every projection that reads it (its ``event_types``): each needs the event
  if a fix (a rule relaxed, a fold corrected) makes it applicable, so each has its own letter.
- A known type that no projection of the topic reads (goals on ``kim.cases``; an immigration event put
  on ``kim.cases``) is judged by the topic's *warden* alone: the first projection of the registry that
  reads the topic (caseload for ``kim.cases``, backlog for ``kim.immigration``). Once fixed, re-driving
  its letter applies nothing — no projection has rows for it.
- Bytes without the single-object marker (or no value at all, a tombstone): the warden alone; no catalog
  can ever read them.
- An unknown writer fingerprint: every projection of the topic, since it may be of a type any of them
  reads once the catalog knows the schema.
- Every other projection skips the record by its fingerprint without decoding it: the speed-up of
  reading only what a projection needs is kept for the projections that do not judge the record.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from projections.projection import Projection
from projections.records import LOG_APPEND_TIME, Applied, LogRecord, Rejection
from schemas import Codec, DecodeError, Event
from schemas.codec import HEADER_SIZE, MAGIC
from schemas.domain import domain_errors
from schemas.partitioner import partition_of_key
from schemas.rules import CLOCK_SKEW
from schemas.sealing import clear_on_log
from schemas.topics import TOPICS
from schemas.validation import shown

Verdict = Applied | Rejection | None  # applied by the projection, dead-lettered, or nothing to do
SKEW_MS = CLOCK_SKEW.total_seconds() * 1000
PARTITIONS = {spec.name: spec.partitions for spec in TOPICS}  # `kim up` refuses topics whose counts differ


@dataclass(frozen=True, slots=True)
class Duties:
    """What one projection does with the records of one source topic."""

    topic: str  # the catalog name of the topic (without the deployment's prefix)
    warden: bool  # judges what no reader of the topic claims, and bytes no catalog can read
    judged: frozenset[bytes]  # known writer fingerprints this projection judges
    known: frozenset[bytes]  # every writer fingerprint the codec knows


@dataclass(frozen=True)
class _Tables:
    types: dict[bytes, str]  # writer fingerprint -> event type
    topics: dict[str, str]  # event type -> its topic in the catalog
    keys: dict[str, str]  # event type -> its key field


_TABLES: weakref.WeakKeyDictionary[Codec, _Tables] = weakref.WeakKeyDictionary()


def _tables(codec: Codec) -> _Tables:
    tables = _TABLES.get(codec)
    if tables is None:
        catalog = codec.catalog
        topics = {t: catalog.current(t).topic for t in catalog.event_types()}
        keys = {t: catalog.current(t).key_field for t in catalog.event_types()}
        tables = _TABLES[codec] = _Tables(codec.writer_types(), topics, keys)
    return tables


def reads(projection: Projection, event_type: str) -> bool:
    """Whether the projection's fold reads this type (one without ``event_types`` reads every type)."""
    wanted = projection.event_types
    return wanted is None or event_type in wanted


def catalog_topic(projection: Projection, topic: str) -> str:
    """The catalog name of a source topic, without the deployment's prefix (``test-1a.kim.cases`` -> ``kim.cases``)."""
    names = [t for t in projection.source_topics if topic.endswith(t)]
    return max(names, key=len) if names else topic


def duties(projection: Projection, topic: str, codec: Codec, peers: list[Projection]) -> Duties:
    """The duties of ``projection`` on ``topic`` among ``peers`` (every projection the platform runs, in order).

    A projection that is not among the peers (by name) judges as if it ran alone: every record of the topic.
    """
    base = catalog_topic(projection, topic)
    name = projection.name
    if any(p.name == name for p in peers):
        on_topic = [projection if p.name == name else p for p in peers]
        on_topic = [p for p in on_topic if base in p.source_topics]
    else:
        on_topic = [projection]
    warden = not on_topic or on_topic[0] is projection
    tables = _tables(codec)
    judged = set()
    for fingerprint, event_type in tables.types.items():
        readers = [p for p in on_topic if reads(p, event_type)]
        if projection in readers or (not readers and warden):
            judged.add(fingerprint)
    return Duties(base, warden, frozenset(judged), frozenset(tables.types))


def judge(projection: Projection, record: LogRecord, codec: Codec, topic: str | None = None) -> Verdict:
    """The full judgement of one record for ``projection``, whatever its duties.

    ``Applied`` if the projection reads the event and it passes every check; ``None`` if it passes but
    the projection does not read its type; otherwise a ``Rejection`` with the reason.
    """
    tables = _tables(codec)
    try:
        event = codec.decode(record.value)
    except DecodeError as why:
        value = record.value
        kind = tables.types.get(value[2:HEADER_SIZE]) if isinstance(value, bytes) and value[:2] == MAGIC else None
        return Rejection(record, f"undecodable: {why}", kind)
    topic = topic or catalog_topic(projection, record.topic)
    reason = (
        offence(event, topic, tables.topics)
        or misplaced(event, record, topic, tables.keys[event.event_type])
        or ahead_of_the_broker(event, record)
    )
    if reason is not None:
        return Rejection(record, reason, event.event_type)
    return Applied(record, event) if reads(projection, event.event_type) else None


def misplaced(event: Event, record: LogRecord, topic: str, key_field: str) -> str | None:
    """Why a record is not keyed by its event's key field, or not in the partition that key hashes to; or None.

    Order per key is what every fold relies on: a case's record in another partition would be applied before or
    after the rest of its case depending on how partitions are read, so a rebuild could disagree with the live
    projection. Checked after ``offence``, so the topic is the event type's own."""
    key = event.payload.get(key_field)
    expected = key.encode() if isinstance(key, str) else None
    if record.key != expected:
        keyed = "has no key" if record.key is None else "is keyed otherwise"
        return f"wrong key: the record {keyed}; {topic} records are keyed by {key_field} ({key!r})"
    partitions = PARTITIONS.get(topic)
    if partitions is None:
        return None
    home = partition_of_key(expected, partitions)
    if record.partition == home:
        return None
    return (
        f"wrong partition: {key_field} {key!r} belongs in partition {home} of {topic}, not {record.partition} "
        "(murmur2 of the UTF-8 key, Kafka's default partitioner; librdkafka clients set partitioner=murmur2_random)"
    )


def ahead_of_the_broker(event: Event, record: LogRecord) -> str | None:
    """Why an event dated after the broker appended its record (clock skew allowed) must not be applied, or None.

    The envelope's ``recorded_at`` cannot show that: whoever writes the record sets it. The broker's append time
    (the event topics are ``LogAppendTime``) is the one "now" no producer chooses."""
    if record.timestamp_type != LOG_APPEND_TIME or record.timestamp is None:
        return None
    occurred_ms = event.occurred_at.timestamp() * 1000
    if occurred_ms <= record.timestamp + SKEW_MS:
        return None
    appended = datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(timespec="milliseconds")
    return (
        f"invalid: envelope.occurred_at: {event.occurred_at.isoformat()} is after the broker appended the record "
        f"({appended}) plus {CLOCK_SKEW.seconds // 60} minutes' clock skew: an event is recorded after it happens"
    )


def offence(event: Event, topic: str, topics: dict[str, str]) -> str | None:
    """Why a decoded event must not be applied (wrong topic, domain rules), or None."""
    expected = topics.get(event.event_type)
    if expected != topic:
        return f"wrong topic: {event.event_type} belongs on {expected}, not {topic}"
    try:
        errors = domain_errors(event.event_type, event.envelope, event.payload)
    except Exception as exc:  # a decodable value the SDK's schema check would refuse (e.g. year 9999 + skew)
        errors = [f"event: the domain rules cannot be checked ({shown(exc, 120)})"]
    clear = clear_on_log(event.event_type, event.payload)
    errors = [*errors, clear] if clear is not None else errors
    if errors:
        return "invalid: " + "; ".join(errors)
    return None
