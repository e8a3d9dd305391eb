"""The clocked collector: automatic collection off inside, cycles still freed on the clock, state restored."""

from __future__ import annotations

import gc
import weakref

import pytest

from streams.runtime.collector import ClockedCollection


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_collection_is_off_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with ClockedCollection():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_caller_that_had_it_off_keeps_it_off() -> None:
    gc.disable()
    try:
        with ClockedCollection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_restored_when_the_loop_fails() -> None:
    with pytest.raises(RuntimeError), ClockedCollection():
        raise RuntimeError("the loop failed")
    assert gc.isenabled()


def test_a_tick_before_the_interval_leaves_cycles_and_one_after_frees_them() -> None:
    with ClockedCollection(every=3600.0) as clock:
        cycle = weakref.ref(Node())
        clock.tick()
        assert cycle() is not None  # nobody collected: automatic collection is off
        clock.every = 0.0
        clock.tick()
        assert cycle() is None
        assert clock.collections == 1
