"""The compiled yes/no domain-rule check and the full rules agree: it passes an event iff the rules find nothing.

On schema-valid events (every event the codec and the stream side judge) they must agree exactly. On
anything else (near misses of the codec fuzz) the check may say "no" or raise where the rules find
nothing — the full rules then decide — but it must never pass what the rules refuse or cannot check.
``domain_errors`` (check first, rules second) must answer exactly as the rules alone, errors and exceptions.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from schemas import Codec
from schemas.domain import domain_errors
from schemas.fast_rules import MIRRORED, compile_passes, passes_source
from schemas.fast_validation import compile_check
from schemas.history import stored_samples
from schemas.labels import AGENCY, LEBENSLAGE
from schemas.rules import (
    CLOCK_SKEW,
    DEADLINES,
    IMMIGRATION_OFFICES,
    LOCAL_TIME,
    MUST_NAME_ONE,
    PLATFORM_EVENTS,
    RULES,
    _rules_of,
    _topic_of,
)
from schemas.samples import EVENT_TYPES, SAMPLE_AT, sample_envelope, sample_payload
from tests.unit.test_fuzz_codec import FUZZ, near_miss

CODEC = Codec()
PASSES = {t: compile_passes(t) for t in EVENT_TYPES}
SCHEMA_VALID = {t: compile_check(CODEC.schema_for(t).schema) for t in EVENT_TYPES}
IMMIGRATION_TYPES = sorted(t for t in EVENT_TYPES if _topic_of()[t] == "kim.immigration")
SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
NOT_SPACES = ["\x00", "\x7f", "\u200b", "\ufeff", "\u00ad", "é", "-", "_", "."]  # unprintable or odd, not whitespace


def full_rules(event_type: str, envelope: Any, payload: Any) -> list[str]:
    """What ``domain_errors`` answered before the fast check: every rule of the type, one after another."""
    return [error for rule in _rules_of(event_type) for error in rule(event_type, envelope, payload)]


def outcome(judge: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "answer", judge(*args)
    except Exception as exc:
        return "raised", type(exc)


def agree(event_type: str, envelope: Any, payload: Any, *, exact: bool | None = None) -> bool:
    """Assert that the check never passes what the rules refuse, and matches them exactly on schema-valid
    events; that ``domain_errors`` answers like the rules. Returns whether the event passes."""
    rules = outcome(full_rules, event_type, envelope, payload)
    fast = outcome(PASSES.get(event_type) or compile_passes(event_type), envelope, payload)
    if fast == ("answer", True):
        assert rules == ("answer", []), f"passed, but the rules say {rules}"
    if exact is None:
        exact = SCHEMA_VALID[event_type]({"envelope": envelope, "payload": payload})
    if exact:
        assert (fast == ("answer", True)) == (rules == ("answer", [])), (fast, rules, passes_source(event_type))
    assert outcome(domain_errors, event_type, envelope, payload) == rules
    return rules == ("answer", [])


def test_every_sample_event_passes_both() -> None:
    for event_type in EVENT_TYPES:
        assert agree(event_type, sample_envelope(event_type), sample_payload(event_type), exact=True)


def test_every_stored_sample_of_every_published_version_is_judged_alike() -> None:
    samples = stored_samples()
    assert {s.event_type for s in samples} == set(EVENT_TYPES)
    for sample in samples:
        event = CODEC.decode(sample.data)
        assert agree(event.event_type, event.envelope, event.payload, exact=True), sample.version


def test_an_unknown_type_never_passes_and_gets_every_rule() -> None:
    envelope, payload = sample_envelope("CaseResumed"), sample_payload("CaseResumed")
    assert compile_passes("NoSuchEvent")({**envelope, "event_type": "NoSuchEvent"}, payload) is False
    assert domain_errors("NoSuchEvent", {**envelope, "event_type": "NoSuchEvent"}, payload) == []
    assert domain_errors("NoSuchEvent", envelope, payload) == [
        "envelope.event_type: must be 'NoSuchEvent', the type the event is encoded as"
    ]


def test_the_check_of_a_type_reads_only_what_its_rules_need() -> None:
    """Specialised per type: no deadline, agency or list code where the type has none."""
    resumed = passes_source("CaseResumed")
    assert resumed is not None and "due_by" not in resumed and "OFFICES" not in resumed and "list" not in resumed
    assert "'due_by'" in (passes_source("ReferralIssued") or "")
    assert "OFFICES" in (passes_source("DecisionIssued") or "")
    assert passes_source("NoSuchEvent") is None


def test_every_type_has_a_fast_check_and_every_rule_is_mirrored() -> None:
    """A rule added to rules.RULES switches the fast check off for its types (safe, but slow): extend fast_rules."""
    assert set(RULES) == MIRRORED
    assert [t for t in EVENT_TYPES if passes_source(t) is None] == []


def test_no_whitespace_character_is_printable_but_the_space() -> None:
    """The id check skips the regex for a printable id without ' ': that is sound only if this holds."""
    assert [c for c in SPACES if c.isprintable() and c != " "] == []


@FUZZ
@given(st.sampled_from(EVENT_TYPES), st.data())
def test_near_misses_are_never_passed_wrongly(event_type: str, data: st.DataObject) -> None:
    agree(event_type, *near_miss(event_type, data))


# --- targeted near misses: schema-valid events that break (or nearly break) one rule -------------------

MIDNIGHTS = st.one_of(
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    st.builds(  # around midnight UTC and Berlin (23:00 / 22:00 UTC), on DST change days too
        lambda day, minutes: datetime.combine(day, time(), UTC) + timedelta(minutes=minutes),
        st.sampled_from([date(2025, 3, 30), date(2025, 10, 26), date(2025, 1, 6), date(2025, 7, 1)]),
        st.integers(-180, 180),
    ),
    st.builds(  # the same instants written in another time zone (Python allows offsets up to ±23:59)
        lambda at, minutes: at.astimezone(timezone(timedelta(minutes=minutes))),
        st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)),
        st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    ),
)
AGENCIES = st.sampled_from(sorted(AGENCY))
PER_TYPE = settings(FUZZ, max_examples=max(FUZZ.max_examples // 4, 20))
STEP = st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)])


def _ids(payload: dict[str, Any], ending: str) -> list[str]:
    return sorted(k for k, v in payload.items() if k.endswith(ending) and isinstance(v, str))


@st.composite
def targeted(draw: st.DrawFn, event_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sample of ``event_type`` at a drawn time, with one to three targeted changes."""
    at = draw(MIDNIGHTS)
    envelope, payload = sample_envelope(event_type, at), sample_payload(event_type, at)
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(CHANGES))
        change(draw, event_type, envelope, payload)
    return envelope, payload


