"""A spawned process's peak memory is its own, not its parent's (Linux carries ``ru_maxrss`` across fork + exec)."""

from __future__ import annotations

import multiprocessing
import resource

from benchmarks.usage import peak_rss_mb


def _child_figures() -> tuple[float, float]:
    return peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_spawned_child_reports_its_own_peak_not_its_parents() -> None:
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))  # touched: resident in this process
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        own, inherited = pool.apply(_child_figures)
    assert peak_rss_mb() >= 400
    assert inherited >= 400  # what the rebuild rows used to report: the parent's memory
    assert 0 < own < 200  # an interpreter that imported the benchmarks' usage module
    del ballast


def test_a_process_that_is_gone_has_no_peak() -> None:
    assert peak_rss_mb(2**22 + 1) == 0.0
