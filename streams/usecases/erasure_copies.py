"""Erasure reaches the copies of the read models: every copy `kim replay` left beside them.

An as-of copy (and an interrupted rebuild's copy) is a schema of its own holding the projection's tables as
they were (projections/copies.py). The live read models make an erased client's rows anonymous when they
apply the erasure events; a copy reads no more events, so here the same events are applied to it directly,
through the projection's own fold and sink, with the copy's tables first on the search path. The copy's
checkpoints do not move: a rebuild that later reaches these events on the log finds them applied (the folds
drop an erasure of what is already erased).
"""

from __future__ import annotations

import asyncpg

from projections import checkpoints
from projections.records import Applied
from projections.registry import PROJECTIONS

# The rows that identify a client's cases and applications, per projection: (table, id column, which ids).
TABLES = {
    "caseload": (("caseload_cases", "case_id", "cases"),),
    "referrals": (("referral_cases", "case_id", "cases"), ("referrals", "case_id", "cases")),
    "backlog": (
        ("backlog_applications", "application_id", "applications"),
        ("backlog_intervals", "application_id", "applications"),
    ),
    "outcomes": (("outcomes_cases", "case_id", "cases"), ("outcomes_goals", "case_id", "cases")),
}


async def count_rows(
    conn: asyncpg.Connection, ids: dict[str, list[str]], projections: tuple[str, ...] = tuple(TABLES)
) -> dict[str, dict[str, int]]:
    """Rows per projection and table (of the connection's search path) that still carry one of the ids
    (``{"cases": […], "applications": […]}``)."""
    out: dict[str, dict[str, int]] = {}
    for projection in projections:
        out[projection] = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = ANY($1::text[])", ids[which])
            for table, column, which in TABLES[projection]
        }
    return out


async def copies_of_read_models(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(copy schema, projection) of every copy that exists: as-of copies, and rebuilds not swapped in yet."""
    rows = await conn.fetch(
        "SELECT r.copy_schema, r.projection FROM projection_rebuilds r"
        " JOIN pg_namespace n ON n.nspname = r.copy_schema ORDER BY r.copy_schema"
    )
    return [(r["copy_schema"], r["projection"]) for r in rows]


async def erase_in_copies(
    database_url: str, copies: list[tuple[str, str]], ids: dict[str, list[str]], events: list[Applied]
) -> dict[str, dict[str, int]]:
    """Apply the erasure events to each copy; per copy schema, the rows per table that carried the ids."""
    erased: dict[str, dict[str, int]] = {}
    for schema, name in copies:
        projection = PROJECTIONS.get(name)
        if projection is None:
            continue
        mine = [a for a in events if projection.event_types is None or a.event.event_type in projection.event_types]
        conn = await asyncpg.connect(database_url, timeout=10, server_settings={"search_path": f"{schema}, public"})
        try:
            async with conn.transaction():
                # the lock the live sink and the rebuild take for these partitions: never beside a batch of the copy
                await checkpoints.lock_partitions(conn, name, {a.record.tp for a in mine})
                before = (await count_rows(conn, ids, (name,)))[name]
                if mine and any(before.values()):
                    await projection.apply(conn, mine)
        finally:
            await conn.close()
        erased[schema] = before
    return erased
