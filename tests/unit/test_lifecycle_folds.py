"""Rules of the caseload, referrals and backlog folds, one behaviour at a time."""

from __future__ import annotations

from datetime import date, timedelta

from projections.backlog.fold import fold as backlog
from projections.caseload.fold import fold as caseload
from projections.referrals.fold import fold as referrals
from schemas import Event
from tests.unit.events import T0, envelope, opened

CM = "KIM_CASE_MANAGEMENT"


def event(event_type: str, publisher: str, day: float, **payload: object) -> Event:
    """Any event on day ``day`` after T0, published by ``publisher``."""
    return Event(event_type, envelope(event_type, publisher, T0 + timedelta(days=day)), dict(payload))


def consent(case: str = "a", to: tuple[str, ...] = ("JOBCENTER",), day: float = 0.1, until: date | None = None):
    return event(
        "ConsentGranted",
        CM,
        day,
        case_id=case,
        consent_id=f"{case}-C1",
        recipients=list(to),
        data_categories=["CASE_PLAN"],
        valid_until=until,
    )


def referral(case: str = "a", rid: str = "R1", to: str = "JOBCENTER", day: float = 1, due: date = date(2025, 1, 20)):
    return event(
        "ReferralIssued",
        CM,
        day,
        case_id=case,
        referral_id=rid,
        from_agency=CM,
        to_agency=to,
        lebenslage="WORK",
        due_by=due,
        consent_id=f"{case}-C1",
    )


def taken(case: str = "a", day: float = 0.05) -> Event:
    """The KIM case management takes the case by assigning one of its own case managers (projections/authority)."""
    return event("CaseManagerAssigned", CM, day, case_id=case, case_manager_ref="CM-DO-001", agency=CM)


def answer(kind: str, by: str = "JOBCENTER", rid: str = "R1", day: float = 2, **extra: object):
    return event(kind, by, day, case_id="a", referral_id=rid, **extra)


def test_caseload_follows_manager_needs_pause_and_hand_over() -> None:
    result = caseload(
        {},
        [
            opened("a", agency="JOBCENTER"),
            taken(),
            consent(to=("SOZIALAMT",)),
            event("NeedsAssessed", CM, 3, case_id="a", needs=[{"lebenslage": "WORK", "priority": "URGENT"}]),
            event("CasePaused", CM, 4, case_id="a", reason="CLIENT_AWAY", resume_by=None),
            event("CaseResumed", CM, 9, case_id="a"),
            event(
                "CaseHandedOver",
                "JOBCENTER",
                10,
                case_id="a",
                from_agency="JOBCENTER",
                to_agency="SOZIALAMT",
                consent_id="a-C1",
            ),
        ],
    )
    row = result.changed["a"]
    assert result.rejected == []
    assert (row.opened_by, row.agency, row.handovers) == ("JOBCENTER", "SOZIALAMT", 1)
    assert (row.case_manager_ref, row.manager_agency) == ("CM-DO-001", CM)
    assert row.first_assigned_at == row.assigned_at
    assert (row.lebenslagen, row.priorities) == (["WORK"], ["URGENT"])
    assert (row.paused_since, row.pauses) == (None, 1)
    assert len(row.seen) == 7


def test_caseload_rejects_hand_over_without_consent_and_double_pauses() -> None:
    result = caseload(
        {},
        [
            opened("a"),
            taken(),
            event(
                "CaseHandedOver",
                "JOBCENTER",
                1,
                case_id="a",
                from_agency="JOBCENTER",
                to_agency="SOZIALAMT",
                consent_id="a-C1",
            ),
            event("CaseResumed", CM, 2, case_id="a"),
            event("CasePaused", CM, 3, case_id="a", reason="OTHER", resume_by=None),
            event("CasePaused", CM, 4, case_id="a", reason="OTHER", resume_by=None),
        ],
    )
    assert [i for i, _ in result.rejected] == [2, 3, 5]
    assert "never granted" in result.rejected[0][1]
    assert result.changed["a"].agency == "JOBCENTER"


def test_a_repeated_event_is_applied_once_and_not_rejected() -> None:
    first = opened("a")
    closing = event("CaseClosed", "JOBCENTER", 5, case_id="a", reason="MOVED_AWAY")
    result = caseload({}, [first, first, closing, closing])
    assert result.rejected == []
    assert result.changed["a"].status == "closed"
    assert len(result.changed["a"].seen) == 2


