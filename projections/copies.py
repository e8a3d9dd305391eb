"""Copies of a projection in a schema of their own: names, creation, verification and the swap.

A copy (``kim replay``) is a schema holding ``LIKE public.<table> INCLUDING ALL`` for each of the
projection's tables plus its own ``projection_checkpoints``, made and dropped by the owner's functions
``kim_copy_create``/``kim_copy_drop`` (migration 0131: no role but the owner creates objects). The sinks
name their tables without a schema, so a connection with ``search_path = <copy>, public`` folds into the
copy through the very same code as the live worker. A rebuild's copy is compared with the live tables at equal
checkpoints and its rows are swapped in by ``DELETE`` + ``INSERT … SELECT`` in one transaction:
the analysts' views stay bound to the live tables, and a reader sees the old rows or the new
ones, never a mix. No Kafka here; ``streams/operations/replay.py`` drives it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg

from projections.projection import Projection
from projections.records import Applied, Rejection
from schemas.rules import LOCAL_TIME

REBUILD, AS_OF = "rebuild", "as_of"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED = ("public", "analytics", "information_schema")


# --- names and windows (pure) ---------------------------------------------------------------------


def tables_of(projection: Projection) -> tuple[str, ...]:
    tables = projection.tables
    if not tables:
        raise ValueError(f"projection {projection.name} declares no tables; add `tables = (...)` to its class")
    return tuple(tables)


def rebuild_schema(projection: str) -> str:
    return f"rebuild_{projection}"


def as_of_schema(projection: str, until: datetime, since: datetime | None = None) -> str:
    """``asof_<projection>_<yyyy_mm_dd>`` of ``until``'s Dortmund day (with ``_from_<day>`` for a lower bound)."""
    name = f"asof_{projection}_{_day(until)}"
    return f"{name}_from_{_day(since)}" if since is not None else name


def _day(at: datetime) -> str:
    return at.astimezone(LOCAL_TIME).strftime("%Y_%m_%d")


def check_name(name: str) -> str:
    """A copy name the operator chose: a plain lower-case SQL identifier, not one of the platform's schemas."""
    if not _NAME.match(name) or name.startswith("pg_") or name in _RESERVED:
        raise ValueError(
            f"{name!r} is not a usable copy name: use lower-case letters, digits and _ (starting with a letter, "
            "at most 63), not pg_…, public or analytics"
        )
    return name


def parse_moment(text: str, *, end_of_day: bool) -> datetime:
    """An ISO time (with a zone, or Dortmund time without one), or a day: its start, or with
    ``end_of_day`` its last microsecond, in Europe/Berlin."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if end_of_day:
            return datetime.combine(day + timedelta(days=1), time(), LOCAL_TIME) - timedelta(microseconds=1)
        return datetime.combine(day, time(), LOCAL_TIME)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO day or time (e.g. 2025-03-31 or 2025-03-31T18:00+02:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TIME)


def within(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    """Whether an event that occurred at ``at`` belongs in the window (both ends inclusive)."""
    return (since is None or at >= since) and (until is None or at <= until)


class Window:
    """The projection, folding only events whose ``occurred_at`` lies in [since, until] (an as-of copy).

    Events outside are skipped like events of no interest: the checkpoint moves past them.
    Rejections are returned to the caller (who stores them), as the projection's own are.
    """

    def __init__(self, projection: Projection, since: datetime | None, until: datetime | None) -> None:
        self.inner = projection
        self.name = projection.name
        self.source_topics = projection.source_topics
        self.tables = tables_of(projection)
        self.since, self.until = since, until
        self.event_types = projection.event_types

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        inside = [a for a in batch if within(a.event.occurred_at, self.since, self.until)]
        return await self.inner.apply(conn, inside) if inside else []


# --- SQL text (pure) --------------------------------------------------------------------------------


def verify_sql(schema: str, table: str, keys: Sequence[str]) -> str:
    """Row counts and per-key row checksums of the live table against the copy's.

    One row: live_rows, copy_rows, only_live, only_copy, differing, examples (up to five keys).
    """
    cols = ", ".join(keys)
    on = " AND ".join(f"l.{k} = c.{k}" for k in keys)
    key_text = " || '/' || ".join(f"coalesce(l.{k}, c.{k})::text" for k in keys)
    return f"""
        WITH l AS (SELECT {cols}, md5(t::text) AS h FROM public.{table} t),
             c AS (SELECT {cols}, md5(t::text) AS h FROM {schema}.{table} t),
             d AS (SELECT CASE WHEN c.h IS NULL THEN 'only live' WHEN l.h IS NULL THEN 'only copy' ELSE 'differs' END
                            AS side, {key_text} AS k
                   FROM l FULL JOIN c ON {on} WHERE l.h IS DISTINCT FROM c.h)
        SELECT (SELECT count(*) FROM public.{table}) AS live_rows,
               (SELECT count(*) FROM {schema}.{table}) AS copy_rows,
               count(*) FILTER (WHERE side = 'only live') AS only_live,
               count(*) FILTER (WHERE side = 'only copy') AS only_copy,
               count(*) FILTER (WHERE side = 'differs') AS differing,
               (array_agg(side || ' ' || k ORDER BY k))[1:5] AS examples
        FROM d"""


def swap_sql(schema: str, table: str, columns: Sequence[str]) -> list[str]:
    """Replace the live rows by the copy's (plain DELETE: MVCC-safe, unlike TRUNCATE)."""
    names = ", ".join(columns)
    return [f"DELETE FROM public.{table}", f"INSERT INTO public.{table} ({names}) SELECT {names} FROM {schema}.{table}"]


