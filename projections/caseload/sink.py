"""The caseload sink: load the touched cases, fold in memory, merge the changes back (COPY + one upsert)."""

from __future__ import annotations

import asyncpg

from projections import erasure, rows
from projections.caseload.fold import COLUMNS, RELEVANT, CaseRow, fold
from projections.records import Applied, Rejection
from schemas.topics import CASES

TABLE = "caseload_cases"


class CaseloadProjection:
    name = "caseload"
    source_topics = (CASES,)
    event_types = RELEVANT
    tables = (TABLE,)  # every table apply() writes (kim replay copies and swaps these)

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        relevant = [a for a in batch if a.event.event_type in RELEVANT]
        if not relevant:
            return []
        case_ids = {a.event.payload["case_id"] for a in relevant}
        known = {r[0]: CaseRow._make(r) for r in await rows.load(conn, TABLE, COLUMNS, "case_id", case_ids)}
        result = fold(known, [a.event for a in relevant])
        await rows.merge(conn, TABLE, COLUMNS, ("case_id",), list(result.changed.values()))
        await erasure.drop(conn, TABLE, "case_id", (old for old, _ in erasure.renamed(result.changed, "case_id")))
        return [Rejection(relevant[i].record, reason, relevant[i].event.event_type) for i, reason in result.rejected]
