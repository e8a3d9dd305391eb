"""What the worker commits to its Kafka consumer group: the checkpoints of the partitions it owns, per assignment."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.group_offsets import GroupOffsets, next_offsets

A, B, C = ("kim.cases", 0), ("kim.cases", 1), ("kim.cases", 2)


def test_an_assignment_makes_every_owned_checkpoint_due() -> None:
    group = GroupOffsets()
    group.assigned({A: 660, B: 10_000, ("other", 0): 5}, [A, B, C])
    epoch, due = group.due()
    assert due == {A: 660, B: 10_000, C: 0}  # a partition without a checkpoint starts at 0
    group.committed(epoch, due)
    assert group.due()[1] == {}


def test_a_batch_moves_only_owned_partitions_and_never_back() -> None:
    group = GroupOffsets()
    group.assigned({A: 100, B: 200}, [A, B])
    group.committed(*group.due())
    group.applied({A: 150, B: 150, C: 999})  # B: records below its checkpoint, dropped by the loop; C: not owned
    assert group.due()[1] == {A: 150}


def test_a_commit_of_an_older_assignment_confirms_nothing() -> None:
    group = GroupOffsets()
    group.assigned({A: 100}, [A])
    epoch, due = group.due()
    group.assigned({A: 120}, [A])  # a rebalance while the commit was in flight
    group.committed(epoch, due)
    assert group.due()[1] == {A: 120}


def test_revoked_partitions_are_no_longer_committed() -> None:
    group = GroupOffsets()
    group.assigned({A: 1, B: 2}, [A, B])
    group.revoked([A])
    assert group.due()[1] == {B: 2}
    assert group.everything()[1] == {B: 2}


def test_refreshed_checkpoints_catch_up_a_move_by_another_writer() -> None:
    group = GroupOffsets()
    group.assigned({A: 10}, [A])
    group.committed(*group.due())
    group.refreshed({A: 500, B: 7})
    assert group.due()[1] == {A: 500}


@given(st.lists(st.tuples(st.sampled_from(["k", "j"]), st.integers(0, 3), st.integers(0, 10_000)), max_size=200))
def test_next_offsets_is_one_past_the_highest_offset(records: list[tuple[str, int, int]]) -> None:
    ends = next_offsets(records)
    assert set(ends) == {(t, p) for t, p, _ in records}
    for (t, p), end in ends.items():
        assert end == max(o for tt, pp, o in records if (tt, pp) == (t, p)) + 1


@given(st.lists(st.dictionaries(st.sampled_from([A, B, C]), st.integers(0, 1000)), max_size=30))
def test_positions_only_grow_within_an_assignment(batches: list[dict[tuple[str, int], int]]) -> None:
    group = GroupOffsets()
    group.assigned({A: 300}, [A, B])
    before = dict(group.positions)
    for batch in batches:
        group.applied(batch)
        assert all(group.positions[tp] >= before[tp] for tp in before)
        assert set(group.positions) == {A, B}
        before = dict(group.positions)
