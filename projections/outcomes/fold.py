"""The outcomes fold: pure, no I/O. ``evolve(state, event) -> state`` per case, ``fold`` for a batch.

What case management achieved, not only how busy it is: every goal agreed with a client (per Lebenslage) and
how it ended — achieved, abandoned with a reason, or still open — and per case how it began and ended: when the
first case manager took it (first contact), whether it closed for achieved goals or with a hand-over into a
Regelsystem, and the client's key id, which links a later case of the same client (a *return*) without a
pseudonym in clear. An erasure removes that link (projections/erasure.py).

Case events are judged exactly as the caseload fold judges them (the same authority, consent and lifecycle
rules), so both agree on which events happened; goal events need an open case, an agency responsible for it, a
new goal id to agree and an agreed goal to achieve or abandon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from projections.authority import Parties, case_refusal
from projections.common import (
    NO_CONSENTS,
    Rejected,
    consent_problem,
    fold_by_key,
    grant_consent,
    replaced,
    seen_id,
    withdraw_consent,
)
from projections.erasure import anonymous_id, client_key_id
from schemas import Event

__all__ = [
    "CASE_COLUMNS",
    "GOAL_COLUMNS",
    "GOAL_EVENTS",
    "RELEVANT",
    "CaseOutcome",
    "FoldResult",
    "GoalRow",
    "OutcomeState",
    "Rejected",
    "evolve",
    "fold",
]

GOAL_EVENTS = frozenset({"GoalAgreed", "GoalAchieved", "GoalAbandoned"})
RELEVANT = frozenset(
    {
        "CaseOpened",
        "CaseClosed",
        "CaseManagerAssigned",
        "CaseHandedOver",
        "ConsentGranted",
        "ConsentWithdrawn",
        "CaseErased",
        *GOAL_EVENTS,
    }
)


class CaseOutcome(NamedTuple):
    """A row of ``outcomes_cases``: how a case began and ended, and the link to the client's other cases."""

    case_id: str
    district: str
    target_group: str
    opened_at: datetime
    opened_by: str
    status: str  # open | closed
    holder: str  # the agency responsible: its opener, or the one it was last handed over to
    manager_agency: str | None = None
    first_contact_at: datetime | None = None  # the first CaseManagerAssigned
    closed_at: datetime | None = None
    closure_reason: str | None = None
    handovers: int = 0
    client_key_id: str | None = None  # the client's key (sealed pseudonym): links returns; None once erased
    consents: str = NO_CONSENTS
    seen: list[int] = []  # noqa: RUF012 - never changed in place

    @property
    def parties(self) -> Parties:
        return Parties(self.holder, self.manager_agency)


class GoalRow(NamedTuple):
    """A row of ``outcomes_goals``: one goal agreed with the client and how it ended."""

    case_id: str
    goal_id: str
    lebenslage: str
    agency: str  # the agency that agreed it
    district: str  # the case's Stadtbezirk
    agreed_at: datetime
    target_date: date
    status: str  # agreed | achieved | abandoned
    resolved_at: datetime | None = None
    abandon_reason: str | None = None


CASE_COLUMNS: tuple[str, ...] = CaseOutcome._fields
GOAL_COLUMNS: tuple[str, ...] = GoalRow._fields


class OutcomeState(NamedTuple):
    """A case and its goals, as the fold carries them."""

    case: CaseOutcome
    goals: dict[str, GoalRow]  # never changed in place by the fold: a change makes a new dict


