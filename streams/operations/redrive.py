"""Re-drive dead letters into the projection that rejected them, each at most once.

One transaction per letter: mark it in ``dlq_redriven`` (the primary key makes a second
re-drive of the same letter a no-op, and serialises two concurrent ones), apply it through
the projection's own ``apply``, and — if it fails again — send it back to the DLQ with its
attempt count and history before committing. A re-driven event is applied late, after events
of its key that came later in the log; re-drive after fixing what rejected it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from projections import checkpoints
from projections.projection import Projection
from projections.records import LogRecord, Rejection
from schemas import Codec
from schemas.signing import SIG_HEADER, SIGNER_HEADER
from streams.kafka.connection import KafkaConnection
from streams.runtime import authenticity_io
from streams.runtime.dlq import DeadLetter, dlq_headers
from streams.runtime.judge import judge


@dataclass(frozen=True)
class RedriveResult:
    applied: int
    failed_again: int
    already_redriven: int


async def redrive(
    kafka: KafkaConnection,
    database_url: str,
    projection: Projection,
    letters: Sequence[DeadLetter],
    dlq_topic: str,
    *,
    platform_secret: bytes | None,
) -> RedriveResult:
    codec = Codec()
    applied = failed = already = 0
    producer = kafka.producer()
    await producer.start()
    conn = await asyncpg.connect(database_url)
    try:
        for letter in letters:
            if letter.projection != projection.name:
                continue
            async with conn.transaction():
                # The same lock the live sink and a rebuild's swap take for the source partition: a re-drive
                # never interleaves with a batch (or a swap) that loads and rewrites the same rows.
                topic, partition, _ = letter.source
                if partition >= 0:
                    await checkpoints.lock_partitions(conn, projection.name, {(topic, partition)})
                fresh = await conn.fetchval(
                    'INSERT INTO dlq_redriven (projection, dlq_topic, partition, "offset", outcome)'
                    " VALUES ($1, $2, $3, $4, 'applied') ON CONFLICT DO NOTHING RETURNING 1",
                    projection.name,
                    letter.topic,
                    letter.partition,
                    letter.offset,
                )
                if not fresh:
                    already += 1
                    continue
                rejections = await _apply(conn, projection, codec, letter, platform_secret)
                if not rejections:
                    applied += 1
                    continue
                reason = rejections[0].reason
                await conn.execute(
                    "UPDATE dlq_redriven SET outcome = 'failed_again', reason = $5"
                    ' WHERE projection = $1 AND dlq_topic = $2 AND partition = $3 AND "offset" = $4',
                    projection.name,
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    reason,
                )
                headers = dlq_headers(
                    projection.name,
                    rejections[0],
                    attempt=letter.attempt + 1,
                    history=[*letter.history, letter.reason],
                    redriven_from=letter.position,
                )
                await producer.send_and_wait(dlq_topic, letter.value, key=letter.key, headers=headers)
                failed += 1
    finally:
        await conn.close()
        await producer.stop()
    return RedriveResult(applied, failed, already)


async def _apply(
    conn: asyncpg.Connection, projection: Projection, codec: Codec, letter: DeadLetter, platform_secret: bytes | None
) -> list[Rejection]:
    """Judged as the stream side judges (decode, topic, domain rules: streams/runtime/judge.py), then applied.

    A letter of a type the projection does not read (the topic's warden wrote it) that passes now has
    nothing to apply: it counts as applied.
    """
    topic, partition, offset = letter.source
    signed = tuple((k, v.encode()) for k, v in letter.headers.items() if k in (SIGNER_HEADER, SIG_HEADER))
    # The source record's append time travels in the letter: a retired key is judged by it, as on the stream side.
    record = LogRecord(topic, partition, offset, letter.key, letter.value, signed, *letter.source_timestamp)
    verdict = judge(projection, record, codec)
    if verdict is None:
        return []
    if isinstance(verdict, Rejection):
        return [verdict]
    accepted, forged = await authenticity_io.screen(
        conn, [verdict], platform_secret
    )  # re-driving never launders a forgery
    return forged or await projection.apply(conn, accepted)
