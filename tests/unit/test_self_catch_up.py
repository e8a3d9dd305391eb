"""When a live worker turns to the bulk path by itself: the pure decision of ``streams.runtime.self_catch_up``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.self_catch_up import behind, every_end_known

TPS = [("kim.cases", p) for p in range(6)]


def test_far_behind_gives_the_end_offsets_of_the_lagging_partitions() -> None:
    positions = {TPS[0]: 10, TPS[1]: 500, TPS[2]: 0}
    ends = {TPS[0]: 60_010, TPS[1]: 500, TPS[2]: 40_000}
    assert behind(positions, ends, 100_000) == {TPS[0]: 60_010, TPS[2]: 40_000}


def test_a_little_behind_or_switched_off_stays_live() -> None:
    positions = {TPS[0]: 10}
    assert behind(positions, {TPS[0]: 100_009}, 100_000) is None
    assert behind(positions, {TPS[0]: 10_000_000}, 0) is None


def test_partitions_not_owned_or_without_a_known_end_do_not_count() -> None:
    assert behind({TPS[0]: 0}, {TPS[1]: 1_000_000}, 10) is None
    assert behind({TPS[0]: 0, TPS[1]: 0}, {TPS[1]: 10}, 10) == {TPS[1]: 10}


@given(
    st.dictionaries(st.sampled_from(TPS), st.integers(0, 10**9)),
    st.dictionaries(st.sampled_from(TPS), st.integers(0, 10**9)),
    st.integers(1, 10**9),
)
def test_it_catches_up_exactly_when_the_summed_lag_reaches_the_threshold(positions, ends, at) -> None:
    lag = sum(max(ends.get(tp, 0) - position, 0) for tp, position in positions.items())
    targets = behind(positions, ends, at)
    assert (targets is not None) == (lag >= at)
    if targets is not None:
        assert all(tp in positions and end > positions[tp] for tp, end in targets.items())
        assert sum(end - positions[tp] for tp, end in targets.items()) == lag


def test_the_watch_waits_until_every_owned_log_end_is_known() -> None:
    assert not every_end_known({}, {})
    assert not every_end_known({TPS[0]: 0, TPS[1]: 5}, {TPS[0]: 10})
    assert every_end_known({TPS[0]: 0, TPS[1]: 5}, {TPS[0]: 10, TPS[1]: 5, TPS[2]: 1})