# --- verification result (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class TableCheck:
    table: str
    live_rows: int
    copy_rows: int
    only_live: int
    only_copy: int
    differing: int
    examples: tuple[str, ...] = ()

    @property
    def equal(self) -> bool:
        return not (self.only_live or self.only_copy or self.differing) and self.live_rows == self.copy_rows


def describe(checks: Sequence[TableCheck]) -> str:
    """One line per table: counts, and what differs by key."""
    lines = []
    for c in checks:
        text = f"{c.table}: live {c.live_rows:,} rows, copy {c.copy_rows:,} rows"
        if c.equal:
            text += ", every row equal"
        else:
            text += f"; keys only in live {c.only_live:,}, only in copy {c.only_copy:,}, differing {c.differing:,}"
            if c.examples:
                text += " (e.g. " + "; ".join(c.examples) + ")"
        lines.append(text)
    return "\n".join(lines)


# --- PostgreSQL -----------------------------------------------------------------------------------


async def schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema))


async def create(conn: asyncpg.Connection, schema: str, tables: Sequence[str], as_of: bool) -> None:
    """Made by the owner (``kim_copy_create``, migration 0131): no role but the owner creates objects."""
    await conn.execute("SELECT kim_copy_create($1, $2::text[], $3)", schema, list(tables), as_of)


async def drop(conn: asyncpg.Connection, schema: str) -> None:
    """Dropped by the owner (``kim_copy_drop``), which refuses a schema that is not a copy."""
    await conn.execute("SELECT kim_copy_drop($1)", schema)


async def key_columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT a.attname FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary
        ORDER BY array_position(i.indkey::int2[], a.attnum)
        """,
        f"public.{table}",
    )
    if not rows:
        raise ValueError(f"table public.{table} has no primary key to compare copies by")
    return [r[0] for r in rows]


async def columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        f"public.{table}",
    )
    return [r[0] for r in rows]


async def verify(conn: asyncpg.Connection, schema: str, tables: Sequence[str]) -> list[TableCheck]:
    checks = []
    for table in tables:
        row = await conn.fetchrow(verify_sql(schema, table, await key_columns(conn, table)))
        checks.append(TableCheck(table, *(row[i] for i in range(5)), tuple(row[5] or ())))
    return checks


async def swap(conn: asyncpg.Connection, schema: str, tables: Sequence[str]) -> None:
    """Run inside the caller's transaction (which holds the live partitions' locks)."""
    for table in tables:
        for statement in swap_sql(schema, table, await columns(conn, table)):
            await conn.execute(statement)


async def checkpoints_in(conn: asyncpg.Connection, schema: str, projection: str) -> dict[tuple[str, int], int]:
    rows = await conn.fetch(
        f"SELECT topic, partition, next_offset FROM {schema}.projection_checkpoints WHERE projection = $1", projection
    )
    return {(r[0], r[1]): r[2] for r in rows}


async def record_rejections(conn: asyncpg.Connection, rejections: list[Rejection]) -> None:
    """Store an as-of copy's rejections in its own ``rejections`` table (the connection's search_path)."""
    await conn.executemany(
        'INSERT INTO rejections (topic, partition, "offset", event_type, reason) VALUES ($1, $2, $3, $4, $5)'
        " ON CONFLICT DO NOTHING",
        [(r.record.topic, r.record.partition, r.record.offset, r.event_type, r.reason) for r in rejections],
    )
