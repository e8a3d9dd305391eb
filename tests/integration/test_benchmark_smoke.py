"""The benchmark suite still runs end to end (tiny size; the real numbers come from `python -m benchmarks.run`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration


def test_benchmark_smoke(tmp_path: Path, base_settings: object) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--events",
            "600",
            "--latency-rate",
            "100",
            "--latency-seconds",
            "2",
            "--repeat",
            "2",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(out.read_text())
    assert numbers["events"] == 600
    assert numbers["repeat"] == 2  # two rounds of the one-core measurements, the best of each kept
    for key in (
        "publish_per_s",
        "raw_ceiling_per_s",
        "raw_ceiling_immigration_per_s",
        "raw_ceiling_all_per_s",
        "bulk_per_s",
        "faust_noop_per_s",
        "naive_per_s",
        "live_per_s",
        "bulk_backlog_per_s",
        "live_backlog_per_s",
        "rebuild_1p_per_s",
        "rebuild_2p_per_s",
    ):
        assert numbers[key] > 0, key
    # the rebuild reads each topic once for all three projections: every log record exactly once
    assert numbers["immigration_events"] > 0
    everything = numbers["events"] + numbers["immigration_events"]
    assert numbers["rebuild_1p_records_read"] == numbers["rebuild_2p_records_read"] == everything
    assert numbers["latency"]["visible"] == numbers["latency"]["events"] == 200
    assert numbers["latency"]["p50_ms"] <= numbers["latency"]["p99_ms"]
    assert "of raw ceiling" in result.stdout
    for row in ("backlog (", "rebuild, 3 projections, 1 process", "rebuild, 2 processes"):
        assert row in result.stdout, row