def _id_with_odd_characters(draw: st.DrawFn, _: str, __: dict[str, Any], payload: dict[str, Any]) -> None:
    for name in _ids(payload, "_id")[:1]:
        value = payload[name]
        i = draw(st.integers(0, len(value)))
        odd = draw(st.sampled_from(SPACES + NOT_SPACES))
        payload[name] = draw(st.sampled_from([value[:i] + odd + value[i:], "", odd]))


def _bad_pseudonym(draw: st.DrawFn, _: str, __: dict[str, Any], payload: dict[str, Any]) -> None:
    for name in [k for k in payload if k.endswith("_ref")]:
        alphabet = st.sampled_from([*"Aa09_-", " ", "@", ".", "ü", "\t", "\x00"])
        payload[name] = draw(
            st.one_of(st.text(alphabet, min_size=4, max_size=8), st.text("a", min_size=63, max_size=66))
        )


def _deadline_near_the_events_day(draw: st.DrawFn, _: str, envelope: dict[str, Any], payload: dict[str, Any]) -> None:
    at = envelope["occurred_at"]
    days = [at.date(), at.astimezone(UTC).date(), at.astimezone(timezone(timedelta(hours=2))).date()]
    for name in [n for n in DEADLINES if n in payload]:
        payload[name] = draw(st.sampled_from(days)) + timedelta(days=draw(st.integers(-1, 1)))


def _agencies(draw: st.DrawFn, _: str, envelope: dict[str, Any], payload: dict[str, Any]) -> None:
    if "from_agency" in payload:
        payload["from_agency"] = draw(st.sampled_from([envelope["source_agency"], payload["to_agency"]]))
        payload["to_agency"] = draw(st.one_of(st.just(payload["from_agency"]), AGENCIES))
    else:
        envelope["source_agency"] = draw(AGENCIES)


def _lists(draw: st.DrawFn, _: str, __: dict[str, Any], payload: dict[str, Any]) -> None:
    for name in [k for k, v in payload.items() if isinstance(v, list)]:
        value = payload[name]
        if name == "needs":
            value = [{**n, "lebenslage": draw(st.sampled_from(sorted(LEBENSLAGE)))} for n in value]
        payload[name] = draw(st.sampled_from([[], value, value + value[:1], value[:1] * 2, list(reversed(value))]))


def _appointment(draw: st.DrawFn, _: str, envelope: dict[str, Any], payload: dict[str, Any]) -> None:
    if "appointment_at" in payload:
        payload["appointment_at"] = envelope["occurred_at"] + draw(STEP)


def _recorded_at(draw: st.DrawFn, _: str, envelope: dict[str, Any], __: dict[str, Any]) -> None:
    envelope["recorded_at"] = envelope["occurred_at"] - CLOCK_SKEW + draw(STEP)


def _event_type(draw: st.DrawFn, event_type: str, envelope: dict[str, Any], __: dict[str, Any]) -> None:
    envelope["event_type"] = draw(st.sampled_from([event_type, *PLATFORM_EVENTS, "CaseOpened", "DecisionIssued"]))


def _immigration(draw: st.DrawFn, _: str, envelope: dict[str, Any], __: dict[str, Any]) -> None:
    envelope["source_agency"] = draw(
        st.sampled_from([*IMMIGRATION_OFFICES, "JOBCENTER", "KOMMUNALES_INTEGRATIONSZENTRUM"])
    )


