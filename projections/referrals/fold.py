"""The referrals fold: pure, no I/O. ``evolve(state, event) -> state`` per case, ``fold`` for a batch.

Per case the projection keeps what it needs to judge a referral — whether the case is open, its
consents, the ids of the events it applied — and every referral of the case with its lifecycle:
issued → accepted → completed, or issued → declined. A referral needs a consent that covers the
receiving agency at the time it is issued; an answer must come from the receiving agency and fit
the referral's status. Everything else that contradicts the history is rejected with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from projections.authority import Parties, answer_refusal, case_refusal
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
from projections.erasure import anonymous_id
from schemas import Event

ERASED_CONSENT = "erased"  # the consent id of an erased case's referrals (the id named the case)

__all__ = [
    "CASE_COLUMNS",
    "REFERRAL_COLUMNS",
    "RELEVANT",
    "CaseState",
    "FoldResult",
    "ReferralCase",
    "ReferralRow",
    "Rejected",
    "evolve",
    "fold",
]

ANSWERS = frozenset({"ReferralAccepted", "ReferralDeclined", "ReferralCompleted"})
RELEVANT = frozenset(
    {
        "CaseOpened",
        "CaseClosed",
        "CaseManagerAssigned",  # who the case's parts are (projections/authority.py)
        "CaseHandedOver",
        "ConsentGranted",
        "ConsentWithdrawn",
        "ReferralIssued",
        "CaseErased",
        *ANSWERS,
    }
)


class ReferralCase(NamedTuple):
    """A row of ``referral_cases``: the case context the referrals are judged against."""

    case_id: str
    status: str  # open | closed
    opened_at: datetime
    closed_at: datetime | None = None
    consents: str = NO_CONSENTS
    seen: list[int] = []  # noqa: RUF012 - never changed in place
    holder: str | None = None  # the agency holding the case: its opener, or the one it was handed over to
    manager_agency: str | None = None  # the agency of its case manager
    receivers: list[str] = []  # noqa: RUF012 - the agencies that accepted a referral of the case

    @property
    def parties(self) -> Parties:
        return Parties(self.holder, self.manager_agency, tuple(self.receivers))


class ReferralRow(NamedTuple):
    """A row of ``referrals``: one referral and its lifecycle timestamps."""

    case_id: str
    referral_id: str
    from_agency: str
    to_agency: str
    lebenslage: str
    consent_id: str
    due_by: date
    status: str  # issued | accepted | declined | completed
    issued_at: datetime
    accepted_at: datetime | None = None
    declined_at: datetime | None = None
    completed_at: datetime | None = None
    decline_reason: str | None = None
    outcome: str | None = None


CASE_COLUMNS: tuple[str, ...] = ReferralCase._fields
REFERRAL_COLUMNS: tuple[str, ...] = ReferralRow._fields


class CaseState(NamedTuple):
    """A case and its referrals, as the fold carries them (a named tuple: built once per event)."""

    case: ReferralCase
    referrals: dict[str, ReferralRow]  # never changed in place by the fold: a change makes a new dict


def _answer(state: CaseState | None, event: Event) -> ReferralRow:
    """The referral an answer is about, checked against who answers and where the referral stands."""
    payload = event.payload
    referral_id = payload["referral_id"]
    referral = state.referrals.get(referral_id) if state is not None else None
    if referral is None:
        raise Rejected(f"referral {referral_id} of case {payload['case_id']} was never issued")
    refused = answer_refusal(event.event_type, event.source_agency, payload["case_id"], referral_id, referral.to_agency)
    if refused:
        raise Rejected(refused)
    wanted = "accepted" if event.event_type == "ReferralCompleted" else "issued"
    if referral.status != wanted:
        if wanted == "accepted" and referral.status == "issued":
            raise Rejected(f"referral {referral_id} cannot be completed: it was never accepted")
        raise Rejected(f"referral {referral_id} is already {referral.status}")
    return referral


def evolve(state: CaseState | None, event: Event) -> CaseState | None:
    """The case's referral state after ``event``; raises ``Rejected`` when the event contradicts it."""
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
        opened = ReferralCase(case_id, "open", at, seen=[] if sid is None else [sid], holder=event.source_agency)
        return CaseState(opened, {})
    if kind in ANSWERS:
        referral = _answer(state, event)
        assert state is not None
        if kind == "ReferralAccepted":
            referral = replaced(referral, status="accepted", accepted_at=at)
            if referral.to_agency not in state.case.receivers:
                state = _with(state, None, receivers=sorted([*state.case.receivers, referral.to_agency]))
        elif kind == "ReferralDeclined":
            referral = replaced(referral, status="declined", declined_at=at, decline_reason=payload["reason"])
        else:
            referral = replaced(referral, status="completed", completed_at=at, outcome=payload["outcome"])
        return _with(state, sid, referral=referral)
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
    if kind == "CaseClosed":
        return _with(state, sid, status="closed", closed_at=at)
    if kind == "ConsentGranted":
        return _with(state, sid, consents=grant_consent(case.consents, case_id, payload))
    if kind == "CaseManagerAssigned":
        return _with(state, sid, manager_agency=payload["agency"])
    if kind == "CaseHandedOver":  # judged as the caseload fold judges it: both keep the same parts
        problem = consent_problem(case.consents, payload["consent_id"], payload["to_agency"], at)
        if problem:
            raise Rejected(f"hand-over of case {case_id} to {payload['to_agency']} refused: {problem}")
        return _with(state, sid, holder=payload["to_agency"])
    # ReferralIssued
    referral_id = payload["referral_id"]
    if referral_id in state.referrals:
        raise Rejected(f"referral {referral_id} of case {case_id} was already issued")
    problem = consent_problem(case.consents, payload["consent_id"], payload["to_agency"], at)
    if problem:
        raise Rejected(f"referral {referral_id} to {payload['to_agency']} refused: {problem}")
    referral = ReferralRow(
        case_id=case_id,
        referral_id=referral_id,
        from_agency=payload["from_agency"],
        to_agency=payload["to_agency"],
        lebenslage=payload["lebenslage"],
        consent_id=payload["consent_id"],
        due_by=payload["due_by"],
        status="issued",
        issued_at=at,
    )
    return _with(state, sid, referral=referral)