def test_referral_lifecycle_and_its_timestamps() -> None:
    result = referrals(
        {},
        [
            opened("a"),
            taken(),
            consent(),
            referral(),
            answer("ReferralAccepted", day=3),
            answer("ReferralCompleted", day=20, outcome="NEED_MET"),
        ],
    )
    assert result.rejected == []
    row = result.referrals[("a", "R1")]
    assert (row.status, row.outcome, row.from_agency, row.to_agency) == ("completed", "NEED_MET", CM, "JOBCENTER")
    assert row.issued_at < row.accepted_at < row.completed_at


def test_referrals_need_a_consent_covering_the_receiver_when_issued() -> None:
    result = referrals(
        {},
        [
            opened("a"),
            taken(),
            referral(rid="R0"),  # no consent yet
            consent(to=("SOZIALAMT",), until=date(2025, 1, 10)),
            referral(rid="R1"),  # JOBCENTER is not covered
            referral(rid="R2", to="SOZIALAMT", day=2),  # fine
            referral(rid="R3", to="SOZIALAMT", day=8),  # consent expired after 10 January (Berlin day)
            event("ConsentWithdrawn", CM, 3, case_id="a", consent_id="a-C1"),
            referral(rid="R4", to="SOZIALAMT", day=3.5),
        ],
    )
    reasons = {i: r for i, r in result.rejected}
    assert sorted(reasons) == [2, 4, 6, 8]
    assert "never granted" in reasons[2]
    assert "does not cover JOBCENTER" in reasons[4]
    assert "expired after 2025-01-10" in reasons[6]
    assert "withdrawn" in reasons[8]
    assert set(result.referrals) == {("a", "R2")}


def test_answers_must_fit_the_referral() -> None:
    result = referrals(
        {},
        [
            opened("a"),
            taken(),
            consent(),
            answer("ReferralAccepted", rid="R9"),  # never issued
            referral(),
            answer("ReferralAccepted", by="SOZIALAMT"),  # not the receiver
            answer("ReferralCompleted", outcome="NEED_MET"),  # not accepted yet
            answer("ReferralDeclined", reason="NO_CAPACITY", day=3),
            answer("ReferralAccepted", day=4),  # already declined
        ],
    )
    assert [i for i, _ in result.rejected] == [3, 5, 6, 8]
    row = result.referrals[("a", "R1")]
    assert (row.status, row.decline_reason) == ("declined", "NO_CAPACITY")


def _application(kind: str, day: float, **payload: object):
    return event(kind, "AUSLAENDERBEHOERDE", day, application_id="A-1", **payload)


def test_backlog_states_and_their_intervals() -> None:
    filed = _application(
        "ApplicationFiled", 0, client_ref="P-000001", procedure="AUFENTHG_25B", channel="ONLINE", case_id=None
    )
    result = backlog(
        {},
        [
            filed,
            _application("DocumentsRequested", 2, documents=["PASSPORT", "PROOF_OF_INCOME"], due_by=date(2025, 2, 1)),
            _application("DocumentsReceived", 5, documents=["PASSPORT"]),
            _application("DocumentsRequested", 6, documents=["PASSPORT"], due_by=date(2025, 2, 1)),
            _application("ApplicationCompleted", 10),
            _application("DecisionIssued", 30, outcome="GRANTED"),
            _application("PermitHandedOver", 40, valid_until=None),
        ],
    )
    assert result.rejected == []
    row = result.changed["A-1"]
    assert (row.state, row.decision, row.seq, row.documents_requested) == ("permit_handed_over", "GRANTED", 3, 2)
    assert row.documents_outstanding == ["PASSPORT", "PROOF_OF_INCOME"]
    spans = sorted(result.intervals.values(), key=lambda s: s.seq)
    assert [(s.seq, s.state) for s in spans] == [(1, "received"), (2, "waiting_for_documents"), (3, "complete")]
    assert all(s.valid_to is not None for s in spans)
    assert spans[-1].valid_to == row.decided_at == row.left_at


def test_backlog_rejects_what_a_procedure_cannot_do() -> None:
    filed = _application(
        "ApplicationFiled", 0, client_ref="P-000001", procedure="NATURALISATION", channel="POST", case_id=None
    )
    result = backlog(
        {},
        [
            _application("ApplicationCompleted", 0),  # never filed
            filed,
            _application("PermitHandedOver", 1, valid_until=None),  # no grant
            _application("ApplicationWithdrawn", 2, reason="MOVED_AWAY"),
            _application("DecisionIssued", 3, outcome="GRANTED"),  # withdrawn already
        ],
    )
    assert [i for i, _ in result.rejected] == [0, 2, 4]
    assert result.changed["A-1"].state == "withdrawn"
    (span,) = result.intervals.values()
    assert (span.state, span.valid_to) == ("received", result.changed["A-1"].left_at)
