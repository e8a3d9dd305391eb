"""What every fold does on an erasure event (CaseErased, ApplicationErased; published by `kim erase`).

The row of the erased case or application stays — it still counts in every aggregate — but no longer
identifies anything: its key becomes an anonymous token and the fold nulls the per-case details that
could link it to a person (the client's key id, the case manager, consents, applied event ids). The
token is derived from the erasure event's id, so a rebuild (`kim replay`) makes the very same rows.
Events about the case that arrive after its erasure are refused (dead-lettered): in the same batch as "was
erased", in a later one as "never opened" — except a CaseOpened repeated after the erasure in a later batch,
which opens the id afresh (the erased row is no longer under it; known limit, see the report of issue 8).

The folds stay pure: they return the anonymous row under the old key; the sinks then remove the rows
still under the old key (``drop``) or move child rows to the token (``rename``) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from schemas import Event

ERASED = "erased-"


def anonymous_id(event: Event) -> str:
    """The token that replaces the erased case's or application's id: ``erased-`` + the erasure event's id."""
    return ERASED + uuid.UUID(str(event.envelope["event_id"])).hex


def client_key_id(payload: Mapping[str, Any]) -> str | None:
    """The key id of the client's sealed pseudonym (CaseOpened/ApplicationFiled v2), or None (v1, unsealed)."""
    sealed = payload.get("client_sealed")
    return sealed["key_id"] if sealed else None


def renamed(changed: Mapping[str, Any], field: str) -> list[tuple[str, str]]:
    """``(old key, token)`` of every changed row the fold anonymised in this batch."""
    return [(key, getattr(row, field)) for key, row in changed.items() if getattr(row, field) != key]


async def drop(conn: asyncpg.Connection, table: str, column: str, keys: Iterable[str]) -> None:
    """Remove the rows still under the erased keys (their anonymous copies were merged under the token)."""
    keys = list(keys)
    if keys:
        await conn.execute(f"DELETE FROM {table} WHERE {column} = ANY($1::text[])", keys)


async def rename(conn: asyncpg.Connection, table: str, column: str, pairs: list[tuple[str, str]]) -> None:
    """Move child rows (e.g. backlog intervals) from each erased key to its token."""
    if pairs:
        await conn.execute(
            f"UPDATE {table} t SET {column} = e.token FROM unnest($1::text[], $2::text[]) AS e(old, token) "
            f"WHERE t.{column} = e.old",
            [old for old, _ in pairs],
            [token for _, token in pairs],
        )