def _erased(state: CaseState | None, event: Event) -> CaseState | None:
    """The case and its referrals, anonymous (projections/erasure.py): keys become tokens, consents go."""
    if state is None or state.case.case_id != event.payload["case_id"]:
        return state  # nothing to erase (never applied, or erased earlier in this batch)
    token = anonymous_id(event)
    ordered = sorted(state.referrals.values(), key=lambda r: (r.issued_at, r.referral_id))
    referrals = {
        f"{token}-R{n}": replaced(r, case_id=token, referral_id=f"{token}-R{n}", consent_id=ERASED_CONSENT)
        for n, r in enumerate(ordered, 1)
    }
    return CaseState(replaced(state.case, case_id=token, consents=NO_CONSENTS, seen=[]), referrals)


def _with(state: CaseState, sid: int | None, referral: ReferralRow | None = None, **case_changes: object) -> CaseState:
    seen = state.case.seen if sid is None else [*state.case.seen, sid]
    case = replaced(state.case, seen=seen, **case_changes)
    if referral is None:
        return CaseState(case, state.referrals)
    return CaseState(case, {**state.referrals, referral.referral_id: referral})


@dataclass(frozen=True)
class FoldResult:
    cases: dict[str, ReferralCase]
    referrals: dict[tuple[str, str], ReferralRow]
    rejected: list[tuple[int, str]]


def fold(states: Mapping[str, CaseState], events: Iterable[Event]) -> FoldResult:
    """Apply events in order; return the case rows and referral rows that changed, and (index, reason) rejects."""
    cases: dict[str, ReferralCase] = {}
    referrals: dict[tuple[str, str], ReferralRow] = {}

    def keep(case_id: str, old: CaseState | None, new: CaseState) -> None:
        if old is None or new.case is not old.case:
            cases[case_id] = new.case
        if old is None or new.referrals is not old.referrals:
            for referral_id, referral in new.referrals.items():
                if old is None or old.referrals.get(referral_id) is not referral:
                    referrals[(case_id, referral_id)] = referral

    rejected = fold_by_key(dict(states), events, RELEVANT, "case_id", evolve, keep)
    return FoldResult(cases, referrals, rejected)
