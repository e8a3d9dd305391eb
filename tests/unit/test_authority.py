"""Who may say what about which case (projections/authority.py), as the caseload, referrals and backlog folds apply
it: an agency with no part in a case is refused, with a reason naming the rule, by every fold that sees the event."""

from __future__ import annotations

from datetime import date

from projections.authority import Parties, case_refusal
from projections.backlog.fold import fold as backlog
from projections.caseload.fold import fold as caseload
from projections.referrals.fold import fold as referrals
from schemas import Event, load_catalog
from schemas.publishers import WHO
from streams.sdk.draft import EventDraft
from streams.usecases.case_gate import CaseView, authority_verdicts, verdicts
from tests.unit.events import opened
from tests.unit.test_lifecycle_folds import CM, event

JC, JA, SA, ABH = "JOBCENTER", "JUGENDAMT", "SCHULAMT", "AUSLAENDERBEHOERDE"


def _consent(by: str, consent_id: str, to: list[str], day: float) -> Event:
    return event(
        "ConsentGranted",
        by,
        day,
        case_id="a",
        consent_id=consent_id,
        recipients=to,
        data_categories=["CASE_PLAN"],
        valid_until=None,
    )


def _referral(by: str, rid: str, to: str, consent_id: str, day: float) -> Event:
    return event(
        "ReferralIssued",
        by,
        day,
        case_id="a",
        referral_id=rid,
        from_agency=by,
        to_agency=to,
        lebenslage="EDUCATION",
        due_by=date(2025, 2, 1),
        consent_id=consent_id,
    )


def _hand_over(by: str, to: str, consent_id: str, day: float) -> Event:
    return event("CaseHandedOver", by, day, case_id="a", from_agency=by, to_agency=to, consent_id=consent_id)


def _assigned(by: str, day: float, agency: str | None = None) -> Event:
    return event("CaseManagerAssigned", by, day, case_id="a", case_manager_ref="CM-DO-007", agency=agency or by)


def _both(events: list[Event]) -> tuple[dict[int, str], dict[int, str]]:
    return dict(caseload({}, events).rejected), dict(referrals({}, events).rejected)


def test_every_event_type_of_the_catalog_has_a_rule() -> None:
    assert set(WHO) == set(load_catalog().event_types())


def test_an_agency_with_no_part_in_a_case_cannot_consent_refer_hand_over_withdraw_or_close() -> None:
    """The Jugendamt, on a case the Jobcenter opened with a consent covering only the Ausländerbehörde."""
    attack = [
        _consent(JA, "a-C9", [SA, JA], 1),
        _referral(JA, "R1", SA, "a-C9", 2),
        _hand_over(JA, SA, "a-C9", 3),
        event("ConsentWithdrawn", JA, 4, case_id="a", consent_id="a-C1"),
        event("CaseClosed", JA, 5, case_id="a", reason="MOVED_AWAY"),
    ]
    events = [opened("a", agency=JC), _consent(JC, "a-C1", [ABH], 0.5), *attack]
    in_caseload, in_referrals = _both(events)
    assert sorted(in_referrals) == [2, 3, 4, 5, 6]
    assert sorted(in_caseload) == [2, 4, 5, 6]  # the caseload does not keep referrals
    for why in [*in_caseload.values(), *in_referrals.values()]:
        assert why.startswith("JUGENDAMT has no part in case a: ")
        assert "(JOBCENTER)" in why
    after = referrals({}, events)
    assert after.referrals == {}
    assert (after.cases["a"].holder, after.cases["a"].status) == (JC, "open")
    assert caseload({}, events).changed["a"].agency == JC


def test_a_case_management_agency_takes_a_case_nobody_manages_by_assigning_its_own_staff() -> None:
    events = [
        opened("a", agency=JA),
        _assigned("SOZIALAMT", 0.2),  # no case management of its own
        _assigned(CM, 0.3, agency=JC),  # another agency's staff
        _assigned(CM, 0.4),  # takes it
        _assigned("MIGRATIONSBERATUNG_MBE", 0.5),  # managed already
        _consent(CM, "a-C1", [SA], 1),
        _consent(JA, "a-C2", [SA], 1.1),  # the holder still may
        event("CaseClosed", CM, 5, case_id="a", reason="GOALS_ACHIEVED"),
    ]
    in_caseload, in_referrals = _both(events)
    assert sorted(in_caseload) == sorted(in_referrals) == [1, 2, 4]
    assert "a case-management agency assigning its own case manager" in in_caseload[1]
    row = caseload({}, events).changed["a"]
    assert (row.agency, row.manager_agency, row.status) == (JA, CM, "closed")


def test_a_hand_over_moves_the_case_and_the_old_holder_loses_it() -> None:
    events = [
        opened("a", agency=JC),
        _consent(JC, "a-C1", [SA, "SOZIALAMT"], 0.5),
        _hand_over(JC, "SOZIALAMT", "a-C1", 1),
        event("CasePaused", JC, 2, case_id="a", reason="OTHER", resume_by=None),  # not its case any more
        event("CasePaused", "SOZIALAMT", 3, case_id="a", reason="OTHER", resume_by=None),
    ]
    assert [i for i, _ in caseload({}, events).rejected] == [3]
    assert referrals({}, events).cases["a"].holder == "SOZIALAMT"


