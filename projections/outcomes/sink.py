"""The outcomes sink: load the touched cases and their goals, fold in memory, merge the changes back."""

from __future__ import annotations

import asyncpg

from projections import erasure, rows
from projections.outcomes.fold import CASE_COLUMNS, GOAL_COLUMNS, RELEVANT, CaseOutcome, GoalRow, OutcomeState, fold
from projections.records import Applied, Rejection
from schemas import topics

CASES = "outcomes_cases"
GOALS = "outcomes_goals"


class OutcomesProjection:
    name = "outcomes"
    source_topics = (topics.CASES,)
    event_types = RELEVANT
    tables = (CASES, GOALS)  # every table apply() writes (kim replay copies and swaps these)

    async def apply(self, conn: asyncpg.Connection, batch: list[Applied]) -> list[Rejection]:
        relevant = [a for a in batch if a.event.event_type in RELEVANT]
        if not relevant:
            return []
        case_ids = {a.event.payload["case_id"] for a in relevant}
        states = {
            r[0]: OutcomeState(CaseOutcome._make(r), {})
            for r in await rows.load(conn, CASES, CASE_COLUMNS, "case_id", case_ids)
        }
        for r in await rows.load(conn, GOALS, GOAL_COLUMNS, "case_id", states):
            states[r[0]].goals[r[1]] = GoalRow._make(r)
        result = fold(states, [a.event for a in relevant])
        await rows.merge(conn, CASES, CASE_COLUMNS, ("case_id",), list(result.cases.values()))
        await rows.merge(conn, GOALS, GOAL_COLUMNS, ("case_id", "goal_id"), list(result.goals.values()))
        erased = [old for old, _ in erasure.renamed(result.cases, "case_id")]
        await erasure.drop(conn, CASES, "case_id", erased)
        await erasure.drop(conn, GOALS, "case_id", erased)
        return [Rejection(relevant[i].record, reason, relevant[i].event.event_type) for i, reason in result.rejected]
