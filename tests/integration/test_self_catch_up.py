"""A live worker that starts far behind catches up through the bulk path by itself, then goes on live.

The history is published while no worker runs; the caseload worker then starts with a low threshold
(``KIM_CATCH_UP_AT``), finds itself behind right after its assignment, catches up through the bulk path, and
applies what is published afterwards on the live path. The table equals the pure fold of everything published.
"""

from __future__ import annotations

import re
import time

import pytest

from infra.processes import run_sync
from tests.integration.conftest import Lane
from tests.integration.helpers import caught_up, history, oracle, projected, publish_history

pytestmark = pytest.mark.integration


def test_a_worker_far_behind_catches_up_through_the_bulk_path_and_goes_on_live(lane: Lane) -> None:
    openings, closings = history(seed=61, cases=6000)
    targets = run_sync(publish_history(lane, openings, closings))
    behind = sum(targets.values())
    worker = lane.worker("caseload", KIM_CATCH_UP_AT="1000")
    try:
        run_sync(caught_up(lane, worker, targets, timeout=180))
        deadline = time.monotonic() + 30
        while "back on the live path" not in worker.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)  # the checkpoints are there a moment before the worker is back on the live path
        log = worker.log_text()
        started = re.search(r"caseload: ([\d,]+) records behind on \d+ partitions; catching up through the bulk", log)
        ended = re.search(r"caseload: caught up ([\d,]+) records in .* through the bulk path; back on the live", log)
        assert started and ended, log[-4000:]
        assert 1000 <= int(started.group(1).replace(",", "")) <= behind
        assert int(ended.group(1).replace(",", "")) > 0

        later_openings, later_closings = history(seed=62, cases=300)
        later = run_sync(publish_history(lane, later_openings, later_closings))
        run_sync(caught_up(lane, worker, later))
        assert worker.alive()
        assert log.count("catching up through the bulk path") == worker.log_text().count(
            "catching up through the bulk path"
        ), "the few events published later went the live path"
    finally:
        worker.stop()
    everything = openings + closings + later_openings + later_closings
    assert run_sync(projected(lane)) == oracle(everything)


def test_a_worker_stopped_during_its_catch_up_stops_at_once_and_resumes_after_a_restart(lane: Lane) -> None:
    openings, closings = history(seed=63, cases=15000)
    targets = run_sync(publish_history(lane, openings, closings))
    worker = lane.worker("caseload", KIM_CATCH_UP_AT="1000")
    deadline = time.monotonic() + 120
    while "catching up through the bulk path" not in worker.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "catching up through the bulk path" in worker.log_text(), worker.log_text()[-4000:]
    stopping = time.monotonic()
    worker.stop()  # SIGTERM, SIGKILL after 30 s
    took = time.monotonic() - stopping
    assert took < 25, f"the worker took {took:.0f} s to stop\n{worker.log_text()[-4000:]}"

    again = lane.worker("caseload", KIM_CATCH_UP_AT="1000")
    try:
        run_sync(caught_up(lane, again, targets, timeout=180))
    finally:
        again.stop()
    assert run_sync(projected(lane)) == oracle(openings + closings)
