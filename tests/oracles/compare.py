"""Side by side: the oracle's answers and the projections' (pure folds in memory, or PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import math
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from projections.backlog.fold import ApplicationRow, IntervalRow
from projections.backlog.fold import fold as backlog_fold
from projections.caseload.fold import CaseRow
from projections.caseload.fold import fold as caseload_fold
from projections.erasure import renamed
from projections.outcomes.fold import GoalRow, OutcomeState
from projections.outcomes.fold import fold as outcomes_fold
from projections.referrals.fold import CaseState, ReferralRow
from projections.referrals.fold import fold as referrals_fold
from schemas import Event
from tests.oracles import backlog, caseload, outcomes, referrals
from tests.oracles.history import HistoryEvent


def as_events(history: Iterable[HistoryEvent], seed: int = 0) -> list[Event]:
    """Decoded-equivalent events without a broker (ids drawn from ``seed``)."""
    rng = random.Random(seed)
    out = []
    for item in history:
        at = item.draft.occurred_at
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        envelope = {
            "event_id": event_id,
            "event_type": item.draft.event_type,
            "occurred_at": at,
            "recorded_at": at,
            "source_agency": item.agency,
            "correlation_id": event_id,
            "causation_id": None,
        }
        out.append(Event(item.draft.event_type, envelope, item.draft.payload))
    return out


# --- the three folds, in batches, as the sinks run them -----------------------------------------


@dataclass
class Folded:
    tables: dict[str, dict[Any, dict]]
    rejected: list[Event]


def _batches(events: Sequence[Event], cuts: Iterable[int]) -> list[Sequence[Event]]:
    bounds = [0, *sorted({c % (len(events) + 1) for c in cuts}), len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def fold_caseload(events: Sequence[Event], cuts: Iterable[int] = ()) -> Folded:
    rows: dict[str, CaseRow] = {}
    rejected = []
    for batch in _batches(events, cuts):
        result = caseload_fold(rows, batch)
        rows.update(result.changed)
        for old, token in renamed(result.changed, "case_id"):  # as the sink: the erased row moves to its token
            rows[token] = rows.pop(old)
        rejected += [batch[i] for i, _ in result.rejected]
    return Folded({"caseload_cases": {k: v._asdict() for k, v in rows.items()}}, rejected)


def fold_referrals(events: Sequence[Event], cuts: Iterable[int] = ()) -> Folded:
    states: dict[str, CaseState] = {}
    referral_rows: dict[tuple[str, str], ReferralRow] = {}
    rejected = []
    for batch in _batches(events, cuts):
        result = referrals_fold(states, batch)
        for case_id, case in result.cases.items():
            states[case_id] = CaseState(case, dict(states[case_id].referrals) if case_id in states else {})
        for (case_id, referral_id), row in result.referrals.items():
            states[case_id].referrals[referral_id] = row
            referral_rows[(case_id, referral_id)] = row
        for old, token in renamed(result.cases, "case_id"):  # as the sink: erased rows move to their tokens
            erased = states.pop(old)
            states[token] = CaseState(erased.case, {k: v for k, v in erased.referrals.items() if v.case_id == token})
            for key in [k for k in referral_rows if k[0] == old]:
                row = referral_rows.pop(key)
                if row.case_id == token:
                    referral_rows[(token, row.referral_id)] = row
        rejected += [batch[i] for i, _ in result.rejected]
    return Folded(
        {
            "referral_cases": {k: v.case._asdict() for k, v in states.items()},
            "referrals": {k: v._asdict() for k, v in referral_rows.items()},
        },
        rejected,
    )


def fold_backlog(events: Sequence[Event], cuts: Iterable[int] = ()) -> Folded:
    rows: dict[str, ApplicationRow] = {}
    spans: dict[tuple[str, int], IntervalRow] = {}
    rejected = []
    for batch in _batches(events, cuts):
        result = backlog_fold(rows, batch)
        rows.update(result.changed)
        spans.update(result.intervals)
        for old, token in renamed(result.changed, "application_id"):  # as the sink: moved to the token
            rows[token] = rows.pop(old)
            for key in [k for k in spans if k[0] == old]:
                span = spans.pop(key)
                spans[(token, key[1])] = span._replace(application_id=token)
        rejected += [batch[i] for i, _ in result.rejected]
    return Folded(
        {
            "backlog_applications": {k: v._asdict() for k, v in rows.items()},
            "backlog_intervals": {k: v._asdict() for k, v in spans.items()},
        },
        rejected,
    )


def fold_outcomes(events: Sequence[Event], cuts: Iterable[int] = ()) -> Folded:
    states: dict[str, OutcomeState] = {}
    goal_rows: dict[tuple[str, str], GoalRow] = {}
    rejected = []
    for batch in _batches(events, cuts):
        result = outcomes_fold(states, batch)
        for case_id, case in result.cases.items():
            states[case_id] = OutcomeState(case, dict(states[case_id].goals) if case_id in states else {})
        for (case_id, goal_id), row in result.goals.items():
            states[case_id].goals[goal_id] = row
            goal_rows[(case_id, goal_id)] = row
        for old, token in renamed(result.cases, "case_id"):  # as the sink: erased rows move to their tokens
            erased = states.pop(old)
            states[token] = OutcomeState(erased.case, {k: v for k, v in erased.goals.items() if v.case_id == token})
            for key in [k for k in goal_rows if k[0] == old]:
                row = goal_rows.pop(key)
                if row.case_id == token:
                    goal_rows[(token, row.goal_id)] = row
        rejected += [batch[i] for i, _ in result.rejected]
    return Folded(
        {
            "outcomes_cases": {k: v.case._asdict() for k, v in states.items()},
            "outcomes_goals": {k: v._asdict() for k, v in goal_rows.items()},
        },
        rejected,
    )


# --- the oracle, in the same shape ---------------------------------------------------------------


@dataclass
class Expected:
    tables: dict[str, dict[Any, dict]]
    rejected: dict[str, list[Event]]  # per projection


def oracle(events: list[Event]) -> Expected:
    c, r, b = caseload.replay(events), referrals.replay(events), backlog.replay(events)
    o = outcomes.replay(events)
    return Expected(
        {
            "caseload_cases": c.rows,
            "referral_cases": r.cases,
            "referrals": r.referrals,
            "backlog_applications": b.rows,
            "backlog_intervals": b.intervals,
            "outcomes_cases": o.cases,
            "outcomes_goals": o.goals,
        },
        {"caseload": c.rejected, "referrals": r.rejected, "backlog": b.rejected, "outcomes": o.rejected},
    )


def oracle_views(events: list[Event], as_of: datetime, weeks: int, days: tuple[date, date]) -> dict[str, dict]:
    expected = oracle(events)
    return {
        **caseload.views(expected.tables["caseload_cases"], as_of),
        **referrals.views(expected.tables["referrals"], as_of),
        **backlog.views(
            backlog.Backlog(expected.tables["backlog_applications"], expected.tables["backlog_intervals"], []),
            as_of,
            weeks,
            days,
        ),
    }


# --- PostgreSQL ----------------------------------------------------------------------------------

TABLE_KEYS = {
    "caseload_cases": ("case_id",),
    "referral_cases": ("case_id",),
    "referrals": ("case_id", "referral_id"),
    "backlog_applications": ("application_id",),
    "backlog_intervals": ("application_id", "seq"),
    "outcomes_cases": ("case_id",),
    "outcomes_goals": ("case_id", "goal_id"),
}
PROJECTION_TABLES = {
    "caseload": ("caseload_cases",),
    "referrals": ("referral_cases", "referrals"),
    "backlog": ("backlog_applications", "backlog_intervals"),
    "outcomes": ("outcomes_cases", "outcomes_goals"),
}


async def db_tables(conn: asyncpg.Connection, names: Iterable[str] = TABLE_KEYS) -> dict[str, dict[Any, dict]]:
    out = {}
    for name in names:
        key = TABLE_KEYS[name]
        rows = await conn.fetch(f"SELECT * FROM {name}")
        out[name] = {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: dict(r) for r in rows}
    return out


def view_queries(as_of: datetime, weeks: int, days: tuple[date, date]) -> list[tuple[str, str, tuple, int]]:
    """(name, sql, args, number of key columns) for every analyst view and function."""
    return [
        ("caseload_by_agency", "SELECT * FROM caseload_by_agency", (), 1),
        ("caseload_by_district", "SELECT * FROM caseload_by_district", (), 1),
        ("caseload_open_by_manager", "SELECT * FROM caseload_open_by_manager", (), 2),
        ("caseload_manager_load", "SELECT * FROM caseload_manager_load", (), 1),
        ("caseload_open_by_lebenslage", "SELECT * FROM caseload_open_by_lebenslage", (), 1),
        ("caseload_weekly", "SELECT * FROM caseload_weekly", (), 3),
        ("caseload_closure_reasons", "SELECT * FROM caseload_closure_reasons", (), 2),
        ("caseload_waiting", "SELECT * FROM caseload_waiting($1)", (as_of,), 1),
        ("caseload_age_buckets", "SELECT * FROM caseload_age_buckets($1)", (as_of,), 2),
        ("referral_matrix", "SELECT * FROM referral_matrix", (), 2),
        ("referral_lead_times", "SELECT * FROM referral_lead_times", (), 1),
        ("referral_decline_reasons", "SELECT * FROM referral_decline_reasons", (), 2),
        ("referrals_open", "SELECT * FROM referrals_open($1)", (as_of,), 1),
        ("referrals_overdue", "SELECT * FROM referrals_overdue($1)", (as_of,), 2),
        ("backlog_by_procedure_state", "SELECT * FROM backlog_by_procedure_state", (), 2),
        ("backlog_at", "SELECT * FROM backlog_at($1)", (as_of,), 2),
        ("backlog_age_buckets", "SELECT * FROM backlog_age_buckets($1)", (as_of,), 2),
        ("backlog_flow_weekly", "SELECT * FROM backlog_flow_weekly", (), 2),
        ("backlog_processing_time", "SELECT * FROM backlog_processing_time", (), 1),
        ("backlog_weeks_to_clear", "SELECT * FROM backlog_weeks_to_clear($1, $2)", (as_of, weeks), 1),
        ("backlog_daily", "SELECT * FROM backlog_daily($1, $2)", days, 3),
    ]


async def db_views(conn: asyncpg.Connection, as_of: datetime, weeks: int, days: tuple[date, date]) -> dict[str, dict]:
    out = {}
    for name, sql, args, keys in view_queries(as_of, weeks, days):
        rows = await conn.fetch(sql, *args)
        out[name] = {(tuple(r[:keys]) if keys > 1 else r[0]): tuple(r[keys:]) for r in rows}
        assert len(out[name]) == len(rows), f"{name}: duplicate keys"
    return out


# --- comparing -----------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, str) and a.startswith("{") and isinstance(b, dict):  # consents JSON
        return json.loads(a) == b
    if isinstance(b, str) and b.startswith("{") and isinstance(a, dict):
        return json.loads(b) == a
    return a == b


def differences(actual: dict[Any, Any], expected: dict[Any, Any], limit: int = 8) -> list[str]:
    """What differs between two keyed collections of rows (dicts) or tuples; empty when equal."""
    out = []
    for key in sorted(set(actual) | set(expected), key=repr):
        if key not in actual:
            out.append(f"missing {key!r}: expected {expected[key]!r}")
        elif key not in expected:
            out.append(f"unexpected {key!r}: {actual[key]!r}")
        else:
            a, e = actual[key], expected[key]
            if isinstance(e, dict):
                bad = {c: (a.get(c), v) for c, v in e.items() if not _same(a.get(c), v)}
                if bad or set(a) != set(e):
                    out.append(f"{key!r}: (actual, expected) {bad} columns {sorted(set(a) ^ set(e))}")
            elif len(a) != len(e) or not all(_same(x, y) for x, y in zip(a, e, strict=True)):
                out.append(f"{key!r}: actual {a!r}, expected {e!r}")
        if len(out) >= limit:
            out.append("…")
            break
    return out


def assert_same(actual: dict[str, dict], expected: dict[str, dict]) -> None:
    problems = {name: differences(actual.get(name, {}), rows) for name, rows in expected.items()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in problems.items())
