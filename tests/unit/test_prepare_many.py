"""One read for several projections (``prepare_many``, a rebuild of all of them) gives each projection exactly the
verdicts ``prepare`` gives it alone: the same records of its topics, applied, dead-lettered or skipped alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.records import Applied, Rejection
from projections.registry import PROJECTIONS
from schemas import Codec
from streams.runtime.batch import prepare, prepare_many
from tests.unit.bad_records import bad_records
from tests.unit.placed import placed
from tests.unit.test_fuzz_codec import CODEC, FUZZ, VALID, mutated

TOPICS = sorted({t for p in PROJECTIONS.values() for t in p.source_topics})
BAD = bad_records(Codec())
VALUES = st.one_of(
    st.sampled_from(VALID),  # every event type, valid
    st.sampled_from([b.value for b in BAD]),  # every kind of bad record (tombstones too)
    mutated(),
    st.binary(max_size=64),
)


def same(a: Applied | Rejection | None, b: Applied | Rejection | None) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, Applied) and isinstance(b, Applied):
        return a.record is b.record and a.event == b.event
    return (
        isinstance(a, Rejection)
        and isinstance(b, Rejection)
        and (a.record, a.reason, a.event_type)
        == (
            b.record,
            b.reason,
            b.event_type,
        )
    )


@FUZZ
@given(st.sampled_from(["", "test-7c."]), st.lists(st.tuples(st.sampled_from(TOPICS), VALUES), max_size=30))
def test_one_read_gives_each_projection_what_prepare_gives_it(prefix: str, items: list[tuple[str, bytes]]) -> None:
    records = [placed(prefix + topic, value, i) for i, (topic, value) in enumerate(items)]
    projections = list(PROJECTIONS.values())
    together = prepare_many(projections, records, CODEC)
    for projection in projections:
        mine = [r for r in records if any(r.topic == prefix + t for t in projection.source_topics)]
        alone = prepare(projection, mine, CODEC)
        shared = together[projection.name]
        assert list(shared.records) == mine
        assert len(shared.events) == len(alone.events)
        for x, y in zip(shared.events, alone.events, strict=True):
            assert same(x, y), (projection.name, x, y)


def test_every_bad_record_and_every_valid_event_together() -> None:
    topic_of = {t: CODEC.schema_for(t).topic for t in CODEC.catalog.event_types()}
    records = [b.record(offset=i) for i, b in enumerate(BAD)] + [
        placed(topic_of[CODEC.decode(v).event_type], v, len(BAD) + i) for i, v in enumerate(VALID)
    ]
    together = prepare_many(list(PROJECTIONS.values()), records, CODEC)
    for projection in PROJECTIONS.values():
        mine = [r for r in records if r.topic in projection.source_topics]
        alone = prepare(projection, mine, CODEC)
        assert all(same(x, y) for x, y in zip(together[projection.name].events, alone.events, strict=True))
        assert any(isinstance(v, Applied) for v in alone.events)
        assert any(isinstance(v, Rejection) for v in alone.events)
