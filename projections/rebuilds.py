"""The ``projection_rebuilds`` registry (migration 0070): one row per copy, read by `kim status` and metrics.

States: ``running`` (folding), ``verifying`` (comparing and swapping), ``swapped`` (a rebuild is
live), ``ready`` (an as-of copy can be queried), ``failed`` (stopped, ``detail`` says why; running
the command again resumes), ``dropped``. A ``running``/``verifying`` row whose ``updated_at`` is
older than ``STALE_AFTER`` seconds belongs to an interrupted replay.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

STALE_AFTER = 30.0
ACTIVE = ("running", "verifying")


async def find(conn: asyncpg.Connection, schema: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM projection_rebuilds WHERE copy_schema = $1", schema)


async def start(
    conn: asyncpg.Connection,
    schema: str,
    projection: str,
    kind: str,
    from_at: datetime | None,
    until_at: datetime | None,
) -> None:
    """A new row, or a finished row of the same name started over."""
    await conn.execute(
        """
        INSERT INTO projection_rebuilds (copy_schema, projection, kind, from_at, until_at, state)
        VALUES ($1, $2, $3, $4, $5, 'running')
        ON CONFLICT (copy_schema) DO UPDATE
        SET projection = EXCLUDED.projection, kind = EXCLUDED.kind, from_at = EXCLUDED.from_at,
            until_at = EXCLUDED.until_at, state = 'running', total = NULL, applied = 0, started_at = now(),
            updated_at = now(), finished_at = NULL, detail = NULL
        """,
        schema,
        projection,
        kind,
        from_at,
        until_at,
    )


async def set_state(conn: asyncpg.Connection, schema: str, state: str, detail: str | None = None) -> None:
    finished = "now()" if state not in ACTIVE else "NULL"
    await conn.execute(
        f"UPDATE projection_rebuilds SET state = $2, detail = coalesce($3, detail), updated_at = now(),"
        f" finished_at = {finished} WHERE copy_schema = $1",
        schema,
        state,
        detail,
    )


async def progress(conn: asyncpg.Connection, schema: str, applied: int, total: int | None) -> None:
    await conn.execute(
        "UPDATE projection_rebuilds SET applied = $2, total = coalesce($3, total), updated_at = now()"
        " WHERE copy_schema = $1 AND state IN ('running', 'verifying')",
        schema,
        applied,
        total,
    )


async def listing(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT *, extract(epoch FROM now() - updated_at) AS idle_seconds FROM projection_rebuilds"
        " ORDER BY started_at DESC"
    )
