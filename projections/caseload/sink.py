"""The caseload sink: load the touched cases, fold in memory, write the changes in one statement."""

from __future__ import annotations

import asyncpg

from projections.caseload.fold import RELEVANT, CaseRow, fold
from projections.records import Applied, Rejection

_COLUMNS = ("case_id", "agency", "district", "status", "opened_at", "closed_at", "closure_reason")


class CaseloadProjection:
    name = "caseload"
    source_topics = ("kim.cases",)

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        relevant = [a for a in batch if a.event.event_type in RELEVANT]
        if not relevant:
            return []
        case_ids = sorted({a.event.payload["case_id"] for a in relevant})
        rows = {
            r["case_id"]: CaseRow(**dict(r))
            for r in await conn.fetch(
                f"SELECT {', '.join(_COLUMNS)} FROM caseload_cases WHERE case_id = ANY($1)", case_ids
            )
        }
        result = fold(rows, [a.event for a in relevant])
        if result.changed:
            await _upsert(conn, list(result.changed.values()))
        return [Rejection(relevant[i].record, reason, relevant[i].event.event_type) for i, reason in result.rejected]


async def _upsert(conn: asyncpg.Connection, rows: list[CaseRow]) -> None:
    await conn.execute(
        f"""
        INSERT INTO caseload_cases ({", ".join(_COLUMNS)})
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                             $5::timestamptz[], $6::timestamptz[], $7::text[])
        ON CONFLICT (case_id) DO UPDATE SET
            agency = EXCLUDED.agency, district = EXCLUDED.district, status = EXCLUDED.status,
            opened_at = EXCLUDED.opened_at, closed_at = EXCLUDED.closed_at, closure_reason = EXCLUDED.closure_reason
        """,
        *([getattr(row, column) for row in rows] for column in _COLUMNS),
    )
