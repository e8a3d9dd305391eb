"""The benchmark's accounting reads what the worker itself reports: its metrics text and its catch-up log line."""

from __future__ import annotations

import pytest

from benchmarks.measures import batch_figures, bulk_phase
from projections.records import LogRecord
from streams.operations.metrics import WorkerMetrics, render


def _records(offsets: range) -> list[LogRecord]:
    return [LogRecord("kim.cases", 0, o, b"k", b"v", (), 0, 1) for o in offsets]


def test_batch_figures_from_a_workers_rendered_metrics() -> None:
    metrics = WorkerMetrics("caseload")
    metrics.assign({("kim.cases", 0): 0}, [("kim.cases", 0)])
    metrics.batch_committed(_records(range(0, 30)), [], 0.020)
    metrics.batch_committed(_records(range(30, 40)), [], 0.200)
    figures = batch_figures(render(metrics.families()))
    assert figures["batches"] == 2
    assert figures["events_per_batch"] == pytest.approx(20.0)
    assert figures["transaction_mean_ms"] == pytest.approx(110.0)
    within = figures["transactions_within_s"]
    assert within["0.025"] == within["0.1"] == 0.5 and within["0.25"] == 1.0
    assert "+Inf" not in within


def test_batch_figures_of_a_worker_without_batches_is_empty() -> None:
    assert batch_figures(render(WorkerMetrics("caseload").families())) == {}


def test_bulk_phase_sums_every_catch_up_the_worker_logged() -> None:
    log = (
        "[2026-12-07 18:00:01] caseload: 300,000 records behind on 6 partitions; catching up through the bulk path\n"
        "[2026-12-07 18:00:09] caseload: caught up 250,000 records in 8.0 s (31,250/s) through the bulk path; back\n"
        "[2026-12-07 18:00:30] caseload: caught up 1,000 records in 0.5 s (2,000/s) through the bulk path; back\n"
    )
    assert bulk_phase(log) == (251_000, 8.5)
    assert bulk_phase("caseload: metrics on http://127.0.0.1:9464/metrics\n") is None
