"""What a sink does per table and batch: load the touched rows, and merge the changed ones back.

Loading is one ``= ANY($1)`` select. Merging is a binary COPY into a per-connection temporary
table (created once per connection, emptied at commit) and one ``INSERT … SELECT … ON CONFLICT DO
UPDATE``: COPY moves rows several times faster than a multi-row ``unnest`` upsert and carries JSON
columns as they are.

Array columns (``seen``, ``lebenslagen``, ``documents_outstanding`` …) travel as array *literals* in
text columns of the temporary table and are cast back in the ``INSERT``: asyncpg's binary array
encoder checks every element against several abstract base classes, which made a short array cost
about 3.5 µs to encode — more than the rest of the row. Writing ``{1,2,3}`` in Python and letting
PostgreSQL parse it (on its own core) halves a backlog application row's cost (13.7 → 7.4 µs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg

Literal = Callable[[Sequence[Any]], str]


async def load(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], key_column: str, keys: Iterable[Any]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {key_column} = ANY($1::text[])", list(keys)
    )


def integer_array(values: Sequence[int]) -> str:
    """``[1, 2]`` as the array literal ``{1,2}``."""
    return "{" + ",".join(map(str, values)) + "}"


def text_array(values: Sequence[str | None]) -> str:
    """``['A', 'b"c']`` as the array literal ``{"A","b\\"c"}``: every element quoted, ``\\`` and ``"`` escaped."""
    return "{" + ",".join("NULL" if v is None else '"' + _escaped(v) + '"' for v in values) + "}"


def _escaped(value: str) -> str:
    if "\\" in value or '"' in value:
        return value.replace("\\", "\\\\").replace('"', '\\"')
    return value


_LITERALS: dict[str, Literal] = {
    "int2": integer_array,
    "int4": integer_array,
    "int8": integer_array,
    "text": text_array,
    "varchar": text_array,
}

# table name -> {column: (its SQL type, how to write it)} for the array columns sent as literals
_ARRAYS: dict[str, dict[str, tuple[str, Literal]]] = {}


async def _array_columns(conn: asyncpg.Connection, table: str) -> dict[str, tuple[str, Literal]]:
    """The table's one-dimensional arrays of integers or text (other arrays keep the binary encoding)."""
    found = _ARRAYS.get(table)
    if found is None:
        described = await conn.fetch(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS sql_type, e.typname AS element
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_type e ON e.oid = t.typelem
            WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND t.typcategory = 'A'
            """,
            table,
        )
        found = _ARRAYS[table] = {
            r["attname"]: (r["sql_type"], _LITERALS[r["element"]]) for r in described if r["element"] in _LITERALS
        }
    return found


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
    arrays = await _array_columns(conn, table)
    stage = f"{table}_stage"
    staged = ", ".join(f"{c}::text AS {c}" if c in arrays else c for c in columns)
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {staged} FROM {table} WITH NO DATA"
    )
    literal = [(i, arrays[c][1]) for i, c in enumerate(columns) if c in arrays]
    if literal:
        rows = [_with_literals(row, literal) for row in rows]
    await conn.copy_records_to_table(stage, records=rows, columns=list(columns))
    names = ", ".join(columns)
    selected = ", ".join(f"{c}::{arrays[c][0]}" if c in arrays else c for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in conflict)
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {selected} FROM {stage} "
        f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    )


def _with_literals(row: tuple[Any, ...], literal: list[tuple[int, Literal]]) -> list[Any]:
    values = list(row)
    for i, write in literal:
        value = values[i]
        if value is not None:
            values[i] = write(value)
    return values
