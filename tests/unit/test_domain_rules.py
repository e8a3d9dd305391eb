"""Every domain rule fires and names the field; valid samples pass; Codec reports rules after the schema."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import Codec, EncodeError
from schemas.domain import domain_errors
from schemas.rules import _DATE_RUN, _EIGHT_DIGITS, _WORD, ID_RULE, valid_id
from schemas.samples import EVENT_TYPES, SAMPLE_AT, sample_envelope, sample_payload

CODEC = Codec()
DAY = SAMPLE_AT.date()


def errors(
    event_type: str, at: datetime = SAMPLE_AT, envelope: dict[str, Any] | None = None, **changes: Any
) -> list[str]:
    """Codec.validate of the sample with ``changes`` to its payload (and envelope fields)."""
    payload = {**sample_payload(event_type, at), **changes}
    return CODEC.validate(event_type, {**sample_envelope(event_type, at), **(envelope or {})}, payload)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_sample_keeps_every_rule(event_type: str) -> None:
    assert errors(event_type) == []


def test_the_envelope_names_the_encoded_type() -> None:
    assert errors("CaseClosed", envelope={"event_type": "CaseOpened"}) == [
        "envelope.event_type: must be 'CaseClosed', the type the event is encoded as"
    ]


def test_an_event_is_not_recorded_before_it_happened() -> None:
    late = {"recorded_at": SAMPLE_AT - timedelta(hours=1)}
    assert errors("CaseResumed", envelope=late) == [
        "envelope.occurred_at: must not be after recorded_at (an event is recorded after it happens)"
    ]
    assert errors("CaseResumed", envelope={"recorded_at": SAMPLE_AT - timedelta(minutes=4)}) == []  # clock skew


@pytest.mark.parametrize("event_type", ["ReferralDeclined", "CaseOpened", "DecisionIssued"])
def test_an_event_time_before_the_network_existed_is_refused(event_type: str) -> None:
    """The year 0044 a partner typed passed every check and became a projection's "last event time"."""
    ancient = datetime(44, 3, 15, 12, 0, tzinfo=UTC)
    assert errors(event_type, envelope={"occurred_at": ancient}) == [
        "envelope.occurred_at: must not be before 2015-01-01, the earliest event time the network accepts "
        "(a typo in the year?)"
    ]
    assert errors(event_type, envelope={"occurred_at": datetime(2015, 1, 1, tzinfo=UTC)}) == []


def test_only_the_immigration_offices_publish_immigration_events() -> None:
    assert errors("ApplicationFiled", envelope={"source_agency": "JOBCENTER"}) == [
        "envelope.source_agency: ApplicationFiled is published by the immigration offices only "
        "(AUSLAENDERBEHOERDE or EINBUERGERUNGSBEHOERDE)"
    ]
    assert (
        errors("ApplicationFiled", envelope={"source_agency": "EINBUERGERUNGSBEHOERDE"}, procedure="NATURALISATION")
        == []
    )


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("CaseOpened", "case_id"), ("ReferralIssued", "referral_id"), ("ReferralIssued", "consent_id"),
     ("GoalAchieved", "goal_id"), ("ApplicationFiled", "application_id"), ("ApplicationFiled", "case_id")],
)  # fmt: skip
def test_ids_are_not_empty_and_have_no_whitespace(event_type: str, field: str) -> None:
    assert errors(event_type, **{field: ""}) == [f"payload.{field}: must not be empty"]
    assert errors(event_type, **{field: "DO 2025 4711"}) == [f"payload.{field}: must not contain whitespace"]


def test_an_optional_id_may_be_left_out() -> None:
    assert errors("ApplicationFiled", case_id=None) == []


