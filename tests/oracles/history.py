"""A small, consistent history generator for the oracle tests: cases with consents, managers, needs,
referrals, pauses, hand-overs and closures on ``kim.cases``; applications on ``kim.immigration``.

Deterministic for a seed, in event-time order, every event valid against the schemas and the
single-event domain rules. A small share of *contradicting* events is mixed in on purpose — a
close of an unknown case, an answer to a referral never issued, a referral whose consent does not
cover the receiving agency or was withdrawn, a permit handed over without a grant, a second
opening of a case, an agency acting on a case it has no part in — so the projections' rejections are exercised
too.

Who publishes follows the rule table of ``projections/authority.py``: the opener holds the case and records the
intake consent; a case-management agency takes it by assigning its own case manager, then works it; a receiver
that accepted a referral may issue a further one.

The real simulator (``simulation/``) is richer; this one exists so the oracle tests do not depend
on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from streams.sdk.draft import EventDraft

CASE_AGENCIES = {
    "KIM_CASE_MANAGEMENT": 40,
    "JOBCENTER": 15,
    "MIGRATIONSBERATUNG_MBE": 12,
    "JUGENDMIGRATIONSDIENST": 8,
    "AUSLAENDERBEHOERDE": 8,
    "JUGENDAMT": 7,
    "SOZIALAMT": 6,
    "INTEGRATIONSKURSTRAEGER": 4,
}
PARTNERS = [
    "JOBCENTER",
    "AGENTUR_FUER_ARBEIT",
    "JUGENDAMT",
    "SOZIALAMT",
    "WOHNUNGSAMT",
    "MIGRATIONSBERATUNG_MBE",
    "INTEGRATIONSKURSTRAEGER",
    "AUSLAENDERBEHOERDE",
    "GESUNDHEITSAMT",
    "SCHULAMT",
]
DISTRICTS = [
    "INNENSTADT_WEST",
    "INNENSTADT_NORD",
    "INNENSTADT_OST",
    "EVING",
    "SCHARNHORST",
    "BRACKEL",
    "APLERBECK",
    "HOERDE",
    "HOMBRUCH",
    "LUETGENDORTMUND",
    "HUCKARDE",
    "MENGEDE",
]
LEBENSLAGEN = [
    "RESIDENCE_LAW",
    "FIRST_ORIENTATION",
    "LANGUAGE",
    "EDUCATION",
    "WORK",
    "LIVELIHOOD",
    "HOUSING",
    "HEALTH",
    "FAMILY",
    "SOCIAL_PARTICIPATION",
]
CLOSURE = ["GOALS_ACHIEVED", "HANDED_OVER_TO_REGELSYSTEM", "MOVED_AWAY", "NO_CONTACT", "CLIENT_WITHDREW"]
DECLINE = ["NOT_RESPONSIBLE", "REQUIREMENTS_NOT_MET", "NO_CAPACITY", "ALREADY_SUPPORTED", "CLIENT_NOT_REACHED"]
OUTCOMES = ["NEED_MET", "NEED_PARTLY_MET", "NEED_NOT_MET", "CLIENT_DROPPED_OUT"]
PROCEDURES = {
    "AUFENTHG_25A": 8,
    "AUFENTHG_25B": 12,
    "AUFENTHG_104C": 10,
    "SETTLEMENT_PERMIT": 15,
    "NATURALISATION": 20,
    "EXTENSION": 25,
    "TRAINING_TOLERATION": 5,
    "EMPLOYMENT_TOLERATION": 5,
}
DOCUMENTS = ["PASSPORT", "BIOMETRIC_PHOTO", "PROOF_OF_INCOME", "LANGUAGE_CERTIFICATE", "RENTAL_CONTRACT"]
CM = "KIM_CASE_MANAGEMENT"
CASE_MANAGEMENT = ("KIM_CASE_MANAGEMENT", "MIGRATIONSBERATUNG_MBE", "JUGENDMIGRATIONSDIENST", "JOBCENTER")


@dataclass(frozen=True)
class HistoryEvent:
    """Same shape as the simulator's ``SimEvent``: who publishes, and what."""

    agency: str
    draft: EventDraft


@dataclass
class _Timed:
    at: datetime
    order: int
    event: HistoryEvent


