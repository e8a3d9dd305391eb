"""The dead-letter tally of `kim status` (streams/operations/dlq_tally.py): pure, no services.

A simulated DLQ partition is a list of ``(offset, projection)`` with gaps (offsets that hold no record,
as transaction markers leave), a log start (retention) and an end; a simulated reader returns the
records from a position in chunks and stands after them, as the Kafka consumer does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.operations.dlq_tally import PartitionTally, Tally, add, done, plan, restarts, totals

Log = list[tuple[int, str]]  # (offset, projection), offsets increasing
PROJECTIONS = st.sampled_from(["caseload", "referrals", "backlog", ""])


@st.composite
def logs(draw: st.DrawFn) -> Log:
    gaps = draw(st.lists(st.integers(0, 3), max_size=40))
    out, offset = [], 0
    for gap in gaps:
        offset += gap
        out.append((offset, draw(PROJECTIONS)))
        offset += 1
    return out


def _read(part: PartitionTally, log: Log, start: int, end: int, chunk: int) -> PartitionTally:
    """What the Kafka edge does for one partition: read from ``next_offset`` to ``end`` in chunks."""
    pending = [(o, p) for o, p in log if max(part.next_offset, start) <= o]
    while part.next_offset < end:
        batch, pending = pending[:chunk], pending[chunk:]
        position = pending[0][0] if pending else max(end, log[-1][0] + 1 if log else 0)
        part = add(part, batch, position, end)
    return part


def _call(
    stored: Tally, logs: Mapping[int, Log], starts: Mapping[int, int], ends: Mapping[int, int], chunk: int
) -> dict[int, PartitionTally]:
    """One `kim status`: continue the stored tally to the ends."""
    tally = plan(stored, starts, ends)
    for p in tally:
        tally[p] = _read(tally[p], logs[p], starts[p], ends[p], chunk)
    assert done(tally, ends)
    return tally


def _full_read(logs: Mapping[int, Log], starts: Mapping[int, int], ends: Mapping[int, int]) -> Counter[str]:
    """Today's count: every letter still in the log, up to the ends."""
    return Counter(name for p, log in logs.items() for o, name in log if starts[p] <= o < ends[p])


def _log_end(log: Log) -> int:
    return log[-1][0] + 1 if log else 0


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.integers(0, 3), logs(), min_size=1, max_size=4),
    st.lists(st.floats(0, 1), max_size=5),
    st.integers(1, 7),
)
def test_tallying_in_one_go_or_in_any_split_gives_the_counts_of_a_full_read(
    parts: dict[int, Log], cuts: list[float], chunk: int
) -> None:
    """The log grows between calls (each call sees a later end); the last call counts every letter once."""
    starts = dict.fromkeys(parts, 0)
    final = {p: _log_end(log) for p, log in parts.items()}
    tally: Tally = {}
    for cut in sorted(cuts):
        ends = {p: int(final[p] * cut) for p in parts}
        tally = _call(tally, parts, starts, ends, chunk)
        assert totals(tally) == _full_read(parts, starts, ends)
    tally = _call(tally, parts, starts, final, chunk)
    assert totals(tally) == _full_read(parts, starts, final) == totals(_call({}, parts, starts, final, 1000))
    assert all(tally[p].next_offset == final[p] for p in parts)


@settings(max_examples=200, deadline=None)
@given(logs(), st.floats(0, 1), st.floats(0, 1), st.integers(1, 7))
def test_after_retention_the_partition_is_counted_again_from_its_new_start(
    log: Log, counted: float, deleted: float, chunk: int
) -> None:
    end = _log_end(log)
    first = _call({}, {0: log}, {0: 0}, {0: int(end * counted)}, chunk)
    start = int(end * deleted)
    tally = _call(first, {0: log}, {0: start}, {0: end}, chunk)
    assert totals(tally) == _full_read({0: log}, {0: start}, {0: end})
    assert tally[0].from_offset == start
    assert restarts(first, {0: start}, {0: end}) == ({0} if start > 0 else set())


def test_a_stored_tally_is_continued_not_recounted() -> None:
    stored = {0: PartitionTally(0, 5, {"caseload": 99})}  # 99: not what the log holds, so a recount would show
    tally = _call(stored, {0: [(4, "caseload"), (5, "referrals"), (7, "caseload")]}, {0: 0}, {0: 8}, 1)
    assert tally == {0: PartitionTally(0, 8, {"caseload": 100, "referrals": 1})}


def test_new_partitions_start_at_their_log_start_and_vanished_ones_are_dropped() -> None:
    stored = {0: PartitionTally(0, 3, {"caseload": 3}), 7: PartitionTally(0, 1, {"caseload": 1})}
    tally = plan(stored, starts={0: 0, 1: 0, 2: 4}, ends={0: 3, 1: 2, 2: 9})
    assert tally == {0: stored[0], 1: PartitionTally(0, 0), 2: PartitionTally(4, 4)}
    assert restarts(stored, {0: 0, 1: 0, 2: 4}, {0: 3, 1: 2, 2: 9}) == set()


def test_a_log_shorter_than_the_position_is_a_recreated_topic_and_counted_again() -> None:
    stored = {0: PartitionTally(0, 10, {"caseload": 10})}
    assert restarts(stored, {0: 0}, {0: 4}) == {0}
    assert plan(stored, {0: 0}, {0: 4}) == {0: PartitionTally(0, 0)}


def test_add_counts_only_the_new_letters_before_the_end_and_steps_over_gaps() -> None:
    part = PartitionTally(2, 5, {"caseload": 1})
    letters: Sequence[tuple[int, str]] = [(3, "caseload"), (5, "referrals"), (6, ""), (9, "caseload")]
    assert add(part, letters, position=10, end=9) == PartitionTally(2, 9, {"caseload": 1, "referrals": 1, "": 1})
    assert add(part, [], position=8, end=9).next_offset == 8  # offsets 5..7 hold no record
    assert add(part, [], position=3, end=9).next_offset == 5  # never backwards
