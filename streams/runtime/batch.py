"""What a batch of log records is to a projection, decided before any transaction: pure, no I/O.

The stream side hands in raw log records; everything that decides what a record does to a projection
happens here and in its edge ``batch_io.py`` (the transaction), so a worker, a replay and a test all
share the same path. ``prepare`` decodes the batch (pure CPU, no database) and ``batch_io.apply_prepared``
is the transaction: the record loop decodes the next batch while the database commits the previous one;
batches are still applied one after the other, each exactly once.

``prepare`` judges every record this projection is on duty for — decode, topic, domain rules — and
skips the rest by their writer fingerprint without decoding them; which projection dead-letters which
bad record is decided and explained in ``streams/runtime/judge.py``. ``prepare_many`` does the same for
several projections over one read of their topics (a rebuild of all of them): each record is decoded
and judged at most once, and each signature verified at most once, whatever the number of projections.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from projections.projection import Projection
from projections.records import Applied, LogRecord, Rejection, TopicPartition
from projections.registry import PROJECTIONS
from schemas import Codec
from schemas.codec import HEADER_SIZE, MAGIC
from streams.runtime import authenticity
from streams.runtime.judge import Duties, duties, judge, reads

OnRejected = Callable[[list[Rejection]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch decoded outside any transaction: what each record is, before the checkpoint filter."""

    records: Sequence[LogRecord]
    events: list[Applied | Rejection | None]  # per record: to apply, to dead-letter, or nothing to do
    # Signature checks already made, shared by the projections of one read (authenticity.screen).
    verified: authenticity.Verified = field(default_factory=dict)


_DUTIES: weakref.WeakKeyDictionary[Codec, dict[tuple[Projection, str], Duties]] = weakref.WeakKeyDictionary()


def _duties(projection: Projection, topic: str, codec: Codec) -> Duties:
    """Worked out once per codec, projection and topic."""
    known = _DUTIES.setdefault(codec, {})
    found = known.get((projection, topic))
    if found is None:
        found = known[(projection, topic)] = duties(projection, topic, codec, list(PROJECTIONS.values()))
    return found


def prepare(projection: Projection, records: Sequence[LogRecord], codec: Codec) -> Prepared:
    """Judge the records this projection is on duty for (streams/runtime/judge.py); skip the others unread."""
    out: list[Applied | Rejection | None] = []
    append = out.append
    topic, duty = "", None
    for record in records:
        if record.topic != topic or duty is None:
            topic, duty = record.topic, _duties(projection, record.topic, codec)
        value = record.value
        if value is not None and value[:2] == MAGIC and len(value) >= HEADER_SIZE:  # None: a tombstone
            fingerprint = value[2:HEADER_SIZE]
            if fingerprint in duty.known and fingerprint not in duty.judged:
                append(None)
                continue
        elif not duty.warden:
            append(None)
            continue
        append(judge(projection, record, codec, duty.topic))
    return Prepared(records, out)


class _ReadsEverything:
    """Stands in for the projections of one read: ``judge`` then returns the event whatever its type."""

    name = "(shared read)"
    source_topics: tuple[str, ...] = ()
    event_types = None
    tables: tuple[str, ...] = ()


_EVERYTHING = _ReadsEverything()


_SKIP, _ANY, _REJECTION = 0, 1, 2  # per reader of a record: nothing; whatever the verdict; only a rejection


@dataclass(frozen=True, slots=True)
class _Routes:
    """For the readers of one topic: per writer fingerprint, what each reader takes of the one verdict."""

    topic: str  # the catalog name
    known: dict[bytes, tuple[int, ...]]
    unknown: tuple[int, ...]  # a fingerprint the codec does not know: every reader judges (it is dead-lettered)
    unmarked: tuple[int, ...]  # no single-object marker, or a tombstone: the warden alone


_ROUTES: weakref.WeakKeyDictionary[Codec, dict[tuple[tuple[Projection, ...], str], _Routes]] = (
    weakref.WeakKeyDictionary()
)


