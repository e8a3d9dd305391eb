"""The benchmark suite still runs end to end (tiny size; the real numbers come from `python -m benchmarks.run`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from projections.registry import PROJECTIONS
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
        "self_catch_up_per_s",
        "bulk_backlog_per_s",
        "live_backlog_per_s",
        "rebuild_1p_per_s",
        "rebuild_2p_per_s",
    ):
        assert numbers[key] > 0, key
    # the rebuild reads each topic once for every projection: every log record exactly once
    assert numbers["immigration_events"] > 0
    everything = numbers["events"] + numbers["immigration_events"]
    assert numbers["rebuild_1p_records_read"] == numbers["rebuild_2p_records_read"] == everything
    assert numbers["latency"]["visible"] == numbers["latency"]["events"] == 200
    assert numbers["latency"]["p50_ms"] <= numbers["latency"]["p99_ms"]
    _check_yardsticks(numbers, everything)
    assert "of raw ceiling" in result.stdout
    for row in (
        "backlog (",
        f"rebuild, {len(PROJECTIONS)} projections, 1 process",
        "rebuild, 2 processes",
        "Quix Streams + fastavro",
    ):
        assert row in result.stdout, row


YARDSTICKS = ("getmany_only", "fastavro_ceiling", "codec_ceiling", "quix_noop", "quix_decode")
METERED = (*YARDSTICKS, "bulk", "bulk_referrals", "bulk_backlog", "rebuild_1p", "rebuild_2p")


def _check_yardsticks(numbers: dict, everything: int) -> None:
    """Every yardstick read every record of both topics; every metered row has its rate and its costs."""
    for row in METERED:
        usage = numbers["usage"][row]
        assert numbers[f"{row}_per_s"] == usage["rate_per_s"] > 0, row
        assert all(cpu > 0 for cpu in usage["python_cpu_s"]), row
        assert usage["postgres_cpu_s"] >= 0 and usage["kafka_broker_cpu_s"] >= 0, row
        assert len(usage["loadavg_start"]) == len(usage["loadavg_end"]) == 3, row
        assert len(usage["gc_collections"]) == 3, row
    for row in YARDSTICKS:
        assert numbers["usage"][row]["records"] == everything, row
    assert numbers["usage"]["quix_decode"]["python_cpu_total_s"] >= numbers["usage"]["quix_decode"]["python_cpu_s"][0]
    assert len(numbers["usage"]["rebuild_2p"]["python_cpu_s"]) == 2  # each process's own CPU
    assert numbers["usage"]["rebuild_1p"]["postgres_cpu_s"] > 0  # the backends the rebuild wrote through
    ratios = numbers["ratios"]
    for ratio in ("rebuild_1p_to_quix_decode", "rebuild_2p_to_quix_decode", "codec_to_fastavro"):
        assert ratios[ratio] > 0, ratio


def test_cluster_benchmark_smoke(tmp_path: Path) -> None:
    """One plaintext node beside three TLS nodes, each a platform of its own, and a node killed under load."""
    out = tmp_path / "cluster.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.cluster", "--events", "400", "--seconds", "6", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(out.read_text())
    for platform in ("single_plaintext", "cluster_tls"):
        assert numbers[platform]["publish_per_s"] > 0 and numbers[platform]["live_per_s"] > 0, platform
        assert numbers[platform]["usage"]["publish"]["kafka_broker_cpu_s"] > 0, platform
    killed = numbers["cluster_node_killed"]
    assert killed["killed_node"] in (1, 2, 3)
    assert killed["visible"] == killed["events"]  # every event published under the kill became visible
    assert numbers["ratios"]["publish"] > 0 and numbers["ratios"]["live"] > 0
    assert "node" in result.stdout and "× 1 node" in result.stdout


def test_gateway_benchmark_smoke(tmp_path: Path, base_settings: object) -> None:
    """A real `kim gateway`: batches and paced single POSTs, every accepted event counted on the topic."""
    out = tmp_path / "gateway.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.gateway", "--events", "300", "--seconds", "3", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(out.read_text())
    batch, single = numbers["batch"], numbers["single"]
    assert batch["per_s"] > 0 and single["completed_per_s"] > 0
    assert batch["sent"] == batch["accepted"] == batch["delivered"] == 300
    assert single["sent"] == single["accepted"] == single["delivered"] == 300  # 3 s at 100/s
    assert single["p50_ms"] <= single["p99_ms"]
    assert numbers["referrals_caught_up"] and numbers["dead_lettered"] == 0
    for row in (batch, single):
        usage = row["usage"]
        assert len(usage["python_cpu_s"]) == 3  # the client, the gateway, the referrals worker
        assert all(cpu > 0 for cpu in usage["python_cpu_s"])
        assert usage["kafka_broker_cpu_s"] > 0 and usage["postgres_cpu_s"] > 0  # the gateway reads the database
        assert len(usage["loadavg_start"]) == len(usage["loadavg_end"]) == 3
    assert "POST /v1/events:batch" in result.stdout and "p50/p99 at 100/s" in result.stdout
