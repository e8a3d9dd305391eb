"""Consistency checks over a whole event history: what a case's or an application's events must obey.

``history_errors(events)`` replays the events in order and returns one message per violation
(empty: consistent). It checks what a single event cannot show (``schemas/rules.py`` does that):
the causal order of a case (opened first, closed last, a case manager before the assessment,
goals and referrals answered once and after they were issued), consent (a referral or hand-over
cites a consent of the same case that covers the receiving agency and is neither withdrawn nor
expired), who speaks (answers come from the receiving agency, case-management events from the
agency holding the case), and an application's procedure (filed first, ended once). Used by the
tests; usable on any stream of events that carry ``agency`` and ``draft``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from schemas.rules import event_date
from streams.sdk.publisher import EventDraft

ANSWERS = ("ReferralAccepted", "ReferralDeclined", "ReferralCompleted")
CASE_MANAGEMENT = (
    "ConsentWithdrawn",
    "NeedsAssessed",
    "GoalAgreed",
    "GoalAchieved",
    "GoalAbandoned",
    "CaseHandedOver",
    "CasePaused",
    "CaseResumed",
    "CaseClosed",
)
APPLICATION_END = ("PermitHandedOver", "ApplicationWithdrawn")


class HasDraft(Protocol):
    agency: str
    draft: EventDraft


@dataclass
class _Case:
    home: str | None = None
    closed: bool = False
    assigned: bool = False
    assessed: bool = False
    paused: bool = False
    consents: dict[str, tuple[list[str], date | None]] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    goals: dict[str, str] = field(default_factory=dict)  # goal_id -> open / done
    referrals: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Application:
    office: str
    procedure: str
    ended: bool = False
    decided: str | None = None
    requested: int = 0
    received: int = 0
    completed: bool = False


def history_errors(events: Iterable[HasDraft], limit: int = 50) -> list[str]:
    errors: list[str] = []
    cases: dict[str, _Case] = {}
    applications: dict[str, _Application] = {}
    last: datetime | None = None
    for i, event in enumerate(events):
        draft, agency = event.draft, event.agency
        if last is not None and draft.occurred_at < last:
            errors.append(f"#{i} {draft.event_type}: occurred_at goes back in time")
        last = draft.occurred_at
        payload = draft.payload
        if "application_id" in payload:
            problem = _application(applications, cases, draft, agency)
        else:
            problem = _case(cases, draft, agency)
        if problem:
            key = payload.get("application_id") or payload.get("case_id")
            errors.append(f"#{i} {draft.event_type} {key}: {problem}")
            if len(errors) >= limit:
                break
    return errors


def _case(cases: dict[str, _Case], draft: EventDraft, agency: str) -> str | None:
    kind, p = draft.event_type, draft.payload
    case = cases.get(p["case_id"])
    if kind == "CaseOpened":
        if case is not None:
            return "opened twice"
        cases[p["case_id"]] = _Case()
        return None
    if case is None:
        return "before CaseOpened"
    if case.closed:
        return "after CaseClosed"
    day = event_date(draft.occurred_at)
    if kind in CASE_MANAGEMENT and case.assigned and agency != case.home:
        return f"published by {agency}, but the case is held by {case.home}"
    if kind == "ConsentGranted":
        if p["consent_id"] in case.consents:
            return "consent granted twice"
        case.consents[p["consent_id"]] = (p["recipients"], p["valid_until"])
        case.home = case.home or agency
    elif kind == "ConsentWithdrawn":
        if p["consent_id"] not in case.consents or p["consent_id"] in case.withdrawn:
            return "withdraws a consent that is not in force"
        case.withdrawn.add(p["consent_id"])
    elif kind == "CaseManagerAssigned":
        if not case.consents:
            return "case manager assigned before any consent"
        if p["agency"] != agency:
            return "assigned by another agency than the case manager's"
        case.assigned, case.home = True, agency
    elif kind == "NeedsAssessed":
        if not case.assigned:
            return "needs assessed before a case manager was assigned"
        case.assessed = True
    elif kind == "GoalAgreed":
        if not case.assessed:
            return "goal agreed before the needs were assessed"
        if p["goal_id"] in case.goals:
            return "goal agreed twice"
        case.goals[p["goal_id"]] = "open"
    elif kind in ("GoalAchieved", "GoalAbandoned"):
        if case.goals.get(p["goal_id"]) != "open":
            return "goal not agreed or already resolved"
        case.goals[p["goal_id"]] = "done"
    elif kind in ("ReferralIssued", "CaseHandedOver"):
        problem = _consent_problem(case, p, day)
        if problem:
            return problem
        if kind == "ReferralIssued":
            if p["referral_id"] in case.referrals:
                return "referral issued twice"
            case.referrals[p["referral_id"]] = {"to": p["to_agency"], "state": "issued"}
        else:
            case.home, case.assigned, case.assessed = p["to_agency"], False, False
    elif kind in ANSWERS:
        referral = case.referrals.get(p["referral_id"])
        if referral is None:
            return "answers a referral that was not issued"
        if agency != referral["to"]:
            return f"answered by {agency}, not by the receiving agency {referral['to']}"
        state = referral["state"]
        allowed = {"ReferralAccepted": "issued", "ReferralDeclined": "issued", "ReferralCompleted": "accepted"}
        if state != allowed[kind]:
            return f"{kind} when the referral is {state}"
        referral["state"] = {"ReferralAccepted": "accepted", "ReferralDeclined": "declined"}.get(kind, "completed")
    elif kind == "CasePaused":
        if case.paused:
            return "paused twice"
        case.paused = True
    elif kind == "CaseResumed":
        if not case.paused:
            return "resumed but not paused"
        case.paused = False
    elif kind == "CaseClosed":
        case.closed = True
    return None


def _consent_problem(case: _Case, p: dict[str, Any], day: date) -> str | None:
    consent = case.consents.get(p["consent_id"])
    if consent is None:
        return "cites a consent not granted in this case"
    recipients, valid_until = consent
    if p["to_agency"] not in recipients:
        return "the consent does not cover the receiving agency"
    if p["consent_id"] in case.withdrawn:
        return "the consent was withdrawn"
    if valid_until is not None and valid_until < day:
        return "the consent has expired"
    return None


def _application(
    applications: dict[str, _Application], cases: dict[str, _Case], draft: EventDraft, agency: str
) -> str | None:
    kind, p = draft.event_type, draft.payload
    application = applications.get(p["application_id"])
    if kind == "ApplicationFiled":
        if application is not None:
            return "filed twice"
        if (p["procedure"] == "NATURALISATION") != (agency == "EINBUERGERUNGSBEHOERDE"):
            return f"{p['procedure']} filed at {agency}"
        if p["case_id"] is not None and p["case_id"] not in cases:
            return "linked to a case that was never opened"
        applications[p["application_id"]] = _Application(agency, p["procedure"])
        return None
    if application is None:
        return "before ApplicationFiled"
    if application.ended:
        return "after the procedure ended"
    if agency != application.office:
        return f"published by {agency}, filed at {application.office}"
    if kind == "DocumentsRequested":
        application.requested += 1
    elif kind == "DocumentsReceived":
        if application.received >= application.requested:
            return "documents received that were not requested"
        application.received += 1
    elif kind == "ApplicationCompleted":
        application.completed = True
    elif kind == "DecisionIssued":
        if application.decided:
            return "decided twice"
        if p["outcome"] == "GRANTED" and not application.completed:
            return "granted before the file was complete"
        application.decided = p["outcome"]
        application.ended = p["outcome"] == "REFUSED"
    elif kind == "PermitHandedOver":
        if application.decided != "GRANTED":
            return "permit handed over without a grant"
        application.ended = True
    elif kind == "ApplicationWithdrawn":
        if application.decided:
            return "withdrawn after the decision"
        application.ended = True
    return None
