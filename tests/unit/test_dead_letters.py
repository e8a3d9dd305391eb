"""The stream-side judgement (streams/runtime/judge.py through runner.prepare), without services.

Who dead-letters what: every bad kind reaches the DLQ through exactly the projections whose duty it is;
good events are applied by the projections that read them and skipped unread by the others; what was
accepted once (every stored sample of every published version) is still accepted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from projections.records import LOG_APPEND_TIME, Applied, LogRecord, Rejection
from projections.registry import PROJECTIONS
from schemas import Codec
from schemas.domain import domain_errors
from schemas.history import stored_samples
from schemas.rules import RULES
from schemas.samples import EVENT_TYPES, sample_envelope, sample_event, sample_payload
from streams.runtime.batch import prepare
from streams.runtime.judge import duties, judge
from tests.unit.bad_records import bad_records
from tests.unit.placed import placed

CODEC = Codec()
PEERS = list(PROJECTIONS.values())


def on(topic: str) -> dict[str, object]:
    return {name: p for name, p in PROJECTIONS.items() if topic in p.source_topics}


def verdicts(topic: str, value: bytes | None, prefix: str = "", record: LogRecord | None = None) -> dict[str, object]:
    record = record or placed(prefix + topic, value, 7)
    return {name: prepare(p, [record], CODEC).events[0] for name, p in on(topic).items()}


@pytest.mark.parametrize("prefix", ["", "test-1a2b."])
@pytest.mark.parametrize("bad", bad_records(CODEC), ids=lambda b: f"{b.kind} on {b.topic}")
def test_each_bad_kind_is_dead_lettered_by_the_projections_whose_duty_it_is(bad, prefix: str) -> None:
    got = verdicts(bad.topic, bad.value, prefix, bad.record(prefix, 7))
    letters = {name: v for name, v in got.items() if isinstance(v, Rejection)}
    assert set(letters) == bad.letters_from, got
    assert all(v is None for name, v in got.items() if name not in letters), "never applied"
    for rejection in letters.values():
        assert bad.reason in rejection.reason
        assert rejection.record.value == bad.value and rejection.record.topic == prefix + bad.topic


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_good_event_is_applied_by_its_readers_and_skipped_by_the_others(event_type: str) -> None:
    event = sample_event(event_type)
    value = CODEC.encode(event.event_type, event.envelope, event.payload)
    topic = CODEC.schema_for(event_type).topic
    for name, verdict in verdicts(topic, value, "p.").items():
        if event_type in PROJECTIONS[name].event_types:
            assert isinstance(verdict, Applied) and verdict.event.payload == event.payload
        else:
            assert verdict is None


@pytest.mark.parametrize("sample", stored_samples(), ids=lambda s: f"{s.event_type}-v{s.version}")
def test_every_published_version_once_accepted_is_still_accepted(sample) -> None:
    """The stream side re-checks today's rules: a stored sample of any version must still pass them."""
    topic = CODEC.catalog.current(sample.event_type).topic
    got = verdicts(topic, sample.data)
    assert not [v for v in got.values() if isinstance(v, Rejection)], got


def test_the_first_projection_of_a_topic_is_its_warden_and_skips_only_what_a_peer_judges() -> None:
    caseload, referrals, backlog, outcomes = (PROJECTIONS[n] for n in ("caseload", "referrals", "backlog", "outcomes"))
    types = CODEC.writer_types()
    by_type = {t: {fp for fp, kind in types.items() if kind == t} for t in set(types.values())}
    on_cases = {p.name: duties(p, "x.kim.cases", CODEC, PEERS) for p in (caseload, referrals, outcomes)}
    assert on_cases["caseload"].warden and not on_cases["referrals"].warden and not on_cases["outcomes"].warden
    assert duties(backlog, "kim.immigration", CODEC, PEERS).warden
    assert by_type["GoalAgreed"] <= on_cases["outcomes"].judged  # read by outcomes alone
    assert not by_type["GoalAgreed"] & (on_cases["referrals"].judged | on_cases["caseload"].judged)
    assert (
        by_type["CaseOpened"]
        <= on_cases["caseload"].judged & on_cases["referrals"].judged & on_cases["outcomes"].judged
    )
    assert by_type["ReferralIssued"] <= on_cases["referrals"].judged - on_cases["caseload"].judged
    assert by_type["ApplicationFiled"] <= on_cases["caseload"].judged  # wrong topic: the warden's
    assert not by_type["ApplicationFiled"] & (on_cases["referrals"].judged | on_cases["outcomes"].judged)


def test_a_projection_outside_the_registry_judges_everything_alone() -> None:
    class Solo:
        name = "solo"
        source_topics = ("kim.cases",)
        event_types = frozenset({"CaseOpened"})

    got = prepare(Solo(), [LogRecord("kim.cases", 0, 0, None, b"junk")], CODEC).events
    assert isinstance(got[0], Rejection)
    assert duties(Solo(), "kim.cases", CODEC, PEERS).judged == frozenset(CODEC.writer_types())


