"""Fuzzing the stream side: whatever bytes arrive on a source topic, ``prepare`` answers Applied, Rejection or
None for every projection of the topic — never an exception — and a record that is not a valid event on its
topic is dead-lettered by at least one of them (nothing bad is applied, nothing bad goes unreported)."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from projections.records import Applied, Rejection
from projections.registry import PROJECTIONS
from schemas import DecodeError
from schemas.codec import MAGIC
from streams.runtime.batch import prepare
from streams.runtime.judge import catalog_topic, offence
from tests.unit.placed import placed
from tests.unit.test_fuzz_codec import CODEC, FINGERPRINTS, FUZZ, VALID, mutated

TOPICS = sorted({t for p in PROJECTIONS.values() for t in p.source_topics})
TOPIC_NAMES = st.builds(
    lambda prefix, topic: prefix + topic, st.sampled_from(["", "test-9f."]), st.sampled_from(TOPICS)
)


def judged_by_every_projection(topic: str, value: bytes | None) -> None:
    record = placed(topic, value)
    projections = [p for p in PROJECTIONS.values() if catalog_topic(p, topic) in p.source_topics]
    assert projections
    verdicts = {}
    for projection in projections:
        (verdict,) = prepare(projection, [record], CODEC).events
        assert verdict is None or isinstance(verdict, (Applied, Rejection)), verdict
        if isinstance(verdict, Rejection):
            assert verdict.reason and verdict.record is record
        verdicts[projection.name] = verdict
    try:
        event = CODEC.decode(value)
    except DecodeError:
        event = None
    base = catalog_topic(projections[0], topic)
    valid = (
        event is not None
        and offence(event, base, {t: CODEC.schema_for(t).topic for t in CODEC.catalog.event_types()}) is None
    )
    letters = [name for name, v in verdicts.items() if isinstance(v, Rejection)]
    if valid:
        assert not letters, verdicts
        for projection in projections:
            reads = event.event_type in projection.event_types
            assert isinstance(verdicts[projection.name], Applied) == reads, verdicts
    else:
        assert letters, f"a bad record reached no dead-letter queue: {verdicts}"
        assert not [v for v in verdicts.values() if isinstance(v, Applied)], verdicts


@FUZZ
@given(TOPIC_NAMES, st.binary(max_size=512))
@example("kim.cases", b"")
@example("kim.cases", MAGIC)
@example("kim.immigration", MAGIC + b"\x00" * 8)
@example("test-9f.kim.cases", None)
def test_random_bytes_are_judged_never_raised(topic: str, data: bytes | None) -> None:
    judged_by_every_projection(topic, data)


@FUZZ
@given(TOPIC_NAMES, st.sampled_from(FINGERPRINTS), st.binary(max_size=512))
def test_random_bodies_behind_a_known_fingerprint_are_judged(topic: str, fingerprint: bytes, body: bytes) -> None:
    judged_by_every_projection(topic, MAGIC + fingerprint + body)


@FUZZ
@given(TOPIC_NAMES, mutated())
def test_mutated_events_on_any_topic_are_judged(topic: str, data: bytes) -> None:
    judged_by_every_projection(topic, data)


@FUZZ
@given(TOPIC_NAMES, st.sampled_from(VALID))
def test_valid_events_are_applied_by_their_readers_on_their_topic_and_refused_on_the_other(
    topic: str, data: bytes
) -> None:
    judged_by_every_projection(topic, data)
