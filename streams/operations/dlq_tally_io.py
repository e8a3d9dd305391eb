"""The dead-letter tally in PostgreSQL (tables ``dlq_tally`` and ``dlq_tally_letters``, migration 0096): thin edge.

``update`` takes a transaction-scoped advisory lock per DLQ topic around load → read Kafka → save, so
two `kim status` at once take turns: the second reads only what the first had not counted.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from streams.kafka.connection import KafkaConnection
from streams.operations.dlq_tally import PartitionTally, Tally
from streams.operations.health_io import TallyRead, continue_tally

TABLES = ("dlq_tally", "dlq_tally_letters")


async def has_tables(conn: asyncpg.Connection) -> bool:
    """Whether the database has the tally (a database migrated before 0096 does not)."""
    return await conn.fetchval("SELECT bool_and(to_regclass(t) IS NOT NULL) FROM unnest($1::text[]) AS t", TABLES)


async def load(conn: asyncpg.Connection, dlq_topic: str) -> dict[int, PartitionTally]:
    positions = await conn.fetch(
        "SELECT partition, from_offset, next_offset FROM dlq_tally WHERE dlq_topic = $1", dlq_topic
    )
    letters: dict[int, dict[str, int]] = {}
    for r in await conn.fetch(
        "SELECT partition, projection, letters FROM dlq_tally_letters WHERE dlq_topic = $1", dlq_topic
    ):
        letters.setdefault(r["partition"], {})[r["projection"]] = r["letters"]
    return {
        r["partition"]: PartitionTally(r["from_offset"], r["next_offset"], letters.get(r["partition"], {}))
        for r in positions
    }


async def save(conn: asyncpg.Connection, dlq_topic: str, before: Tally, after: Tally) -> None:
    """Write the partitions whose tally changed, and forget those the topic no longer has."""
    gone = sorted(set(before) - set(after))
    changed = sorted(p for p, part in after.items() if before.get(p) != part)
    if gone:
        await conn.execute("DELETE FROM dlq_tally WHERE dlq_topic = $1 AND partition = ANY($2)", dlq_topic, gone)
    if not changed:
        return
    await conn.executemany(
        "INSERT INTO dlq_tally (dlq_topic, partition, from_offset, next_offset) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (dlq_topic, partition) DO UPDATE"
        " SET from_offset = excluded.from_offset, next_offset = excluded.next_offset, updated_at = now()",
        [(dlq_topic, p, after[p].from_offset, after[p].next_offset) for p in changed],
    )
    await conn.execute("DELETE FROM dlq_tally_letters WHERE dlq_topic = $1 AND partition = ANY($2)", dlq_topic, changed)
    rows = [(dlq_topic, p, name, n) for p in changed for name, n in after[p].letters.items() if n > 0]
    if rows:
        await conn.copy_records_to_table(
            "dlq_tally_letters", records=rows, columns=["dlq_topic", "partition", "projection", "letters"]
        )


async def update(
    conn: asyncpg.Connection,
    kafka: KafkaConnection,
    dlq_topic: str,
    partitions: Iterable[int],
    timeout: float,
) -> TallyRead:
    """Carry the stored tally on to the DLQ's end offsets and store it, in one transaction.

    Waiting for another update's lock is bounded by ``timeout`` too (then ``asyncpg.LockNotAvailableError``).
    A read that runs out of time stores what it counted, and the next update continues from there.
    """
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"kim-dlq-tally|{dlq_topic}")
        stored = await load(conn, dlq_topic)
        result = await continue_tally(kafka, dlq_topic, partitions, stored, timeout)
        await save(conn, dlq_topic, stored, result.tally)
    return result
