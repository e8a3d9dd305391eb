"""The audit log: every operational action appends who did what, to what, when, and how it ended.

The table (``audit_log``, migration 0080) refuses UPDATE, DELETE and TRUNCATE, so entries are
history like the event log. ``record`` takes the caller's connection: an action with an effect in
the database records itself in the same transaction, so the log never claims what did not happen
and never misses what did. Entries are appended only through ``audit_append()`` (migration 0130), which
records the database login that wrote them beside the actor they claim (``KIM_ACTOR``, free text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

OUTCOMES = ("ok", "refused", "failed")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    details: dict[str, Any]
    db_login: str | None = None  # who wrote it, by the database's word (None: written before migration 0130)


async def record(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry; returns its id. ``action`` is dotted lower case, e.g. ``dlq.redrive``."""
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    return await conn.fetchval(
        "SELECT audit_append($1, $2, $3, $4, $5::jsonb)",
        actor,
        action,
        target,
        outcome,
        json.dumps(dict(details or {}), default=str, sort_keys=True),
    )


async def entries(
    conn: asyncpg.Connection,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest ``limit`` entries matching the filters, oldest first. ``action`` matches a dotted prefix."""
    rows = await conn.fetch(
        """
        SELECT id, at, actor, action, target, outcome, details::text AS details, db_login FROM (
            SELECT * FROM audit_log
            WHERE ($1::text IS NULL OR action = $1 OR action LIKE $1 || '.%')
              AND ($2::text IS NULL OR actor = $2)
              AND ($3::timestamptz IS NULL OR at >= $3)
              AND ($4::timestamptz IS NULL OR at < $4)
            ORDER BY id DESC LIMIT $5
        ) newest ORDER BY id
        """,
        action,
        actor,
        since,
        until,
        limit,
    )
    return [
        AuditEntry(
            r["id"],
            r["at"],
            r["actor"],
            r["action"],
            r["target"],
            r["outcome"],
            json.loads(r["details"]),
            r["db_login"],
        )
        for r in rows
    ]


async def record_alone(
    database_url: str,
    actor: str,
    action: str,
    target: str,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
) -> int:
    """``record`` on a connection of its own, for an action whose effect is outside the database (publishing
    to Kafka for agencies: `kim publish`, `kim simulate --publish`, `kim demo`)."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return await record(conn, actor, action, target, outcome, details)
    finally:
        await conn.close()
