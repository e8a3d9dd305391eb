"""Where a shared read starts and stops and what each projection takes of it (``read_plan``, `kim replay all`): each
projection gets exactly the records between its own checkpoint and its own bound, whatever the others need."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.records import LogRecord, TopicPartition
from streams.runtime.batch import Prepared
from streams.runtime.read_plan import limits, plan, trim

PARTITIONS: list[TopicPartition] = [("kim.cases", 0), ("kim.cases", 1), ("kim.immigration", 0)]
NAMES = ["caseload", "referrals", "backlog"]
READS = {"caseload": PARTITIONS[:2], "referrals": PARTITIONS[:2], "backlog": PARTITIONS[2:]}

offsets = st.integers(min_value=0, max_value=40)


@st.composite
def situations(draw: st.DrawFn) -> tuple[dict[str, dict[TopicPartition, int]], dict[str, dict[TopicPartition, int]]]:
    """Per projection a bound on some of its partitions (a partition not named: left alone) and its checkpoints."""
    bounds, seen = {}, {}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1)):
        mine = READS[name]
        bounds[name] = {tp: draw(offsets) for tp in mine if draw(st.booleans())}
        seen[name] = {tp: draw(offsets) for tp in mine if draw(st.booleans())}
    return bounds, seen


def read(span: dict[TopicPartition, tuple[int, int]]) -> list[LogRecord]:
    """What the bulk driver fetches: every offset of each planned partition from its start to its end."""
    return [LogRecord(t, p, o, None, b"") for (t, p), (start, end) in sorted(span.items()) for o in range(start, end)]


@given(situations())
def test_each_projection_takes_exactly_its_records_between_its_checkpoint_and_its_bound(situation) -> None:
    bounds, seen = situation
    span = plan(bounds, seen)
    records = read(span)
    reads = {name: {tp for tp in span if tp in READS[name]} for name in bounds}
    cut = limits(bounds, reads, {tp: end for tp, (_, end) in span.items()})
    for name, bound in bounds.items():
        mine = [r for r in records if r.tp in READS[name]]
        prepared = Prepared(mine, list(range(len(mine))))  # the verdicts stand for themselves: alignment kept
        taken = trim(prepared, cut[name]) if name in cut else prepared
        assert [mine[i] for i in taken.events] == list(taken.records)
        # what the transaction keeps after dropping what the checkpoint has seen
        fresh = {(r.tp, r.offset) for r in taken.records if r.offset >= seen[name].get(r.tp, 0)}
        wanted = {(tp, o) for tp, end in bound.items() for o in range(seen[name].get(tp, 0), end)}
        assert fresh == wanted


@given(situations())
def test_a_partition_is_read_only_for_a_projection_short_of_its_bound_from_the_lowest_such_checkpoint(
    situation,
) -> None:
    bounds, seen = situation
    span = plan(bounds, seen)
    for tp, (start, end) in span.items():
        short = [(seen[n].get(tp, 0), b[tp]) for n, b in bounds.items() if tp in b and seen[n].get(tp, 0) < b[tp]]
        assert short and start == min(s for s, _ in short) and end == max(e for _, e in short)
    for name, bound in bounds.items():
        for tp, end in bound.items():
            assert seen[name].get(tp, 0) >= end or tp in span


def test_projections_with_the_same_bounds_take_everything_untrimmed() -> None:
    bounds = {"caseload": {PARTITIONS[0]: 10}, "referrals": {PARTITIONS[0]: 10}}
    span = plan(bounds, {"caseload": {PARTITIONS[0]: 4}})
    assert span == {PARTITIONS[0]: (0, 10)}
    assert limits(bounds, {n: {PARTITIONS[0]} for n in bounds}, {PARTITIONS[0]: 10}) == {}
