"""The consent gate's decision (pure): what a referral or hand-over needs before the SDK or gateway sends it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from projections.common import NO_CONSENTS, grant_consent
from schemas.partitioner import partition_of
from streams.sdk.draft import EventDraft
from streams.usecases.case_gate import consent_verdicts

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CASE = "DO-2025-000042"


def grant(consent_id: str, to: list[str], at: datetime = T0, until: date | None = None) -> EventDraft:
    payload = {
        "case_id": CASE,
        "consent_id": consent_id,
        "recipients": to,
        "data_categories": ["CASE_PLAN"],
        "valid_until": until,
    }
    return EventDraft("ConsentGranted", occurred_at=at, payload=payload)


def withdraw(consent_id: str, at: datetime) -> EventDraft:
    return EventDraft("ConsentWithdrawn", occurred_at=at, payload={"case_id": CASE, "consent_id": consent_id})


def referral(to: str, consent_id: str = "C-1", at: datetime = T0 + timedelta(days=1)) -> EventDraft:
    payload = {
        "case_id": CASE,
        "referral_id": f"{CASE}-R1",
        "from_agency": "KIM_CASE_MANAGEMENT",
        "to_agency": to,
        "lebenslage": "WORK",
        "due_by": None,
        "consent_id": consent_id,
    }
    return EventDraft("ReferralIssued", occurred_at=at, payload=payload)


def handover(to: str, consent_id: str = "C-1", at: datetime = T0 + timedelta(days=2)) -> EventDraft:
    payload = {"case_id": CASE, "from_agency": "KIM_CASE_MANAGEMENT", "to_agency": to, "consent_id": consent_id}
    return EventDraft("CaseHandedOver", occurred_at=at, payload=payload)


def recorded(*grants: EventDraft) -> dict[str, str]:
    consents = NO_CONSENTS
    for g in grants:
        consents = grant_consent(consents, CASE, dict(g.payload))
    return {CASE: consents}


def test_a_referral_without_any_consent_is_refused_naming_the_consent() -> None:
    assert consent_verdicts({}, [referral("JOBCENTER")]) == {
        0: "referral to JOBCENTER refused: consent C-1 was never granted for this case"
    }


def test_a_recorded_consent_that_covers_the_agency_lets_it_pass_and_one_that_does_not_refuses() -> None:
    known = recorded(grant("C-1", ["JOBCENTER"]))
    assert consent_verdicts(known, [referral("JOBCENTER")]) == {}
    assert consent_verdicts(known, [handover("JUGENDAMT")]) == {
        0: "hand-over to JUGENDAMT refused: consent C-1 does not cover JUGENDAMT"
    }


def test_consents_earlier_in_the_same_batch_count_in_order() -> None:
    granted_then_referred = [grant("C-1", ["JOBCENTER"]), referral("JOBCENTER")]
    assert consent_verdicts({}, granted_then_referred) == {}
    referred_then_granted = [referral("JOBCENTER"), grant("C-1", ["JOBCENTER"])]
    assert list(consent_verdicts({}, referred_then_granted)) == [0]
    withdrawn = [withdraw("C-1", T0 + timedelta(hours=1)), referral("JOBCENTER")]
    [(index, why)] = consent_verdicts(recorded(grant("C-1", ["JOBCENTER"])), withdrawn).items()
    assert index == 1 and "withdrawn on 2025-03-03" in why


def test_an_expired_consent_refuses_after_its_last_day_in_dortmund_time() -> None:
    known = recorded(grant("C-1", ["JOBCENTER"], until=date(2025, 3, 10)))
    last_evening = datetime(2025, 3, 10, 22, 30, tzinfo=UTC)  # 23:30 in Dortmund: still the 10th
    next_morning = datetime(2025, 3, 10, 23, 30, tzinfo=UTC)  # 00:30 on the 11th in Dortmund
    assert consent_verdicts(known, [referral("JOBCENTER", at=last_evening)]) == {}
    assert "expired after 2025-03-10" in consent_verdicts(known, [referral("JOBCENTER", at=next_morning)])[0]


def test_events_that_share_nothing_pass_untouched() -> None:
    closing = EventDraft("CaseClosed", occurred_at=T0, payload={"case_id": CASE, "reason": "NO_CONTACT"})
    assert consent_verdicts({}, [closing, grant("C-1", ["JOBCENTER"]), grant("C-1", ["JOBCENTER"])]) == {}


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=64))
def test_the_gate_waits_on_the_partition_kafkas_default_partitioner_chooses(case_id: str, partitions: int) -> None:
    key = case_id.encode()
    expected = DefaultPartitioner()(key, list(range(partitions)), list(range(partitions)))
    assert partition_of(case_id, partitions) == expected