def evolve(state: OutcomeState | None, event: Event) -> OutcomeState | None:
    """The case's outcome state after ``event``; raises ``Rejected`` when the event contradicts it."""
    kind = event.event_type
    if kind not in RELEVANT:
        return state
    payload = event.payload
    case_id = payload["case_id"]
    at = event.occurred_at
    sid = seen_id(event)
    if state is not None and sid is not None and sid in state.case.seen:
        return state  # the same event delivered again
    if kind == "CaseErased":
        return _erased(state, event)
    if state is not None and state.case.case_id != case_id:
        raise Rejected(f"case {case_id} was erased")
    if kind == "CaseOpened":
        if state is not None:
            raise Rejected(f"case {case_id} was already opened at {state.case.opened_at.isoformat()}")
        opened = CaseOutcome(
            case_id=case_id,
            district=payload["district"],
            target_group=payload["target_group"],
            opened_at=at,
            opened_by=event.source_agency,
            status="open",
            holder=event.source_agency,
            client_key_id=client_key_id(payload),
            seen=[] if sid is None else [sid],
        )
        return OutcomeState(opened, {})
    if state is None:
        raise Rejected(f"case {case_id} was never opened")
    case = state.case
    refused = case_refusal(kind, event.source_agency, case_id, case.parties, payload)
    if refused:
        raise Rejected(refused)
    if kind == "ConsentWithdrawn":  # a client may withdraw consent after the case is closed
        return _with(state, sid, consents=withdraw_consent(case.consents, case_id, payload["consent_id"], at))
    if case.status == "closed":
        raise Rejected(f"case {case_id} is already closed")
    if kind in GOAL_EVENTS:
        return _with(state, sid, goal=_goal(state, event))
    if kind == "CaseClosed":
        return _with(state, sid, status="closed", closed_at=at, closure_reason=payload["reason"])
    if kind == "ConsentGranted":
        return _with(state, sid, consents=grant_consent(case.consents, case_id, payload))
    if kind == "CaseManagerAssigned":
        return _with(state, sid, manager_agency=payload["agency"], first_contact_at=case.first_contact_at or at)
    # CaseHandedOver: judged as the caseload fold judges it, so both keep the same holder
    problem = consent_problem(case.consents, payload["consent_id"], payload["to_agency"], at)
    if problem:
        raise Rejected(f"hand-over of case {case_id} to {payload['to_agency']} refused: {problem}")
    return _with(state, sid, holder=payload["to_agency"], handovers=case.handovers + 1)


def _goal(state: OutcomeState, event: Event) -> GoalRow:
    """The goal row after a goal event, checked against the goals the case has."""
    payload = event.payload
    case_id, goal_id = payload["case_id"], payload["goal_id"]
    goal = state.goals.get(goal_id)
    if event.event_type == "GoalAgreed":
        if goal is not None:
            raise Rejected(f"goal {goal_id} of case {case_id} was already agreed")
        return GoalRow(
            case_id=case_id,
            goal_id=goal_id,
            lebenslage=payload["lebenslage"],
            agency=event.source_agency,
            district=state.case.district,
            agreed_at=event.occurred_at,
            target_date=payload["target_date"],
            status="agreed",
        )
    if goal is None:
        raise Rejected(f"goal {goal_id} of case {case_id} was never agreed")
    if goal.status != "agreed":
        raise Rejected(f"goal {goal_id} of case {case_id} was already {goal.status}")
    if event.event_type == "GoalAchieved":
        return replaced(goal, status="achieved", resolved_at=event.occurred_at)
    return replaced(goal, status="abandoned", resolved_at=event.occurred_at, abandon_reason=payload["reason"])


def _erased(state: OutcomeState | None, event: Event) -> OutcomeState | None:
    """The case and its goals, anonymous (projections/erasure.py): ids become tokens, the client link goes."""
    if state is None or state.case.case_id != event.payload["case_id"]:
        return state  # nothing to erase (never applied, or erased earlier in this batch)
    token = anonymous_id(event)
    ordered = sorted(state.goals.values(), key=lambda g: (g.agreed_at, g.goal_id))
    goals = {f"{token}-G{n}": replaced(g, case_id=token, goal_id=f"{token}-G{n}") for n, g in enumerate(ordered, 1)}
    case = replaced(state.case, case_id=token, client_key_id=None, consents=NO_CONSENTS, seen=[])
    return OutcomeState(case, goals)


def _with(state: OutcomeState, sid: int | None, goal: GoalRow | None = None, **case_changes: object) -> OutcomeState:
    seen = state.case.seen if sid is None else [*state.case.seen, sid]
    case = replaced(state.case, seen=seen, **case_changes)
    if goal is None:
        return OutcomeState(case, state.goals)
    return OutcomeState(case, {**state.goals, goal.goal_id: goal})


@dataclass(frozen=True)
class FoldResult:
    cases: dict[str, CaseOutcome]
    goals: dict[tuple[str, str], GoalRow]
    rejected: list[tuple[int, str]]


def fold(states: Mapping[str, OutcomeState], events: Iterable[Event]) -> FoldResult:
    """Apply events in order; return the case and goal rows that changed, and (index, reason) rejects."""
    cases: dict[str, CaseOutcome] = {}
    goals: dict[tuple[str, str], GoalRow] = {}

    def keep(case_id: str, old: OutcomeState | None, new: OutcomeState) -> None:
        if old is None or new.case is not old.case:
            cases[case_id] = new.case
        if old is None or new.goals is not old.goals:
            for goal_id, goal in new.goals.items():
                if old is None or old.goals.get(goal_id) is not goal:
                    goals[(case_id, goal_id)] = goal

    rejected = fold_by_key(dict(states), events, RELEVANT, "case_id", evolve, keep)
    return FoldResult(cases, goals, rejected)