@pytest.mark.parametrize(
    "value",
    [
        "Ahmed Yilmaz",  # a name: space
        "a.yilmaz@example.org",  # an e-mail address
        "Müller1980",  # umlaut: typed by hand, not generated
        "12.05.1990",  # a birth date
        "P-17",  # too short to be a generated token
        "P" * 65,  # too long to be a token
        "",
    ],
)
@pytest.mark.parametrize(
    ("event_type", "field"), [("CaseOpened", "client_ref"), ("CaseManagerAssigned", "case_manager_ref")]
)
def test_refs_must_look_like_pseudonyms_and_are_never_echoed(event_type: str, field: str, value: str) -> None:
    found = errors(event_type, **{field: value})
    assert found == [
        f"payload.{field}: must be a pseudonym: 6 to 64 of A-Z a-z 0-9 _ - (no names, e-mail addresses or spaces)"
    ]
    assert value == "" or value not in found[0], "a rejected ref may be a name: never copy it into a message"


@pytest.mark.parametrize("value", ["P-7f3a9c2e41b8", "a1b2c3", "CM-DO-017", "8f14e45f_ceea_467f"])
def test_generated_pseudonyms_pass(value: str) -> None:
    assert errors("ApplicationFiled", client_ref=value) == []


@pytest.mark.parametrize("event_type", ["ReferralIssued", "CaseHandedOver"])
def test_sharing_names_two_different_agencies(event_type: str) -> None:
    assert errors(event_type, to_agency="KIM_CASE_MANAGEMENT") == ["payload.to_agency: must differ from from_agency"]


@pytest.mark.parametrize("event_type", ["ReferralIssued", "CaseHandedOver"])
def test_an_agency_speaks_only_for_itself(event_type: str) -> None:
    assert errors(event_type, from_agency="JUGENDAMT") == [
        "payload.from_agency: must be the source agency KIM_CASE_MANAGEMENT (an agency speaks only for itself)"
    ]


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("ReferralIssued", "due_by"), ("DocumentsRequested", "due_by"), ("GoalAgreed", "target_date"),
     ("ConsentGranted", "valid_until"), ("PermitHandedOver", "valid_until"), ("CasePaused", "resume_by")],
)  # fmt: skip
def test_deadlines_are_not_before_the_events_day(event_type: str, field: str) -> None:
    yesterday = DAY - timedelta(days=1)
    assert errors(event_type, **{field: yesterday}) == [
        f"payload.{field}: {yesterday.isoformat()} is before the event's date {DAY.isoformat()}"
    ]
    assert errors(event_type, **{field: DAY}) == []


def test_the_events_day_is_the_day_in_dortmund() -> None:
    late_evening = datetime(2025, 1, 6, 23, 30, tzinfo=UTC)  # 7 January, 00:30 in Dortmund
    assert errors("ReferralIssued", at=late_evening, due_by=date(2025, 1, 7)) == []
    assert errors("ReferralIssued", at=late_evening, due_by=date(2025, 1, 6)) == [
        "payload.due_by: 2025-01-06 is before the event's date 2025-01-07"
    ]


def test_an_appointment_is_not_scheduled_in_the_past() -> None:
    assert errors("AppointmentScheduled", appointment_at=SAMPLE_AT - timedelta(days=1)) == [
        "payload.appointment_at: must not be before occurred_at (an appointment is scheduled ahead)"
    ]
    assert errors("AppointmentScheduled", appointment_at=SAMPLE_AT) == []


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("DocumentsRequested", "documents"), ("DocumentsReceived", "documents"), ("NeedsAssessed", "needs"),
     ("ConsentGranted", "recipients"), ("ConsentGranted", "data_categories")],
)  # fmt: skip
def test_lists_that_must_name_at_least_one(event_type: str, field: str) -> None:
    assert errors(event_type, **{field: []}) == [f"payload.{field}: must name at least one"]


def test_a_need_is_assessed_once_per_lebenslage() -> None:
    needs = [{"lebenslage": "LANGUAGE", "priority": "HIGH"}, {"lebenslage": "LANGUAGE", "priority": "URGENT"}]
    assert errors("NeedsAssessed", needs=needs) == ["payload.needs: Lebenslage LANGUAGE is assessed more than once"]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [("DocumentsRequested", "documents", ["PASSPORT", "PASSPORT"]), ("ConsentGranted", "recipients", ["JOBCENTER"] * 2),
     ("CaseOpened", "rechtskreise", ["SGB_II", "AUFENTHG", "SGB_II"])],
)  # fmt: skip
def test_no_list_names_an_entry_twice(event_type: str, field: str, value: list[str]) -> None:
    assert errors(event_type, **{field: value}) == [f"payload.{field}: {value[0]} is listed more than once"]