CHANGES = [
    _id_with_odd_characters,
    _bad_pseudonym,
    _deadline_near_the_events_day,
    _agencies,
    _lists,
    _appointment,
    _recorded_at,
    _event_type,
    _immigration,
]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@PER_TYPE
@given(st.data())
def test_targeted_near_misses_are_judged_alike(event_type: str, data: st.DataObject) -> None:
    agree(event_type, *data.draw(targeted(event_type)))


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_list_in_any_field_or_a_missing_envelope_field_is_never_passed_wrongly(event_type: str) -> None:
    """Shapes the schema refuses: the rules count duplicates in any list, and read envelope fields."""
    envelope, payload = sample_envelope(event_type), sample_payload(event_type)
    for name in payload:
        for value in (["A", "A"], [], ["A"]):
            agree(event_type, envelope, {**payload, name: value})
    for name in envelope:
        agree(event_type, {k: v for k, v in envelope.items() if k != name}, payload)


@pytest.mark.parametrize("event_type", ["ReferralIssued", "CaseHandedOver"])
def test_from_agency_is_the_source_and_differs_from_to_agency(event_type: str) -> None:
    envelope, payload = sample_envelope(event_type), sample_payload(event_type)
    source, other, third = envelope["source_agency"], "JOBCENTER", "SOZIALAMT"
    for from_agency, to_agency in [(source, other), (source, source), (other, source), (other, other), (other, third)]:
        changed = {**payload, "from_agency": from_agency, "to_agency": to_agency}
        passes = from_agency == source and to_agency != source
        assert agree(event_type, envelope, changed, exact=True) == passes


def test_an_appointment_is_not_before_the_event() -> None:
    envelope, payload = sample_envelope("AppointmentScheduled"), sample_payload("AppointmentScheduled")
    for step in (timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), -timedelta(days=3)):
        changed = {**payload, "appointment_at": SAMPLE_AT + step}
        assert agree("AppointmentScheduled", envelope, changed, exact=True) == (step >= timedelta(0))


@FUZZ
@given(st.sampled_from([*IMMIGRATION_TYPES, *PLATFORM_EVENTS]), AGENCIES)
def test_only_immigration_offices_publish_on_kim_immigration_except_erasures(event_type: str, agency: str) -> None:
    envelope = {**sample_envelope(event_type), "source_agency": agency}
    passes = agree(event_type, envelope, sample_payload(event_type), exact=True)
    immigration = event_type in IMMIGRATION_TYPES and event_type not in PLATFORM_EVENTS
    assert passes == (agency in IMMIGRATION_OFFICES or not immigration)


@pytest.mark.parametrize("event_type", [t for t in EVENT_TYPES if set(MUST_NAME_ONE) & set(sample_payload(t))])
def test_an_empty_list_that_must_name_one_is_refused_by_both(event_type: str) -> None:
    payload = {k: [] if k in MUST_NAME_ONE else v for k, v in sample_payload(event_type).items()}
    assert not agree(event_type, sample_envelope(event_type), payload, exact=True)


@given(
    st.sampled_from([date(2025, 3, 30), date(2025, 7, 1), date(2025, 10, 26)]),
    st.integers(-3 * 60, 3 * 60),
    STEP,
    st.integers(-2, 1),
    st.one_of(st.just(0), st.integers(-(24 * 60 - 1), 24 * 60 - 1)),
)
@example(date(2025, 3, 30), -61, timedelta(0), 0, 0)  # 22:59 UTC on 29 March: still the 29th in Berlin (CET)
@example(date(2025, 3, 30), -60, timedelta(0), -1, 0)  # 23:00 UTC: already the 30th in Berlin
@example(date(2025, 7, 1), -90, timedelta(0), -1, -23 * 60)  # 22:30 UTC written at -23:00: two days before Berlin's
def test_deadlines_around_midnight_are_judged_alike(
    midnight: date, minutes: int, step: timedelta, days: int, offset: int
) -> None:
    """A deadline on the event's day in Berlin passes, the day before not — whatever zone occurred_at is written in."""
    at = datetime.combine(midnight, time(), UTC) + timedelta(minutes=minutes) + step
    at = at.astimezone(timezone(timedelta(minutes=offset)))
    envelope, payload = sample_envelope("ReferralIssued", at), sample_payload("ReferralIssued", at)
    payload["due_by"] = at.astimezone(LOCAL_TIME).date() + timedelta(days=days)
    assert agree("ReferralIssued", envelope, payload, exact=True) == (days >= 0)


def test_an_event_recorded_five_minutes_before_it_happened_is_the_limit() -> None:
    for step in (timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)):
        envelope = {**sample_envelope("CaseResumed"), "recorded_at": SAMPLE_AT - CLOCK_SKEW + step}
        assert agree("CaseResumed", envelope, sample_payload("CaseResumed"), exact=True) == (step >= timedelta(0))
