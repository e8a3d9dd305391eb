"""Dead letters: the original bytes, where they came from, why they were not applied — and reading them back.

Headers on every dead letter: ``kim.reason``, ``kim.projection``, ``kim.source.topic`` /
``.partition`` / ``.offset`` / ``.timestamp`` / ``.timestamp_type`` (the source record's Kafka timestamp, on the
event topics the broker's append time: a re-drive judges a retired signing key by it, as the stream side did),
``kim.failed_at``, ``kim.attempt`` (1 for the first failure) and,
for a re-driven letter that failed again, ``kim.history`` (earlier reasons, JSON) and
``kim.redriven_from`` (the DLQ position of the letter it came from). ``kim.event_type`` names the
writer's type when the fingerprint told it, even for a body that could not be read. A record so large that
its letter (bytes plus headers) would exceed Kafka's limit is dead-lettered without its bytes (value empty,
``kim.value_omitted`` says how many): it stays readable at its source offset, and the partition moves on.

Which projection writes the letter of which bad record (so that each lands at least once, and twice
only when two projections each need it) is decided in ``streams/runtime/judge.py``.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from fastavro import schemaless_reader

from projections.records import Rejection
from schemas import Codec
from schemas.codec import HEADER_SIZE, MAGIC
from schemas.sealing import SEALED
from schemas.signing import SIG_HEADER, SIGNER_HEADER
from streams.kafka.connection import KafkaConnection
from streams.kafka.topics import end_offsets

SOURCE_TIMESTAMP, SOURCE_TIMESTAMP_TYPE = "kim.source.timestamp", "kim.source.timestamp_type"


def dlq_headers(
    projection: str,
    rejection: Rejection,
    attempt: int = 1,
    history: Sequence[str] = (),
    redriven_from: str | None = None,
) -> list[tuple[str, bytes]]:
    record = rejection.record
    headers = {
        "kim.reason": rejection.reason,
        "kim.projection": projection,
        "kim.source.topic": record.topic,
        "kim.source.partition": str(record.partition),
        "kim.source.offset": str(record.offset),
        "kim.failed_at": datetime.now(UTC).isoformat(),
        "kim.attempt": str(attempt),
    }
    if record.timestamp is not None and record.timestamp_type is not None:
        headers[SOURCE_TIMESTAMP] = str(record.timestamp)
        headers[SOURCE_TIMESTAMP_TYPE] = str(record.timestamp_type)
    if rejection.event_type:
        headers["kim.event_type"] = rejection.event_type
    headers.update((k, v.decode(errors="replace")) for k, v in record.headers if k in (SIGNER_HEADER, SIG_HEADER))
    if history:
        headers["kim.history"] = json.dumps(list(history), ensure_ascii=False)
    if redriven_from:
        headers["kim.redriven_from"] = redriven_from
    return [(k, v.encode()) for k, v in headers.items()]


OMITTED_HEADER = "kim.value_omitted"
MAX_LETTER_KEY = 1024  # a key longer than this is cut in a letter without bytes (it only picks the partition)
PSEUDONYM_OMITTED = (
    "the record carries a client's pseudonym in clear: its bytes stay only at the source position, never copied"
)


@functools.cache
def _codec() -> Codec:
    return Codec()


def shows_a_pseudonym(value: bytes | None) -> bool:
    """Whether a record's bytes carry a client's pseudonym in clear: a CaseOpened or ApplicationFiled written
    without sealing (version 1, or a raw producer's version 2). Its letter must not copy them — a copy in
    ``kim.dlq`` would be one more place an erasure cannot reach. Unreadable bytes of those types count as
    carrying one (the letter cannot tell)."""
    if not value or value[:2] != MAGIC or len(value) < HEADER_SIZE:
        return False
    writer = _codec().writer_schema(value[2:HEADER_SIZE])
    if writer is None or writer.event_type not in SEALED:
        return False
    try:
        payload = schemaless_reader(io.BytesIO(value[HEADER_SIZE:]), writer.parsed, None)["payload"]
    except Exception:  # corrupt bytes of a type that names a client: keep them out of the letter
        return True
    return payload.get("client_ref") is not None


async def send_rejections(
    producer: AIOKafkaProducer,
    dlq_topic: str,
    projection: str,
    rejections: list[Rejection],
    extra: Sequence[tuple[str, bytes]] = (),
) -> None:
    """One letter per rejection, acknowledged; ``extra`` headers on each (a rebuild marks its letters)."""
    futures = [await _send_letter(producer, dlq_topic, projection, r, extra) for r in rejections]
    await asyncio.gather(*futures)


async def _send_letter(
    producer: AIOKafkaProducer, dlq_topic: str, projection: str, r: Rejection, extra: Sequence[tuple[str, bytes]]
) -> asyncio.Future:
    """The letter with the record's bytes or, when that is over the producer's limit, without them: a letter
    too large must never stop the partition (the record itself stays in the log at its source offset)."""
    headers = [*dlq_headers(projection, r), *extra]
    if shows_a_pseudonym(r.record.value):
        omitted = (OMITTED_HEADER, PSEUDONYM_OMITTED.encode())
        return await producer.send(dlq_topic, b"", key=r.record.key, headers=[*headers, omitted])
    try:
        return await producer.send(dlq_topic, r.record.value, key=r.record.key, headers=headers)
    except MessageSizeTooLargeError:
        size = len(r.record.value or b"") + len(r.record.key or b"")
        omitted = (OMITTED_HEADER, f"{size} bytes of key and value, over Kafka's limit for a letter".encode())
        key = r.record.key[:MAX_LETTER_KEY] if r.record.key is not None else None
        return await producer.send(dlq_topic, b"", key=key, headers=[*headers, omitted])


async def send_once(
    conn: asyncpg.Connection,
    producer: AIOKafkaProducer,
    dlq_topic: str,
    projection: str,
    rejections: list[Rejection],
    extra: Sequence[tuple[str, bytes]] = (),
) -> list[Rejection]:
    """``send_rejections`` for the records no letter of ``projection`` was sent for yet; returns those sent.

    The positions are kept in ``dead_letters_sent`` (migration 0132) in the caller's transaction, so a rebuild
    does not dead-letter again what the live projection (or an earlier rebuild) already did, and a letter is
    written once per record and projection — twice only when a transaction fails after its letters were sent.
    """
    if not rejections:
        return []
    topics = [r.record.topic for r in rejections]
    partitions = [r.record.partition for r in rejections]
    offsets = [r.record.offset for r in rejections]
    known = {
        (row["topic"], row["partition"], row["offset"])
        for row in await conn.fetch(
            'SELECT topic, partition, "offset" FROM dead_letters_sent WHERE projection = $1'
            ' AND (topic, partition, "offset") IN (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[]))',
            projection,
            topics,
            partitions,
            offsets,
        )
    }
    fresh = [r for r in rejections if (r.record.topic, r.record.partition, r.record.offset) not in known]
    if fresh:
        await send_rejections(producer, dlq_topic, projection, fresh, extra)
        await conn.execute(
            'INSERT INTO dead_letters_sent (projection, topic, partition, "offset")'
            " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[]) ON CONFLICT DO NOTHING",
            projection,
            [r.record.topic for r in fresh],
            [r.record.partition for r in fresh],
            [r.record.offset for r in fresh],
        )
    return fresh


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, with its headers read back."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: the source record was a tombstone
    headers: dict[str, str] = field(repr=False)

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        return self.headers.get("kim.reason", "")

    @property
    def projection(self) -> str:
        return self.headers.get("kim.projection", "")

    @property
    def source(self) -> tuple[str, int, int]:
        h = self.headers
        return (
            h.get("kim.source.topic", ""),
            int(h.get("kim.source.partition", -1)),
            int(h.get("kim.source.offset", -1)),
        )

    @property
    def source_timestamp(self) -> tuple[int | None, int | None]:
        """The source record's Kafka timestamp (ms) and its type; (None, None) in a letter of an older kim."""
        h = self.headers
        try:
            return int(h[SOURCE_TIMESTAMP]), int(h[SOURCE_TIMESTAMP_TYPE])
        except (KeyError, ValueError):
            return None, None

    @property
    def failed_at(self) -> datetime | None:
        raw = self.headers.get("kim.failed_at")
        return datetime.fromisoformat(raw) if raw else None

    @property
    def attempt(self) -> int:
        return int(self.headers.get("kim.attempt", "1"))

    @property
    def history(self) -> list[str]:
        return json.loads(self.headers.get("kim.history", "[]"))


@dataclass(frozen=True)
class LetterFilter:
    projection: str | None = None
    reason: str | None = None  # a substring, case-insensitive
    source_topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        failed = letter.failed_at
        return (
            (self.projection is None or letter.projection == self.projection)
            and (self.reason is None or self.reason.lower() in letter.reason.lower())
            and (self.source_topic is None or letter.source[0] == self.source_topic)
            and (self.since is None or (failed is not None and failed >= self.since))
            and (self.until is None or (failed is not None and failed < self.until))
        )


async def read_dead_letters(kafka: KafkaConnection, dlq_topic: str, timeout: float = 60.0) -> list[DeadLetter]:
    """Every dead letter from the beginning to the end offsets at call time, in offset order per partition."""
    ends = {TopicPartition(t, p): e for (t, p), e in (await end_offsets(kafka, [dlq_topic])).items() if e > 0}
    if not ends:
        return []
    consumer = kafka.consumer()
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        todo = set(ends)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while todo and loop.time() < deadline:
            for tp, records in (await consumer.getmany(*todo, timeout_ms=500)).items():
                letters += [
                    DeadLetter(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        {k: v.decode(errors="replace") for k, v in r.headers},
                    )
                    for r in records
                    if r.offset < ends[tp]
                ]
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
