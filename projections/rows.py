"""What a sink does per table and batch: load the touched rows, and merge the changed ones back.

Loading is one ``= ANY($1)`` select. Merging is a binary COPY into a per-connection temporary
table (created once per connection, emptied at commit) and one ``INSERT … SELECT … ON CONFLICT DO
UPDATE``: COPY moves rows several times faster than a multi-row ``unnest`` upsert and carries array
and JSON columns as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg


async def load(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], key_column: str, keys: Iterable[Any]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {key_column} = ANY($1::text[])", list(keys)
    )


async def merge(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    conflict: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """Insert or replace ``rows`` (tuples in ``columns`` order), identified by the ``conflict`` columns."""
    if not rows:
        return
    stage = f"{table}_stage"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(stage, records=rows, columns=list(columns))
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in conflict)
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    )
