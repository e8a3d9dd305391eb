"""The backlog sink: load the touched applications, fold in memory, merge applications and state intervals."""

from __future__ import annotations

import asyncpg

from projections import erasure, rows
from projections.backlog.fold import APPLICATION_COLUMNS, INTERVAL_COLUMNS, RELEVANT, ApplicationRow, fold
from projections.records import Applied, Rejection
from schemas.topics import IMMIGRATION

APPLICATIONS = "backlog_applications"
INTERVALS = "backlog_intervals"


class BacklogProjection:
    name = "backlog"
    source_topics = (IMMIGRATION,)
    event_types = RELEVANT
    tables = (APPLICATIONS, INTERVALS)  # every table apply() writes (kim replay copies and swaps these)

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        relevant = [a for a in batch if a.event.event_type in RELEVANT]
        if not relevant:
            return []
        ids = {a.event.payload["application_id"] for a in relevant}
        known = {
            r[0]: ApplicationRow._make(r)
            for r in await rows.load(conn, APPLICATIONS, APPLICATION_COLUMNS, "application_id", ids)
        }
        result = fold(known, [a.event for a in relevant])
        await rows.merge(
            conn,
            APPLICATIONS,
            APPLICATION_COLUMNS,
            ("application_id",),
            list(result.changed.values()),
        )
        await rows.merge(
            conn,
            INTERVALS,
            INTERVAL_COLUMNS,
            ("application_id", "seq"),
            list(result.intervals.values()),
        )
        erased = erasure.renamed(result.changed, "application_id")
        await erasure.drop(conn, APPLICATIONS, "application_id", (old for old, _ in erased))
        await erasure.rename(conn, INTERVALS, "application_id", erased)
        return [Rejection(relevant[i].record, reason, relevant[i].event.event_type) for i, reason in result.rejected]
