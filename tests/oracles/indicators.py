"""Reference steering indicators, straight from a valid event history with plain Python (no read model).

Clients are linked by their pseudonym in the drafts (the platform links them by the key id of the sealed
pseudonym; both must find the same returns). Counts come unsuppressed; ``shown``/``over`` apply rule 5 as the
``analytics`` schema does.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tests.oracles.common import BERLIN, days_between, local_day, percentile

SMALL = 4
SUCCESS = ("GOALS_ACHIEVED", "HANDED_OVER_TO_REGELSYSTEM")


def over(value: float | None, base: int) -> float | None:
    return None if base <= SMALL else value


def months_after(at: datetime, months: int) -> datetime:
    """The same Dortmund wall-clock time ``months`` calendar months later (clamped to the month's last day)."""
    local = at.astimezone(BERLIN)
    month = local.month - 1 + months
    year, month = local.year + month // 12, month % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day, tzinfo=None).replace(tzinfo=BERLIN)


@dataclass
class Case:
    case_id: str
    client: str
    district: str
    opened_by: str
    opened_at: datetime
    holder: str
    first_contact: datetime | None = None
    closed_at: datetime | None = None
    reason: str | None = None


@dataclass
class Goal:
    lebenslage: str
    agency: str
    district: str
    agreed_at: datetime
    target: date
    status: str = "agreed"
    ended_at: datetime | None = None
    reason: str | None = None


@dataclass
class History:
    cases: dict[str, Case] = field(default_factory=dict)
    goals: dict[tuple[str, str], Goal] = field(default_factory=dict)
    decisions: list[tuple[str, datetime, str]] = field(default_factory=list)  # procedure, at, outcome


def read(events: list[Any]) -> History:
    """``events``: (agency, draft) pairs of a history every projection applies in full (a simulated one)."""
    h = History()
    procedures: dict[str, str] = {}
    for agency, draft in events:
        kind, p, at = draft.event_type, draft.payload, draft.occurred_at
        if kind == "CaseOpened":
            h.cases[p["case_id"]] = Case(p["case_id"], p["client_ref"], p["district"], agency, at, agency)
        elif kind == "CaseManagerAssigned":
            case = h.cases[p["case_id"]]
            case.first_contact = case.first_contact or at
        elif kind == "CaseHandedOver":
            h.cases[p["case_id"]].holder = p["to_agency"]
        elif kind == "CaseClosed":
            case = h.cases[p["case_id"]]
            case.closed_at, case.reason = at, p["reason"]
        elif kind == "GoalAgreed":
            district = h.cases[p["case_id"]].district
            h.goals[(p["case_id"], p["goal_id"])] = Goal(p["lebenslage"], agency, district, at, p["target_date"])
        elif kind in ("GoalAchieved", "GoalAbandoned"):
            goal = h.goals[(p["case_id"], p["goal_id"])]
            goal.status = "achieved" if kind == "GoalAchieved" else "abandoned"
            goal.ended_at, goal.reason = at, p.get("reason")
        elif kind == "ApplicationFiled":
            procedures[p["application_id"]] = p["procedure"]
        elif kind == "DecisionIssued":
            h.decisions.append((procedures[p["application_id"]], at, p["outcome"]))
    return h


def _in(at: datetime | None, start: date, end: date, as_of: datetime) -> bool:
    return at is not None and at <= as_of and start <= local_day(at) <= end


def _grouped(rows: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for key, row in rows:
        out[key].append(row)
        out["ALL"].append(row)
    return out


def goal_outcomes(h: History, start: date, end: date, as_of: datetime, group_by: str) -> dict[str, dict]:
    groups = _grouped([(getattr(g, group_by), g) for g in h.goals.values()])
    out = {}
    for key, goals in groups.items():
        ended = [g for g in goals if _in(g.ended_at, start, end, as_of)]
        achieved = [g for g in ended if g.status == "achieved"]
        open_ = [g for g in goals if g.agreed_at <= as_of and (g.ended_at is None or g.ended_at > as_of)]
        out[key] = {
            "agreed": sum(_in(g.agreed_at, start, end, as_of) for g in goals),
            "achieved": len(achieved),
            "abandoned": len(ended) - len(achieved),
            "median": percentile([days_between(g.agreed_at, g.ended_at) for g in achieved], 0.5),
            "open": len(open_),
            "overdue": sum(g.target < local_day(as_of) for g in open_),
        }
    return out


def case_endings(h: History, start: date, end: date, as_of: datetime, group_by: str) -> dict[str, dict]:
    by_client: dict[str, list[datetime]] = defaultdict(list)
    for case in h.cases.values():
        by_client[case.client].append(case.opened_at)
    closed = [c for c in h.cases.values() if _in(c.closed_at, start, end, as_of)]
    groups = _grouped([(c.district if group_by == "district" else c.holder, c) for c in closed])
    out = {}
    for key, cases in groups.items():
        ok = [c for c in cases if c.reason in SUCCESS]
        row = {"closed": len(cases), "ok": len(ok), "regel": sum(c.reason == SUCCESS[1] for c in ok)}
        for months in (6, 12):
            seen = [c for c in ok if months_after(c.closed_at, months) <= as_of]
            back = [
                c
                for c in seen
                if any(c.closed_at < o <= months_after(c.closed_at, months) and o <= as_of for o in by_client[c.client])
            ]
            row[f"seen{months}"], row[f"back{months}"] = len(seen), len(back)
        out[key] = row
    return out


def first_contact(h: History, start: date, end: date, as_of: datetime, group_by: str) -> dict[str, dict]:
    opened = [c for c in h.cases.values() if _in(c.opened_at, start, end, as_of)]
    groups = _grouped([(c.district if group_by == "district" else c.opened_by, c) for c in opened])
    out = {}
    for key, cases in groups.items():
        contacted = [c for c in cases if c.first_contact is not None and c.first_contact <= as_of]
        days = [days_between(c.opened_at, c.first_contact) for c in contacted]
        out[key] = {
            "opened": len(cases),
            "contacted": len(days),
            "median": percentile(days, 0.5),
            "p90": percentile(days, 0.9),
        }
    return out


def immigration_decisions(h: History, start: date, end: date, as_of: datetime) -> dict[str, dict]:
    groups = _grouped([(p, outcome) for p, at, outcome in h.decisions if _in(at, start, end, as_of)])
    return {
        key: {"decided": len(o), "granted": o.count("GRANTED"), "refused": len(o) - o.count("GRANTED")}
        for key, o in groups.items()
    }


# --- rule 5 over a whole answer, as the analytics schema applies it -------------------------------


def hidden(
    raw: dict[str, dict], order: list[str], columns: list[str], row_line: list[str] | None = None
) -> set[tuple[str, str]]:
    """The cells (key, column) hidden in an answer whose rows come in ``order`` (its total row 'ALL' last): counts
    from 1 to 4, and their partners so that no line — a column with its total, and ``row_line`` in each row (the
    total last) — holds exactly one hidden cell (``analytics.suppression.protect``, the rule the SQL mirrors)."""
    from analytics.suppression import protect

    values = {(k, c): raw[k][c] for k in order for c in columns}
    lines = [[(k, c) for k in order] for c in columns]
    lines += [[(k, c) for c in row_line] for k in order] if row_line else []
    primary, secondary = protect(values, lines, SMALL, totals=[("ALL", c) for c in columns])
    return primary | secondary


def rate(numerator: int, base: int, hidden_parts: bool) -> float | None:
    return None if hidden_parts or not base else over(numerator / base, base)
