"""The referrals sink: load the touched cases and their referrals, fold in memory, merge the changes back."""

from __future__ import annotations

import asyncpg

from projections import erasure, rows
from projections.records import Applied, Rejection
from projections.referrals.fold import (
    CASE_COLUMNS,
    REFERRAL_COLUMNS,
    RELEVANT,
    CaseState,
    ReferralCase,
    ReferralRow,
    fold,
)
from schemas import topics

CASES = "referral_cases"
REFERRALS = "referrals"


class ReferralsProjection:
    name = "referrals"
    source_topics = (topics.CASES,)
    event_types = RELEVANT
    tables = (CASES, REFERRALS)  # every table apply() writes (kim replay copies and swaps these)

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        relevant = [a for a in batch if a.event.event_type in RELEVANT]
        if not relevant:
            return []
        case_ids = {a.event.payload["case_id"] for a in relevant}
        states = {
            r[0]: CaseState(ReferralCase._make(r), {})
            for r in await rows.load(conn, CASES, CASE_COLUMNS, "case_id", case_ids)
        }
        for r in await rows.load(conn, REFERRALS, REFERRAL_COLUMNS, "case_id", states):
            states[r[0]].referrals[r[1]] = ReferralRow._make(r)
        result = fold(states, [a.event for a in relevant])
        await rows.merge(conn, CASES, CASE_COLUMNS, ("case_id",), list(result.cases.values()))
        await rows.merge(
            conn,
            REFERRALS,
            REFERRAL_COLUMNS,
            ("case_id", "referral_id"),
            list(result.referrals.values()),
        )
        erased = [old for old, _ in erasure.renamed(result.cases, "case_id")]
        await erasure.drop(conn, CASES, "case_id", erased)
        await erasure.drop(conn, REFERRALS, "case_id", erased)
        return [Rejection(relevant[i].record, reason, relevant[i].event.event_type) for i, reason in result.rejected]