def test_encode_lists_every_broken_rule_at_once() -> None:
    payload = {**sample_payload("ReferralIssued"), "to_agency": "KIM_CASE_MANAGEMENT", "referral_id": ""}
    with pytest.raises(EncodeError) as raised:
        CODEC.encode(
            "ReferralIssued", sample_envelope("ReferralIssued"), {**payload, "due_by": DAY - timedelta(days=1)}
        )
    assert len(raised.value.errors) == 3
    assert {e.split(":")[0] for e in raised.value.errors} == {
        "payload.referral_id",
        "payload.to_agency",
        "payload.due_by",
    }


def test_domain_rules_wait_until_the_schema_is_met() -> None:
    """A schema error is reported alone: the rules would only guess at (or trip over) a broken event."""
    payload = {**sample_payload("ReferralIssued"), "to_agency": "KIM_CASE_MANAGEMENT", "referral_id": ""}
    del payload["from_agency"]
    found = CODEC.validate("ReferralIssued", sample_envelope("ReferralIssued"), payload)
    assert found == ["payload.from_agency: required field is missing"]


def test_domain_errors_is_callable_on_its_own() -> None:
    envelope = sample_envelope("DocumentsRequested")
    assert domain_errors("DocumentsRequested", envelope, {**sample_payload("DocumentsRequested"), "documents": []}) == [
        "payload.documents: must name at least one"
    ]


@pytest.mark.parametrize(
    "value",
    [
        "Mustermann_Max_1990-05-01",  # a name and a birth date, typed into the id
        "DO-MUSTERMANN-1",  # a word: a part of three or more letters without a digit
        "DO-Max",
        "DO-2025-1990-05-01",  # a date as three parts
        "DO-01-05-1990",
        "DO-19900501",  # a date as eight digits
        "DO-01051990",
        "do-2025-004711",  # the prefix is capital letters
        "DO",  # no part
        "-1",
        "DO-" + "1" * 62,  # longer than 64
        "DO 2025",
    ],
)
def test_an_id_that_could_hold_a_name_or_a_date_is_refused(value: str) -> None:
    assert errors("CaseClosed", case_id=value) == [f"payload.case_id: {ID_RULE}"] or value == "DO 2025"
    assert errors("CaseClosed", case_id=value)  # "DO 2025": refused for its space, before the format


@pytest.mark.parametrize(
    "value",
    ["DO-2025-004711", "DO-2025-004711-C1", "ABH-2025-06E1B9-123456", "DO-1", "DO-P-1", "ER-3fa9c0d2e1b4a5c6", "C-1"],
)
def test_system_made_ids_pass(value: str) -> None:
    assert errors("CaseClosed", case_id=value) == []


@given(
    prefix=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4),
    parts=st.lists(st.integers(0, 2**40), min_size=1, max_size=4),
)
def test_a_prefix_and_hexadecimal_counters_pass_unless_a_part_reads_as_a_date(prefix: str, parts: list[int]) -> None:
    """What an agency's system makes (a prefix, counters, hex digests) passes; the one exception is a part that
    happens to read as a calendar date, which is refused whoever made it."""
    text = [f"{n:X}" if n % 2 else str(n) for n in parts]
    value = "-".join([prefix, *text])
    dated = any(len(t) == 8 and t.isdigit() and _EIGHT_DIGITS.fullmatch(t) for t in text)
    word = any(_WORD.fullmatch(t) for t in text)
    assert valid_id(value) == (
        len(value) <= 64 and not dated and not word and not _DATE_RUN.search(value[len(prefix) :])
    )