def test_a_receiver_that_accepted_may_refer_further_but_not_close() -> None:
    events = [
        opened("a", agency=CM),
        _consent(CM, "a-C1", [JC, JA, SA], 0.5),
        _referral(CM, "R1", JC, "a-C1", 1),
        _referral(CM, "R2", JA, "a-C1", 1.1),
        event("ReferralAccepted", JC, 2, case_id="a", referral_id="R1"),
        event("ReferralDeclined", JA, 2.1, case_id="a", referral_id="R2", reason="NO_CAPACITY"),
        _referral(JC, "R3", SA, "a-C1", 3),  # accepted R1: may refer on
        _referral(JA, "R4", SA, "a-C1", 3.1),  # declined: no part
        event("CaseClosed", JC, 4, case_id="a", reason="GOALS_ACHIEVED"),  # a receiver does not close the case
    ]
    result = referrals({}, events)
    assert [i for i, _ in result.rejected] == [7, 8]
    assert set(result.referrals) == {("a", "R1"), ("a", "R2"), ("a", "R3")}
    assert result.cases["a"].receivers == [JC]
    assert "or an agency that accepted a referral of the case" in dict(result.rejected)[7]


def test_only_the_office_that_filed_an_application_acts_on_it() -> None:
    def application(kind: str, by: str, day: float, **payload: object) -> Event:
        return event(kind, by, day, application_id="A-1", **payload)

    filed = application(
        "ApplicationFiled", ABH, 0, client_ref="P-000001", procedure="EXTENSION", channel="ONLINE", case_id=None
    )
    result = backlog(
        {},
        [
            filed,
            application("ApplicationCompleted", "EINBUERGERUNGSBEHOERDE", 1),
            application("DecisionIssued", JC, 2, outcome="REFUSED"),
            application("ApplicationCompleted", ABH, 3),
        ],
    )
    assert [i for i, _ in result.rejected] == [1, 2]
    assert "the office that filed the application (AUSLAENDERBEHOERDE)" in result.rejected[0][1]
    assert result.changed["A-1"].state == "complete"


def test_the_reason_names_who_may_publish() -> None:
    why = case_refusal("CaseClosed", JA, "a", Parties(JC, CM, (SA,)), {})
    assert why == (
        "JUGENDAMT has no part in case a: CaseClosed is published by the agency holding the case or its case "
        "manager's agency (JOBCENTER, KIM_CASE_MANAGEMENT)"
    )
    assert case_refusal("CaseClosed", CM, "a", Parties(JC, CM, (SA,)), {}) is None
    assert case_refusal("ReferralIssued", SA, "a", Parties(JC, CM, (SA,)), {}) is None
    assert case_refusal("CaseClosed", JA, "a", Parties(None), {}) is None  # parties unknown (an upgraded row)


# --- the same rules before publishing (streams/usecases/case_gate.py), over drafts and what the projections know ---


def _draft(e: Event) -> EventDraft:
    return EventDraft(e.event_type, dict(e.payload), e.occurred_at)


def test_the_gate_refuses_the_agency_with_no_part_and_names_the_field() -> None:
    view = CaseView(parties={"a": Parties(JC)})
    drafts = [
        _draft(_consent(JA, "a-C9", [SA, JA], 1)),
        _draft(_referral(JA, "R1", SA, "a-C9", 2)),
        _draft(event("CaseClosed", JA, 5, case_id="a", reason="MOVED_AWAY")),
    ]
    refused = verdicts(view, JA, drafts)
    assert sorted(refused) == [0, 1, 2]
    assert {r.field for r in refused.values()} == {"source_agency"}
    assert refused[2].reason.startswith("JUGENDAMT has no part in case a: CaseClosed is published by")
    assert verdicts(view, JC, drafts[2:]) == {}


def test_the_gate_follows_the_batch_and_a_refused_grant_lets_nothing_pass() -> None:
    opening = [_draft(opened("a", agency=JA)), _draft(_consent(JA, "a-C1", [SA], 0.5))]
    assert verdicts(CaseView(), JA, [*opening, _draft(_referral(JA, "R1", SA, "a-C1", 1))]) == {}
    taking = [
        _draft(_consent(CM, "a-C2", [JC], 0.6)),  # not yet its case: refused, and so no consent either
        _draft(_assigned(CM, 0.7)),  # takes the case
        _draft(_referral(CM, "R2", JC, "a-C2", 1)),  # its case now, but a-C2 was never granted
    ]
    refused = verdicts(CaseView(parties={"a": Parties(JA)}), CM, taking)
    assert {i: r.field for i, r in refused.items()} == {0: "source_agency", 2: "payload.consent_id"}
    assert "a-C2 was never granted" in refused[2].reason


def test_the_gate_judges_answers_and_applications_by_who_they_went_to() -> None:
    view = CaseView(parties={"a": Parties(CM)}, sent_to={("a", "R1"): JC}, offices={"A-1": ABH})
    answer = EventDraft("ReferralAccepted", {"case_id": "a", "referral_id": "R1"})
    decision = EventDraft("DecisionIssued", {"application_id": "A-1", "outcome": "GRANTED"})
    assert authority_verdicts(view, JC, [answer]) == {}
    assert authority_verdicts(view, JA, [answer, decision]).keys() == {0, 1}
    assert authority_verdicts(view, ABH, [decision]) == {}
    unknown = EventDraft("CaseClosed", {"case_id": "zz", "reason": "MOVED_AWAY"})
    assert authority_verdicts(view, JA, [unknown]) == {}  # never opened: the stream side says so
