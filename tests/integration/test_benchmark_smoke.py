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


def _run_benchmark(module: str, out: Path, *args: str, timeout: float = 600) -> tuple[dict, str]:
    """Run ``python -m <module> <args> --out <out>``; its results JSON and what it printed (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text()), result.stdout


def test_benchmark_smoke(tmp_path: Path, base_settings: object) -> None:
    numbers, printed = _run_benchmark(
        "benchmarks.run",
        tmp_path / "bench.json",
        *("--events", "600", "--latency-rate", "100", "--latency-seconds", "2", "--repeat", "2"),
    )
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
    # each faust process's own CPU per event over its measured span (0 when a tiny run came in one batch)
    per_event = numbers["cpu_us_per_event"]
    assert set(per_event) == {"faust_noop", "naive", "live", "self_catch_up", "live_referrals", "live_backlog"}
    assert per_event["faust_noop"] > 0 and all(us >= 0 for us in per_event.values())
    # each live worker's CPU split into the record loop's stages (benchmarks.accounted_worker) and its batches
    accounts = numbers["live_accounting"]
    assert set(accounts) == {"live", "self_catch_up", "live_referrals", "live_backlog"}
    for account in accounts.values():
        assert all(us >= 0 for us in account["stages_us_per_event"].values())
        assert account["batches"]["batches"] >= 1
        assert account["postgres_us_per_event"] >= 0  # the worker's backends, metered like the bulk rows'
    # the self catch-up's bulk phase, from the worker's own log line (None if the live path got there first)
    phase = numbers["self_catch_up_bulk_phase"]
    assert phase is None or (phase["records"] > 0 and phase["seconds"] > 0 and phase["span_s"] > 0)
    # the rebuild reads each topic once for every projection: every log record exactly once
    assert numbers["immigration_events"] > 0
    everything = numbers["events"] + numbers["immigration_events"]
    assert numbers["rebuild_1p_records_read"] == numbers["rebuild_2p_records_read"] == everything
    assert numbers["latency"]["visible"] == numbers["latency"]["events"] == 200
    assert numbers["latency"]["p50_ms"] <= numbers["latency"]["p99_ms"]
    # where the latency goes: the broker's acknowledgement, and the worker's batches (from its metrics endpoint)
    assert 0 < numbers["latency"]["acknowledged_p50_ms"] <= numbers["latency"]["acknowledged_p99_ms"]
    worker = numbers["latency"]["worker"]
    assert worker["batches"] >= 1 and worker["events_per_batch"] > 0 and worker["transaction_mean_ms"] > 0
    assert 0 <= worker["transactions_within_s"]["0.025"] <= worker["transactions_within_s"]["0.1"] <= 1
    _check_yardsticks(numbers, everything)
    assert "of raw ceiling" in printed
    for row in (
        "backlog (",
        f"rebuild, {len(PROJECTIONS)} projections, 1 process",
        "rebuild, 2 processes",
        "Quix Streams + fastavro",
    ):
        assert row in printed, row


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
    numbers, printed = _run_benchmark(
        "benchmarks.cluster", tmp_path / "cluster.json", "--events", "400", "--seconds", "6", timeout=900
    )
    for platform in ("single_plaintext", "cluster_tls"):
        assert numbers[platform]["publish_per_s"] > 0 and numbers[platform]["live_per_s"] > 0, platform
        assert numbers[platform]["usage"]["publish"]["kafka_broker_cpu_s"] > 0, platform
    killed = numbers["cluster_node_killed"]
    assert killed["killed_node"] in (1, 2, 3)
    assert killed["visible"] == killed["events"]  # every event published under the kill became visible
    assert numbers["ratios"]["publish"] > 0 and numbers["ratios"]["live"] > 0
    assert "node" in printed and "× 1 node" in printed


def test_gateway_benchmark_smoke(tmp_path: Path, base_settings: object) -> None:
    """A real `kim gateway`: batches and paced single POSTs, every accepted event counted on the topic."""
    args = ("--events", "300", "--seconds", "3")
    numbers, printed = _run_benchmark("benchmarks.gateway", tmp_path / "gateway.json", *args)
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
    assert "POST /v1/events:batch" in printed and "p50/p99 at 100/s" in printed


def test_scale_benchmark_smoke(tmp_path: Path, base_settings: object) -> None:
    """Two streamed histories, each published and rebuilt in one and two processes beside the Quix yardstick."""
    numbers, printed = _run_benchmark("benchmarks.scale", tmp_path / "scale.json", "--events", "300", "600")
    assert [length["case_events"] for length in numbers["lengths"]] == [300, 600]
    for length in numbers["lengths"]:
        rows = length["usage"]
        # every row read every record of both topics: the case events and the immigration events beside them
        assert length["records"] > length["case_events"]
        assert rows["quix_decode"]["records"] == rows["rebuild_1p"]["records"] == rows["rebuild_2p"]["records"]
        assert rows["rebuild_1p"]["records"] == length["records"]
        assert len(rows["rebuild_1p"]["peak_rss_mb"]) == 1 and len(rows["rebuild_2p"]["peak_rss_mb"]) == 2
        assert all(mb > 0 for mb in rows["rebuild_2p"]["peak_rss_mb"]) and rows["quix_decode"]["peak_rss_mb"] > 0
        assert rows["rebuild_1p"]["to_quix_decode"] > 0 and rows["rebuild_2p"]["to_quix_decode"] > 0
        assert length["publisher_peak_rss_mb"] > 0
    assert "rebuild, 2 processes" in printed and "600 case events" in printed


def test_accounting_benchmark_smoke(tmp_path: Path, base_settings: object) -> None:
    """A rebuild's CPU split into stages measured where they run, beside the plain rebuild and the Quix yardstick."""
    numbers, printed = _run_benchmark("benchmarks.accounting", tmp_path / "accounting.json", "--events", "300")
    accounted = numbers["accounted_rebuild"]
    assert accounted["read"] == numbers["records"] == numbers["plain_rebuild"]["records"] > 300
    stages = accounted["stages_cpu_s"]
    assert {f"fold {name}" for name in PROJECTIONS} | {"decode + judge", "signature screen"} <= set(stages)
    assert all(cpu > 0 for stage, cpu in stages.items() if stage != "garbage collection")
    assert accounted["calls"]["decode + judge"] >= 1
    assert 0 < sum(stages.values()) < accounted["cpu_s"]  # the rest is the edges
    assert numbers["fetch_cpu_s"] > 0 and numbers["decode_cpu_s"] > 0 and numbers["quix_decode"]["cpu_s"] > 0
    assert "database edge and event loop: the rest" in printed and "Quix Streams + fastavro" in printed
