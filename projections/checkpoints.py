"""The ``(projection, topic, partition) -> next_offset`` checkpoints, read and written with the rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import asyncpg

from projections.records import TopicPartition


async def lock_partitions(conn: asyncpg.Connection, projection: str, tps: Iterable[TopicPartition]) -> None:
    """Serialise writers of the same partition (two workers during a rebalance) until commit.

    The key includes the schema the connection writes to (``current_schema()``) unless that is
    ``public``: a rebuild's shadow copy (``kim replay``) never waits on the live worker, and the
    live keys stay what they always were.
    """
    keys = sorted(f"{projection}|{topic}|{partition}" for topic, partition in tps)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "CASE WHEN current_schema() = 'public' THEN k ELSE current_schema() || '|' || k END, 0))"
        " FROM unnest($1::text[]) AS k",
        keys,
    )


async def load(conn: asyncpg.Connection, projection: str) -> dict[TopicPartition, int]:
    rows = await conn.fetch(
        "SELECT topic, partition, next_offset FROM projection_checkpoints WHERE projection = $1", projection
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def save(
    conn: asyncpg.Connection,
    projection: str,
    positions: Mapping[TopicPartition, int],
    last_event_at: Mapping[TopicPartition, datetime | None],
) -> None:
    tps = sorted(positions)
    await conn.execute(
        """
        INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, last_event_at, updated_at)
        SELECT $1, t, p, o, e, now()
        FROM unnest($2::text[], $3::int[], $4::bigint[], $5::timestamptz[]) AS u(t, p, o, e)
        ON CONFLICT (projection, topic, partition) DO UPDATE
        SET next_offset = EXCLUDED.next_offset,
            last_event_at = COALESCE(EXCLUDED.last_event_at, projection_checkpoints.last_event_at),
            updated_at = now()
        """,
        projection,
        [t for t, _ in tps],
        [p for _, p in tps],
        [positions[tp] for tp in tps],
        [last_event_at.get(tp) for tp in tps],
    )
