"""The latency rows keep the measuring process's own garbage collector out of what they time."""

from __future__ import annotations

import gc

from benchmarks.usage import FrozenHeap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_everything_alive_is_frozen_for_the_row_and_thawed_after() -> None:
    history = [_Cycle() for _ in range(1000)]  # what the benchmark holds: its generated events
    with FrozenHeap():
        assert gc.get_freeze_count() >= len(history)
    assert gc.get_freeze_count() == 0


def test_the_collections_during_the_row_are_timed() -> None:
    with FrozenHeap() as own:
        for _ in range(3):
            _Cycle()
            gc.collect()
    summary = own.summary()
    assert summary["collections"] >= 3
    assert 0 < summary["max_ms"] <= summary["total_ms"]
    assert gc.callbacks.count(own._clock) == 0  # the clock is gone with the row