class _Builder:
    def __init__(self, seed: int, start: datetime, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start = start
        self.end = end
        self.out: list[_Timed] = []

    def emit(self, at: datetime, agency: str, event_type: str, payload: dict) -> None:
        if at < self.end:
            self.out.append(_Timed(at, len(self.out), HistoryEvent(agency, EventDraft(event_type, payload, at))))

    def pick(self, weights: dict[str, int]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def later(self, at: datetime, low_days: float, high_days: float) -> datetime:
        return at + timedelta(days=self.rng.uniform(low_days, high_days), seconds=self.rng.randint(60, 3600))


def _day(at: datetime) -> date:
    from schemas.rules import event_date

    return event_date(at)


def _case(b: _Builder, n: int) -> None:
    rng = b.rng
    case_id = f"DO-{n:06d}"
    opener = b.pick(CASE_AGENCIES)
    t = b.start + timedelta(seconds=rng.uniform(0, (b.end - b.start).total_seconds() * 0.97))
    b.emit(
        t,
        opener,
        "CaseOpened",
        {
            "case_id": case_id,
            "client_ref": f"P-{rng.getrandbits(48):012x}",
            "district": rng.choice(DISTRICTS),
            "access_route": rng.choice(["SELF", "REFERRAL", "OUTREACH"]),
            "target_group": rng.choice(["NEWCOMER", "LONG_RESIDENT"]),
            "rechtskreise": sorted(rng.sample(["SGB_II", "SGB_III", "AUFENTHG", "SGB_VIII"], 2)),
        },
    )
    if rng.random() < 0.003:  # contradiction: the case is opened a second time
        b.emit(
            b.later(t, 0, 2),
            opener,
            "CaseOpened",
            {
                "case_id": case_id,
                "client_ref": f"P-{rng.getrandbits(48):012x}",
                "district": rng.choice(DISTRICTS),
                "access_route": "SELF",
                "target_group": "NEWCOMER",
                "rechtskreise": ["SGB_II"],
            },
        )
    recipients = sorted(rng.sample(PARTNERS, rng.randint(3, 6)))
    consent_id = f"{case_id}-C1"
    t = b.later(t, 0, 0.5)
    until = _day(t) + timedelta(days=rng.randint(60, 400)) if rng.random() < 0.6 else None
    b.emit(
        t,
        opener,
        "ConsentGranted",
        {
            "case_id": case_id,
            "consent_id": consent_id,
            "recipients": recipients,
            "data_categories": ["IDENTITY_AND_CONTACT", "CASE_PLAN"],
            "valid_until": until,
        },
    )
    actor = opener  # who works the case: its holder until a case manager takes it
    if rng.random() < 0.85:
        t = b.later(t, 0, 25)
        actor = opener if opener in CASE_MANAGEMENT else CM
        b.emit(
            t,
            actor,
            "CaseManagerAssigned",
            {"case_id": case_id, "case_manager_ref": f"CM-DO-{rng.randint(1, 40):03d}", "agency": actor},
        )
    if rng.random() < 0.01:  # contradiction: an agency with no part in the case records a consent
        stranger = rng.choice([p for p in PARTNERS if p not in (opener, actor)])
        b.emit(
            b.later(t, 0, 1),
            stranger,
            "ConsentGranted",
            {
                "case_id": case_id,
                "consent_id": f"{case_id}-C9",
                "recipients": [stranger],
                "data_categories": ["CASE_PLAN"],
                "valid_until": None,
            },
        )
    needs = rng.sample(LEBENSLAGEN, rng.randint(1, 4))
    t = b.later(t, 0, 10)
    b.emit(
        t,
        actor,
        "NeedsAssessed",
        {
            "case_id": case_id,
            "needs": [{"lebenslage": n, "priority": rng.choice(["URGENT", "HIGH", "NORMAL"])} for n in needs],
        },
    )
    if rng.random() < 0.4:
        goal = f"{case_id}-G1"
        agreed_at = b.later(t, 0, 3)
        b.emit(
            agreed_at,
            actor,
            "GoalAgreed",
            {"case_id": case_id, "goal_id": goal, "lebenslage": needs[0], "target_date": _day(t) + timedelta(days=120)},
        )
        _goal_ends(b, case_id, goal, actor, agreed_at)
    responsible = opener
    paused = False
    withdrawn = False
    accepted: list[str] = []  # receivers that accepted a referral: they may refer further
    for r in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
        t = b.later(t, 1, 40)
        referral_id = f"{case_id}-R{r + 1}"
        covered = rng.random() < 0.96
        to = rng.choice(recipients) if covered else rng.choice([p for p in PARTNERS if p not in recipients])
        choice = rng.random()
        sender = actor if choice < 0.7 else responsible if choice < 0.9 or not accepted else rng.choice(accepted)
        if rng.random() < 0.01:  # contradiction: a referral by an agency with no part in the case
            sender = rng.choice([p for p in PARTNERS if p != responsible and p != actor and p not in accepted])
        if to == sender:
            continue
        b.emit(
            t,
            sender,
            "ReferralIssued",
            {
                "case_id": case_id,
                "referral_id": referral_id,
                "from_agency": sender,
                "to_agency": to,
                "lebenslage": rng.choice(needs),
                "due_by": _day(t) + timedelta(days=rng.choice([7, 14, 14, 21, 28])),
                "consent_id": consent_id,
            },
        )
        fate = rng.random()
        answer_at = b.later(t, 0, 30)
        if fate < 0.68:
            b.emit(answer_at, to, "ReferralAccepted", {"case_id": case_id, "referral_id": referral_id})
            accepted.append(to)
            if rng.random() < 0.7:
                b.emit(
                    b.later(answer_at, 5, 120),
                    to,
                    "ReferralCompleted",
                    {"case_id": case_id, "referral_id": referral_id, "outcome": rng.choice(OUTCOMES)},
                )
        elif fate < 0.85:
            b.emit(
                answer_at,
                to,
                "ReferralDeclined",
                {"case_id": case_id, "referral_id": referral_id, "reason": rng.choice(DECLINE)},
            )
        elif fate < 0.87:  # contradiction: completed without being accepted
            b.emit(
                answer_at,
                to,
                "ReferralCompleted",
                {"case_id": case_id, "referral_id": referral_id, "outcome": "NEED_MET"},
            )
        if rng.random() < 0.01:  # contradiction: an answer to a referral that was never issued
            b.emit(
                b.later(t, 0, 5),
                to,
                "ReferralAccepted",
                {"case_id": case_id, "referral_id": f"{case_id}-R9{r}"},
            )
        if not withdrawn and rng.random() < 0.04:
            withdrawn = True
            b.emit(b.later(t, 0, 3), actor, "ConsentWithdrawn", {"case_id": case_id, "consent_id": consent_id})
            t = b.later(t, 3, 4)
    if rng.random() < 0.12:
        t = b.later(t, 1, 20)
        paused = True
        b.emit(t, actor, "CasePaused", {"case_id": case_id, "reason": "CLIENT_AWAY", "resume_by": None})
        if rng.random() < 0.7:
            t = b.later(t, 5, 60)
            paused = False
            b.emit(t, actor, "CaseResumed", {"case_id": case_id})
    if not paused and rng.random() < 0.1:
        t = b.later(t, 1, 30)
        to = rng.choice(recipients)
        if to != responsible:
            b.emit(
                t,
                responsible,
                "CaseHandedOver",
                {"case_id": case_id, "from_agency": responsible, "to_agency": to, "consent_id": consent_id},
            )
            responsible = to
    if rng.random() < 0.6:
        t = b.later(t, 10, 200)
        closer = actor if actor != opener else responsible  # the case manager's agency, else whoever holds it now
        if rng.random() < 0.005:  # contradiction: closed by an agency with no part in the case
            closer = rng.choice([p for p in PARTNERS if p not in (responsible, actor)])
        b.emit(t, closer, "CaseClosed", {"case_id": case_id, "reason": rng.choice(CLOSURE)})
        if rng.random() < 0.004:  # contradiction: closed twice
            b.emit(b.later(t, 0, 3), closer, "CaseClosed", {"case_id": case_id, "reason": "NO_CONTACT"})


def _goal_ends(b: _Builder, case_id: str, goal: str, actor: str, agreed_at: datetime) -> None:
    """How the goal ends, with a few contradictions; drawn from the case's own generator, so the rest of the
    history is the same whether or not goals end."""
    rng = random.Random(f"{b.seed}-{case_id}-goal")
    ended_at = agreed_at + timedelta(days=rng.uniform(5, 150), seconds=rng.randint(60, 3600))
    fate = rng.random()
    if fate < 0.45:
        b.emit(ended_at, actor, "GoalAchieved", {"case_id": case_id, "goal_id": goal})
    elif fate < 0.65:
        b.emit(ended_at, actor, "GoalAbandoned", {"case_id": case_id, "goal_id": goal, "reason": "CLIENT_DECLINED"})
    if fate < 0.65 and rng.random() < 0.03:  # contradiction: the goal ends a second time
        b.emit(ended_at + timedelta(days=1), actor, "GoalAchieved", {"case_id": case_id, "goal_id": goal})
    if rng.random() < 0.02:  # contradiction: a goal that was never agreed is reached
        b.emit(ended_at, actor, "GoalAchieved", {"case_id": case_id, "goal_id": f"{case_id}-G9"})
    if rng.random() < 0.02:  # contradiction: a goal agreed twice
        again = {"case_id": case_id, "goal_id": goal, "lebenslage": "WORK", "target_date": _day(ended_at)}
        b.emit(agreed_at + timedelta(hours=1), actor, "GoalAgreed", again)
    if rng.random() < 0.02:  # contradiction: an agency with no part in the case records the goal's end
        stranger = rng.choice([p for p in PARTNERS if p != actor])
        b.emit(ended_at, stranger, "GoalAbandoned", {"case_id": case_id, "goal_id": goal, "reason": "OTHER"})


def _application(b: _Builder, n: int) -> None:
    rng = b.rng
    procedure = b.pick(PROCEDURES)
    office = "EINBUERGERUNGSBEHOERDE" if procedure == "NATURALISATION" else "AUSLAENDERBEHOERDE"
    application_id = f"{'EBH' if office != 'AUSLAENDERBEHOERDE' else 'ABH'}-{n:06d}"
    key = {"application_id": application_id}
    t = b.start + timedelta(seconds=rng.uniform(0, (b.end - b.start).total_seconds() * 0.97))
    b.emit(
        t,
        office,
        "ApplicationFiled",
        {
            **key,
            "client_ref": f"P-{rng.getrandbits(48):012x}",
            "procedure": procedure,
            "channel": rng.choice(["IN_PERSON", "ONLINE", "POST", "EMAIL"]),
            "case_id": f"DO-{rng.randint(0, 9999):06d}" if rng.random() < 0.3 else None,
        },
    )
    if n % 100 == 3:  # contradiction: a permit handed over before any decision
        b.emit(b.later(t, 1, 5), office, "PermitHandedOver", {**key, "valid_until": None})
    if n % 100 == 7:  # contradiction: the other office acts on an application it did not file
        other = "AUSLAENDERBEHOERDE" if office != "AUSLAENDERBEHOERDE" else "EINBUERGERUNGSBEHOERDE"
        b.emit(b.later(t, 0, 1), other, "ApplicationCompleted", dict(key))
    if rng.random() < 0.6:
        docs = rng.sample(DOCUMENTS, rng.randint(1, 3))
        t = b.later(t, 1, 20)
        b.emit(t, office, "DocumentsRequested", {**key, "documents": docs, "due_by": _day(t) + timedelta(days=28)})
        if rng.random() < 0.85:
            t = b.later(t, 3, 45)
            b.emit(t, office, "DocumentsReceived", {**key, "documents": docs[: rng.randint(1, len(docs))]})
    if rng.random() < 0.04:
        b.emit(b.later(t, 1, 60), office, "ApplicationWithdrawn", {**key, "reason": "CLIENT_DECISION"})
        return
    t = b.later(t, 2, 60)
    b.emit(t, office, "ApplicationCompleted", dict(key))
    if rng.random() < 0.7:
        t = b.later(t, 1, 40)
        appointment = t + timedelta(days=rng.randint(7, 40))
        b.emit(t, office, "AppointmentScheduled", {**key, "appointment_at": appointment})
        t = appointment
    t = b.later(t, 1, 90)
    granted = rng.random() < 0.85
    b.emit(t, office, "DecisionIssued", {**key, "outcome": "GRANTED" if granted else "REFUSED"})
    if granted and rng.random() < 0.9:
        if rng.random() < 0.5:  # an appointment to hand the permit over
            t = b.later(t, 1, 5)
            b.emit(t, office, "AppointmentScheduled", {**key, "appointment_at": t + timedelta(days=rng.randint(5, 30))})
        t = b.later(t, 3, 30)
        until = _day(t) + timedelta(days=730) if procedure not in ("SETTLEMENT_PERMIT", "NATURALISATION") else None
        b.emit(t, office, "PermitHandedOver", {**key, "valid_until": until})


def _strays(b: _Builder, count: int) -> None:
    """Events about keys nobody opened or filed."""
    for i in range(count):
        t = b.start + timedelta(seconds=b.rng.uniform(0, (b.end - b.start).total_seconds()))
        b.emit(t, CM, "CaseClosed", {"case_id": f"DO-G9-{i}", "reason": "NO_CONTACT"})
        b.emit(
            b.later(t, 0, 1),
            "JOBCENTER",
            "ReferralDeclined",
            {"case_id": f"DO-G9-{i}", "referral_id": f"DO-G9-{i}-R1", "reason": "OTHER"},
        )
        b.emit(
            b.later(t, 0, 1),
            "AUSLAENDERBEHOERDE",
            "DecisionIssued",
            {"application_id": f"ABH-G9-{i}", "outcome": "GRANTED"},
        )


def generate(
    seed: int = 7,
    cases: int = 1000,
    applications: int = 500,
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    days: int = 365,
) -> list[HistoryEvent]:
    """Events in event-time order (per key strictly increasing), cut at ``start + days``."""
    b = _Builder(seed, start, start + timedelta(days=days))
    for n in range(cases):
        _case(b, n)
    for n in range(applications):
        _application(b, n)
    _strays(b, max(1, cases // 500))
    b.out.sort(key=lambda e: (e.at, e.order))
    return [e.event for e in b.out]


def sized(events: int, seed: int = 7, days: int = 365) -> list[HistoryEvent]:
    """About ``events`` events (a little more): cases and applications in the generator's usual mix."""
    per_case, per_application = 8.3, 4.5  # measured averages of this generator (one year)
    cases = int(events * 0.8 / per_case) + 1
    applications = int(events * 0.2 / per_application) + 1
    return generate(seed, cases, applications, days=days)
