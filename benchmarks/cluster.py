"""The replicated, encrypted cluster beside one plaintext broker: ``python -m benchmarks.cluster [--events N]``.

Two platforms of their own in one run (``infra/scratch_platform.py``), each with its own PostgreSQL: one Kafka
node without TLS (``KIM_KAFKA_SECURITY=sasl_scram``) and three nodes with TLS (replication factor 3,
``min.insync.replicas=2``). On each, the same generated events: SDK publish throughput (every case in order,
acks from all in-sync replicas) and the caseload worker's live throughput from a full lag; the cluster's rates
as ratios to the single broker's. Then, on the cluster, the caseload worker live at 1,000 events/s while the node
leading most partitions is SIGKILLed a third of the way in: latency percentiles and the longest delay from
publish to visible (how long the projection was behind because of the kill), and the seconds the restart took.
Every row reports wall time and CPU seconds of the broker processes and PostgreSQL backends
(``benchmarks.usage``). Prints a table and writes JSON (default ``results/cluster-<time>.json``). Run it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from analytics.table import table as text_table
from benchmarks import measures
from benchmarks.histories import case_events
from benchmarks.lanes import BenchLane, new_lane
from benchmarks.results import run_and_report
from benchmarks.usage import Meter
from infra import kafka_broker
from infra.scratch_platform import scratch_platform
from infra.settings import Settings
from schemas.topics import CASES

LIVE_RATE = 1_000


async def _throughput(settings: Settings, events: list, step: Any) -> dict[str, Any]:
    """Publish the events into a fresh lane, then let a caseload worker apply them from a full lag."""
    lane = await new_lane(settings)
    try:
        step(f"publish {len(events):,} events")
        with Meter(settings) as meter:
            publish = await measures.publish_all(lane, events)
        publish_usage = meter.usage(len(events), publish)
        step("caseload worker from a full lag")
        url = await lane.database("live")
        with Meter(settings, url) as meter:
            run = await measures.live(lane, len(events))
            live, rss = run.rate, run.peak_rss_mb
        return {
            "publish_per_s": publish,
            "live_per_s": live,
            "worker_peak_rss_mb": rss,
            "usage": {"publish": publish_usage, "live": meter.usage(len(events), live)},
        }
    finally:
        await lane.drop()


def _busiest_node(lane: BenchLane) -> int:
    async def leaders() -> Counter[int]:
        admin = lane.kafka.admin()
        await admin.start()
        try:
            described = await admin.describe_topics([lane.topic(CASES)])
        finally:
            await admin.close()
        return Counter(p["leader"] for t in described for p in t["partitions"])

    return asyncio.run(leaders()).most_common(1)[0][0]


async def _node_killed_under_load(settings: Settings, seconds: float, seed: int, step: Any) -> dict[str, Any]:
    lane = await new_lane(settings)
    try:
        node = await asyncio.to_thread(_busiest_node, lane)
        events = case_events(int(LIVE_RATE * seconds) + 1, seed)
        step(f"live at {LIVE_RATE}/s for {seconds:g} s; node {node} SIGKILLed after {seconds / 3:.0f} s")

        async def kill_later() -> float:
            await asyncio.sleep(seconds / 3 + 3)  # the worker's start-up and warm-up come first
            await asyncio.to_thread(kafka_broker.stop_node, settings, node, kill=True)
            return time.monotonic()

        with Meter(settings) as meter:
            killer = asyncio.create_task(kill_later())
            result = await measures.latency(lane, events, LIVE_RATE, seconds)
            await killer
        step(f"restarting node {node}")
        started = time.monotonic()
        await asyncio.to_thread(kafka_broker.start_broker, settings, 120.0, lambda _: None)
        return {
            **result,
            "killed_node": node,
            "restart_s": time.monotonic() - started,
            "usage": meter.usage(result["visible"], float(LIVE_RATE)),
        }
    finally:
        await lane.drop()


def run(count: int, seed: int, seconds: float) -> dict[str, Any]:
    started = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {what}", file=sys.stderr, flush=True)

    events = case_events(count, seed)
    results: dict[str, Any] = {"events": count, "seed": seed}
    step("single node, no TLS")
    with scratch_platform(1, security="sasl_scram", log=lambda _: None) as single:
        results["single_plaintext"] = asyncio.run(_throughput(single, events, step))
    step("three nodes with TLS")
    with scratch_platform(3, log=lambda _: None) as cluster:
        results["cluster_tls"] = asyncio.run(_throughput(cluster, events, step))
        results["cluster_node_killed"] = asyncio.run(_node_killed_under_load(cluster, seconds, seed + 1, step))
    single_rates, cluster_rates = results["single_plaintext"], results["cluster_tls"]
    results["ratios"] = {
        "publish": cluster_rates["publish_per_s"] / single_rates["publish_per_s"],
        "live": cluster_rates["live_per_s"] / single_rates["live_per_s"],
    }
    results["wall_s"] = time.monotonic() - started
    return results


def render(results: dict[str, Any]) -> str:
    single, cluster, killed = results["single_plaintext"], results["cluster_tls"], results["cluster_node_killed"]

    def cpu(usage: dict[str, Any]) -> str:
        broker = usage.get("kafka_broker_cpu_s")
        return (
            f"wall {usage['wall_s']:.1f} s, brokers {broker or 0:.1f} s CPU, PostgreSQL {usage['postgres_cpu_s']:.1f} s"
        )

    rows = [
        ["publish, 1 node plaintext", f"{single['publish_per_s']:,.0f}/s", "1.00", cpu(single["usage"]["publish"])],
        [
            "publish, 3 nodes TLS",
            f"{cluster['publish_per_s']:,.0f}/s",
            f"{results['ratios']['publish']:.2f}",
            cpu(cluster["usage"]["publish"]),
        ],
        ["live caseload, 1 node plaintext", f"{single['live_per_s']:,.0f}/s", "1.00", cpu(single["usage"]["live"])],
        [
            "live caseload, 3 nodes TLS",
            f"{cluster['live_per_s']:,.0f}/s",
            f"{results['ratios']['live']:.2f}",
            cpu(cluster["usage"]["live"]),
        ],
        [
            f"node {killed['killed_node']} killed at {killed['rate']}/s: p50/p99/max",
            f"{killed['p50_ms']:.0f}/{killed['p99_ms']:.0f}/{killed['max_ms']:.0f} ms",
            "",
            f"{killed['visible']:,} of {killed['events']:,} visible; restart {killed['restart_s']:.1f} s",
        ],
    ]
    return text_table(["row", "rate / latency", "× 1 node", "cost"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="events published on each platform")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the live run with the node kill")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = parser.parse_args(argv)
    return run_and_report(lambda: run(args.events, args.seed, args.seconds), render, "cluster", args.out)


if __name__ == "__main__":
    sys.exit(main())
