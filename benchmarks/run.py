"""The benchmark suite: ``python -m benchmarks.run [--events N] [--out FILE]``.

Measures, in one run and on the same generated events through the real broker and database:
SDK publish throughput; the reference lines (raw aiokafka getmany + decode ceiling, a
do-nothing faust agent, a naive one-upsert-per-event faust agent); the platform's live path
(the faust worker) and bulk path (aiokafka batches); end-to-end latency at a steady rate; a
worker's peak RSS. Results are also given as ratios to the reference lines, so they hold on
a noisy machine. Prints a table and writes JSON (default ``results/bench-<time>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import measures
from benchmarks.lanes import new_lane
from cli import render, services
from cli.demo_events import demo_events
from infra.errors import SetupError
from infra.settings import load_settings


def _events(count: int, seed: int) -> list:
    """Exactly ``count`` events: openings first, then closings (each after its opening)."""
    openings, closings = demo_events(seed, count, until=datetime(2025, 12, 31, tzinfo=UTC), weeks=52)
    cases = max(1, round(count / (1 + len(closings) / len(openings))))
    kept = {e.draft.payload["case_id"] for e in openings[:cases]}
    events = openings[:cases] + [e for e in closings if e.draft.payload["case_id"] in kept]
    return (events + openings[cases:])[:count]


async def run(count: int, seed: int, latency_rate: int, latency_seconds: float) -> dict:
    settings = load_settings()
    services.start_services(settings, log=lambda line: print(line, file=sys.stderr))
    lane = await new_lane(settings)
    events = _events(count, seed)
    n = len(events)
    results: dict = {
        "events": n,
        "seed": seed,
        "started": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    try:
        results["publish_per_s"] = await measures.publish_all(lane, events)
        step = lambda name: print(f"measuring {name} …", file=sys.stderr)  # noqa: E731
        step("raw getmany+decode ceiling")
        results["raw_ceiling_per_s"] = await measures.raw_ceiling(lane)
        step("bulk path")
        results["bulk_per_s"] = await measures.bulk(lane)
        step("faust do-nothing agent")
        results["faust_noop_per_s"] = measures.faust_agent(lane, "noop", n)
        step("naive baseline (one upsert per event)")
        results["naive_per_s"] = measures.faust_agent(lane, "naive", n, await lane.database("naive"))
        step("live path (faust worker)")
        results["live_per_s"], results["live_worker_peak_rss_mb"] = await measures.live(lane, n)
        step(f"latency at {latency_rate}/s for {latency_seconds:g} s")
        latency_lane = await new_lane(settings)
        try:
            latency_events = _events(int(latency_rate * latency_seconds) + 1, seed + 1)
            results["latency"] = await measures.latency(latency_lane, latency_events, latency_rate, latency_seconds)
        finally:
            await latency_lane.drop()
    finally:
        await lane.drop()
    results["ratios"] = {
        "bulk_to_raw_ceiling": results["bulk_per_s"] / results["raw_ceiling_per_s"],
        "live_to_faust_noop": results["live_per_s"] / results["faust_noop_per_s"],
        "live_to_naive": results["live_per_s"] / results["naive_per_s"],
    }
    return results


def table(results: dict) -> str:
    r, lat = results, results["latency"]
    rows = [
        ["SDK publish (acks=all, idempotent)", f"{r['publish_per_s']:,.0f}/s", ""],
        ["raw ceiling: getmany + decode", f"{r['raw_ceiling_per_s']:,.0f}/s", "reference"],
        ["faust do-nothing agent", f"{r['faust_noop_per_s']:,.0f}/s", "reference"],
        ["naive: faust + 1 upsert per event", f"{r['naive_per_s']:,.0f}/s", "baseline"],
        [
            "live path (faust worker, batched sink)",
            f"{r['live_per_s']:,.0f}/s",
            f"{r['ratios']['live_to_faust_noop']:.0%} of do-nothing, {r['ratios']['live_to_naive']:.1f}x naive",
        ],
        [
            "bulk path (getmany, batched sink)",
            f"{r['bulk_per_s']:,.0f}/s",
            f"{r['ratios']['bulk_to_raw_ceiling']:.0%} of raw ceiling",
        ],
        [
            f"latency p50/p95/p99 at {lat['rate']}/s",
            f"{lat['p50_ms']:.0f}/{lat['p95_ms']:.0f}/{lat['p99_ms']:.0f} ms",
            f"{lat['visible']}/{lat['events']} events seen",
        ],
        [
            "worker peak RSS (live / latency run)",
            f"{r['live_worker_peak_rss_mb']:.0f} / {lat['worker_peak_rss_mb']:.0f} MB",
            "",
        ],
    ]
    return render.table([f"{r['events']:,} events", "result", "compared"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-rate", type=int, default=1000, help="events/s for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default results/bench-<time>.json)")
    args = parser.parse_args(argv)
    if args.events < 10:
        print("error: --events must be at least 10", file=sys.stderr)
        return 1
    try:
        results = asyncio.run(run(args.events, args.seed, args.latency_rate, args.latency_seconds))
    except SetupError as why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    out = args.out or Path("results") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