def test_a_batch_keeps_order_and_mixes_topics() -> None:
    good = sample_event("CaseOpened")
    value = CODEC.encode(good.event_type, good.envelope, good.payload)
    records = [placed("kim.cases", v, i) for i, v in enumerate([value, b"junk", value])]
    events = prepare(PROJECTIONS["caseload"], records, CODEC).events
    assert [type(e).__name__ for e in events] == ["Applied", "Rejection", "Applied"]
    assert events[1].record.offset == 1


def test_a_redriven_warden_letter_that_passes_now_has_nothing_to_apply() -> None:
    goal = sample_event("GoalAgreed")
    record = placed("kim.cases", CODEC.encode(goal.event_type, goal.envelope, goal.payload))
    assert judge(PROJECTIONS["caseload"], record, CODEC) is None
    assert isinstance(judge(PROJECTIONS["caseload"], record._replace(topic="kim.immigration"), CODEC), Rejection)


def _broken(payload: dict) -> list[dict]:
    """The payload with each kind of field pushed to what a rule refuses: lists empty or repeated, dates early."""
    early = date(2000, 1, 1)
    return [
        payload,
        {k: [] if isinstance(v, list) else v for k, v in payload.items()},
        {k: v + v if isinstance(v, list) else v for k, v in payload.items()},
        {k: early if isinstance(v, date) and not isinstance(v, datetime) else v for k, v in payload.items()},
        {k: datetime(2000, 1, 1, tzinfo=UTC) if isinstance(v, datetime) else v for k, v in payload.items()},
        {**payload, **({"to_agency": payload["from_agency"]} if "from_agency" in payload else {})},
        {k: "no pseudonym" if k.endswith("_ref") else v for k, v in payload.items()},
    ]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_rules_left_out_for_a_type_would_find_nothing_in_it(event_type: str) -> None:
    """domain_errors asks only the rules that can apply to a type's fields; all of them agree."""
    event = sample_event(event_type)
    for agency in (event.envelope["source_agency"], "JOBCENTER"):
        envelope = {**event.envelope, "source_agency": agency}
        for payload in _broken(event.payload):
            every = [e for rule in RULES for e in rule(event_type, envelope, payload)]
            assert domain_errors(event_type, envelope, payload) == every


def test_a_letter_never_copies_bytes_that_show_a_pseudonym_in_clear() -> None:
    """shows_a_pseudonym decides which letters go without the record's bytes (streams/runtime/dlq.py)."""
    from streams.runtime.dlq import shows_a_pseudonym

    by_kind = {b.kind: b.value for b in bad_records(CODEC)}
    assert shows_a_pseudonym(by_kind["a pseudonym in clear where v2 seals it (CaseOpened)"])
    assert shows_a_pseudonym(by_kind["a pseudonym in clear where v2 seals it (ApplicationFiled)"])
    assert shows_a_pseudonym(by_kind["truncated CaseOpened"])  # cannot be read: kept out to be safe
    assert not shows_a_pseudonym(by_kind["truncated ReferralIssued"])  # no client in that type
    assert not shows_a_pseudonym(by_kind["garbage bytes"]) and not shows_a_pseudonym(None)
    sealed = CODEC.encode("CaseClosed", sample_envelope("CaseClosed"), sample_payload("CaseClosed"))
    assert not shows_a_pseudonym(sealed)


def test_an_event_dated_after_the_broker_appended_it_is_dead_lettered() -> None:
    """A raw producer sets recorded_at as it likes; the broker's append time is the "now" it cannot choose."""
    event = sample_event("CaseClosed")
    value = CODEC.encode(event.event_type, event.envelope, event.payload)
    appended_ms = int(event.occurred_at.timestamp() * 1000)
    record = placed("kim.cases", value, timestamp=appended_ms, timestamp_type=LOG_APPEND_TIME)
    assert isinstance(judge(PROJECTIONS["caseload"], record, CODEC), Applied)
    skewed = record._replace(timestamp=appended_ms - 4 * 60_000)  # within the clock skew
    assert isinstance(judge(PROJECTIONS["caseload"], skewed, CODEC), Applied)
    early = record._replace(timestamp=appended_ms - 3_600_000)  # appended an hour before the event "happened"
    verdict = judge(PROJECTIONS["caseload"], early, CODEC)
    assert isinstance(verdict, Rejection) and "is after the broker appended the record" in verdict.reason
    creation_time = early._replace(timestamp_type=0)  # a producer's own timestamp proves nothing either way
    assert isinstance(judge(PROJECTIONS["caseload"], creation_time, CODEC), Applied)