def _routes(readers: tuple[Projection, ...], topic: str, codec: Codec) -> _Routes:
    """``prepare``'s choices (duties, then ``reads``) for each reader, worked out once per fingerprint."""
    known = _ROUTES.setdefault(codec, {})
    found = known.get((readers, topic))
    if found is None:
        duty = [_duties(p, topic, codec) for p in readers]
        types = codec.writer_types()
        table = {
            fp: tuple(
                _SKIP if fp not in d.judged else _ANY if reads(p, kind) else _REJECTION
                for p, d in zip(readers, duty, strict=True)
            )
            for fp, kind in types.items()
        }
        found = known[(readers, topic)] = _Routes(
            duty[0].topic,
            table,
            (_ANY,) * len(readers),
            tuple(_ANY if d.warden else _SKIP for d in duty),
        )
    return found


def prepare_many(projections: Sequence[Projection], records: Sequence[LogRecord], codec: Codec) -> dict[str, Prepared]:
    """``prepare`` for each projection (by name) over one batch of several topics, judging each record once.

    Each projection gets only the records of its source topics, with the same verdicts ``prepare`` would
    give it: a record is judged (decoded, topic and domain rules) once if any of them is on duty for it;
    a rejection goes to each projection on duty, an event to each on duty that reads its type.
    """
    verified: authenticity.Verified = {}
    by_topic: dict[str, list[LogRecord]] = {}
    for record in records:
        by_topic.setdefault(record.topic, []).append(record)
    mine: dict[str, list[LogRecord]] = {p.name: [] for p in projections}
    verdicts: dict[str, list[Applied | Rejection | None]] = {p.name: [] for p in projections}
    for topic, batch in by_topic.items():
        readers = tuple(p for p in projections if any(topic.endswith(t) for t in p.source_topics))
        if not readers:
            continue
        routes = _routes(readers, topic, codec)
        table, unknown, unmarked, catalog = routes.known, routes.unknown, routes.unmarked, routes.topic
        outs = [verdicts[p.name].append for p in readers]
        for p in readers:
            mine[p.name].extend(batch)
        for record in batch:
            value = record.value
            if value is not None and value[:2] == MAGIC and len(value) >= HEADER_SIZE:
                route = table.get(value[2:HEADER_SIZE], unknown)
            else:
                route = unmarked
            if not any(route):
                for out in outs:
                    out(None)
                continue
            verdict = judge(_EVERYTHING, record, codec, catalog)  # Applied or Rejection: it reads every type
            rejected = not isinstance(verdict, Applied)
            for out, take in zip(outs, route, strict=True):
                out(verdict if take == _ANY or (take == _REJECTION and rejected) else None)
    return {p.name: Prepared(mine[p.name], verdicts[p.name], verified) for p in projections}


def fresh_positions(
    records: Sequence[LogRecord], seen: dict[TopicPartition, int]
) -> tuple[list[int], dict[TopicPartition, int]]:
    """Indexes of the records not seen yet, and the checkpoint each partition with one moves to."""
    position = dict(seen)
    moved: dict[TopicPartition, int] = {}
    fresh = []
    for i, record in enumerate(records):
        tp = (record.topic, record.partition)
        if record.offset >= position.get(tp, 0):
            fresh.append(i)
            position[tp] = moved[tp] = record.offset + 1
    return fresh, moved


def latest_applied(decoded: Sequence[Applied], refused: Sequence[Rejection]) -> dict[TopicPartition, datetime]:
    """The newest event time per partition among the events the fold applied: the projection's "last event time".

    An event the fold refused (dead-lettered) does not count — a refused event dated in the year 44 or 2999 says
    nothing about how fresh the read model is."""
    out = {(r.record.topic, r.record.partition, r.record.offset) for r in refused}
    latest: dict[TopicPartition, datetime] = {}
    for item in decoded:
        record = item.record
        if (record.topic, record.partition, record.offset) in out:
            continue
        tp, at = (record.topic, record.partition), item.event.occurred_at
        if tp not in latest or at > latest[tp]:
            latest[tp] = at
    return latest


def unseen(records: Sequence[LogRecord], seen: dict[TopicPartition, int]) -> list[LogRecord]:
    """Records at or past each partition's position, each offset once.

    A batch can hold an offset twice (a consumer that seeks re-fetches what it had buffered),
    so the position advances record by record, not only from the stored checkpoint.
    """
    return [records[i] for i in fresh_positions(records, seen)[0]]
