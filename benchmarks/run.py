"""The benchmark suite: ``python -m benchmarks.run [--events N] [--repeat R] [--out FILE]``.

Measures, in one run and on the same generated events through the real broker and database:
SDK publish throughput; the reference lines (raw aiokafka getmany + decode ceiling, a
do-nothing faust agent, a naive one-upsert-per-event faust agent); the platform's live path
(the faust worker) and bulk path (aiokafka batches) for each projection; a rebuild (the whole
history into every projection through the bulk path, in one process and in two processes
with the partitions split); end-to-end latency at a steady rate; a worker's peak RSS. Results
are also given as ratios to the reference lines, so they hold on a noisy machine. ``--repeat N``
measures the one-core rows (raw ceilings, bulk paths, one-process rebuild) in N rounds and keeps
the best of each, so one busy spell does not decide a ratio. Yardsticks the platform does not control
(``benchmarks.yardsticks``: aiokafka getmany alone, + fastavro, Quix Streams with and without the decode)
run on the same topics; the rebuilds and the codec are also given as ratios to them. The HTTP gateway's rows
(``benchmarks.gateway``): events/s through ``POST /v1/events:batch`` and single-POST latency at 100/s. Metered rows also
report CPU seconds per process (Python, PostgreSQL backends, Kafka broker), load and GC
(``benchmarks.usage``). Prints a table and writes JSON (default ``results/bench-<time>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics.table import table as text_table
from benchmarks import gateway, measures, replay, yardsticks
from benchmarks.histories import case_events, history
from benchmarks.lanes import BenchLane, new_lane
from benchmarks.results import write_results
from infra import bringup
from infra.errors import SetupError
from infra.settings import load_settings
from projections.registry import PROJECTIONS
from schemas.topics import IMMIGRATION
from streams.runtime.self_catch_up import CATCH_UP_AT

YARDSTICK_ROWS = ("getmany_only", "fastavro_ceiling", "codec_ceiling", "quix_noop", "quix_decode")
GATEWAY_EVENTS = 50_000  # at most this many case events through the gateway's batch endpoint


class _Best:
    """The best rate of each row over the rounds, and what that round cost (its usage)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.usage: dict[str, dict[str, Any]] = {}

    def keep(self, name: str, value: float, usage: dict[str, Any] | None = None) -> bool:
        if name in self.values and value <= self.values[name]:
            return False
        self.values[name] = value
        if usage is not None:
            self.usage[name.removesuffix("_per_s")] = usage
        return True

    def keep_measured(self, name: str, measured: tuple[float, dict[str, Any]]) -> bool:
        return self.keep(name, *measured)


async def _one_core_rounds(lane: BenchLane, repeat: int, step: Callable[[str], None], records: int) -> dict[str, Any]:
    """The one-core measurements and their references, in ``repeat`` rounds; the best of each counts.

    Each round measures every raw ceiling and yardstick and, right after, the bulk paths and the
    one-process rebuild compared with them, so a busy spell on a shared machine slows a reference and
    what is compared with it alike instead of one of them. ``records``: every log record of both topics.
    """
    best = _Best()
    for attempt in range(repeat):
        suffix = f" (round {attempt + 1} of {repeat})" if repeat > 1 else ""
        step("raw getmany+decode ceilings" + suffix)
        best.keep("raw_ceiling_per_s", await measures.raw_ceiling(lane))
        best.keep("raw_ceiling_immigration_per_s", await measures.raw_ceiling(lane, (IMMIGRATION,)))
        step("yardsticks: getmany alone / + fastavro / + Codec.decode, both topics" + suffix)
        for row, measured in (await yardsticks.fetch_rows(lane)).items():
            best.keep_measured(f"{row}_per_s", measured)
        step("yardsticks: Quix Streams do-nothing / + fastavro decode" + suffix)
        best.keep_measured("quix_noop_per_s", await asyncio.to_thread(yardsticks.quix, lane, "noop", records))
        best.keep_measured("quix_decode_per_s", await asyncio.to_thread(yardsticks.quix, lane, "decode", records))
        step("bulk path: caseload, referrals, backlog" + suffix)
        best.keep_measured("bulk_per_s", await measures.bulk(lane, "caseload", attempt))
        best.keep_measured("bulk_referrals_per_s", await measures.bulk(lane, "referrals", attempt))
        best.keep_measured("bulk_backlog_per_s", await measures.bulk(lane, "backlog", attempt))
        step("rebuild: the whole history into every projection, 1 process" + suffix)
        rebuilt, usage = await replay.metered(lane, 1, f"rebuild_1_{attempt}")
        best.keep("rebuild_1p_per_s", rebuilt.rate, usage)
        best.values["rebuild_1p_records_read"], best.values["rebuild_1p_records_applied"] = (
            rebuilt.read,
            rebuilt.applied,
        )
    # the platform's codec on the same fetch as the fastavro reference is the ceiling of both topics
    return {**best.values, "raw_ceiling_all_per_s": best.values["codec_ceiling_per_s"], "usage": best.usage}


async def run(count: int, seed: int, latency_rate: int, latency_seconds: float, repeat: int = 1) -> dict:
    settings = load_settings()
    bringup.start_services(settings, log=lambda line: print(line, file=sys.stderr))
    lane = await new_lane(settings)
    events, applications = history(count, seed)
    n, m = len(events), len(applications)
    results: dict = {
        "events": n,
        "immigration_events": m,
        "seed": seed,
        "repeat": repeat,
        "started": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    try:
        ordered = sorted(events + applications, key=lambda e: e.draft.occurred_at)  # stable: keys stay in order
        results["publish_per_s"] = await measures.publish_all(lane, ordered)
        del ordered
        step = lambda name: print(f"measuring {name} …", file=sys.stderr)  # noqa: E731
        results.update(await _one_core_rounds(lane, repeat, step, n + m))
        runs: dict[str, measures.Run] = {}
        step("faust do-nothing agent")
        runs["faust_noop"] = measures.faust_agent(lane, "noop", n)
        step("naive baseline (one upsert per event)")
        runs["naive"] = measures.faust_agent(lane, "naive", n, await lane.database("naive"))
        step("live path (faust worker)")
        runs["live"] = await measures.live(lane, n)
        step("self catch-up: a worker started behind the whole history, turning to the bulk path by itself")
        results["catch_up_at"] = min(CATCH_UP_AT, n // 2)
        runs["self_catch_up"] = await measures.live(lane, n, catch_up_at=results["catch_up_at"])
        step("referrals projection: live path on the same events")
        runs["live_referrals"] = await measures.live(lane, n, projection="referrals")
        step("backlog projection: live path on the kim.immigration events")
        runs["live_backlog"] = await measures.live(lane, m, projection="backlog")
        results.update({f"{name}_per_s": run.rate for name, run in runs.items()})
        results["live_worker_peak_rss_mb"] = runs["live"].peak_rss_mb
        # the process's own CPU per event over the measured span: where a live path's time goes against faust's
        results["cpu_us_per_event"] = {name: run.cpu_us_per_record for name, run in runs.items()}
        results["self_catch_up_bulk_phase"] = _bulk_phase(runs["self_catch_up"])
        results["live_accounting"] = {name: _live_accounting(run) for name, run in runs.items() if run.stages_cpu_s}
        step("rebuild: the whole history into every projection, 2 processes")
        rebuilt, results["usage"]["rebuild_2p"] = await replay.metered(lane, 2, "rebuild_2")
        results["rebuild_2p_per_s"], results["rebuild_2p_records_read"] = rebuilt.rate, rebuilt.read
        results["rebuild_2p_records_applied"] = rebuilt.applied
        step(f"latency at {latency_rate}/s for {latency_seconds:g} s")
        latency_lane = await new_lane(settings)
        try:
            latency_events = case_events(int(latency_rate * latency_seconds) + 1, seed + 1)
            results["latency"] = await measures.latency(latency_lane, latency_events, latency_rate, latency_seconds)
        finally:
            await latency_lane.drop()
        step(f"HTTP gateway: batches, then single POSTs at {gateway.RATE}/s for {latency_seconds:g} s")
        batch_events = min(GATEWAY_EVENTS, n // 2)  # the single POSTs continue the same history after them
        results["gateway"] = await gateway.measure(settings, events, batch_events, seconds=latency_seconds)
        for row in ("batch", "single"):
            results["usage"][f"gateway_{row}"] = results["gateway"][row].pop("usage")
    finally:
        await lane.drop()
    results["ratios"] = {
        "bulk_to_raw_ceiling": results["bulk_per_s"] / results["raw_ceiling_per_s"],
        "live_to_faust_noop": results["live_per_s"] / results["faust_noop_per_s"],
        "live_to_naive": results["live_per_s"] / results["naive_per_s"],
        "self_catch_up_to_bulk": results["self_catch_up_per_s"] / results["bulk_per_s"],
        "bulk_referrals_to_raw_ceiling": results["bulk_referrals_per_s"] / results["raw_ceiling_per_s"],
        "live_referrals_to_faust_noop": results["live_referrals_per_s"] / results["faust_noop_per_s"],
        "bulk_backlog_to_raw_ceiling": results["bulk_backlog_per_s"] / results["raw_ceiling_immigration_per_s"],
        "live_backlog_to_faust_noop": results["live_backlog_per_s"] / results["faust_noop_per_s"],
        "rebuild_1p_to_raw_ceiling": results["rebuild_1p_per_s"] / results["raw_ceiling_all_per_s"],
        "rebuild_2p_to_raw_ceiling": results["rebuild_2p_per_s"] / results["raw_ceiling_all_per_s"],
        **yardstick_ratios(results),
    }
    return results


def _decode_cpu_us(usage: dict[str, dict[str, Any]], row: str) -> float:
    """Python CPU µs per record a getmany row spent beyond getmany alone: the decode's own cost."""
    per_record = {name: sum(usage[name]["python_cpu_s"]) / usage[name]["records"] for name in (row, "getmany_only")}
    return 1e6 * (per_record[row] - per_record["getmany_only"])


def yardstick_ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """The platform against what it does not control: Quix Streams decoding the same records, fastavro.

    ``codec_decode_cpu_to_fastavro`` compares the decode's own CPU per record (getmany's taken off);
    None when the run was too short for the 10 ms CPU clock to tell fastavro's decode from nothing.
    """
    codec_us = _decode_cpu_us(results["usage"], "codec_ceiling")
    fastavro_us = _decode_cpu_us(results["usage"], "fastavro_ceiling")
    return {
        "rebuild_1p_to_quix_decode": results["rebuild_1p_per_s"] / results["quix_decode_per_s"],
        "rebuild_2p_to_quix_decode": results["rebuild_2p_per_s"] / results["quix_decode_per_s"],
        "codec_to_fastavro": results["codec_ceiling_per_s"] / results["fastavro_ceiling_per_s"],
        "codec_decode_cpu_to_fastavro": codec_us / fastavro_us if fastavro_us > 0 else None,
    }


def _cost(results: dict, row: str) -> str:
    """A metered row's cost: CPU seconds per process (python, each worker), postgres backends, broker; load; GC."""
    usage = results["usage"].get(row)
    if usage is None:
        return ""
    python = "+".join(f"{cpu:.2f}" for cpu in usage["python_cpu_s"])
    broker = usage["kafka_broker_cpu_s"]
    load = "→".join(f"{usage[k][0]:.1f}" for k in ("loadavg_start", "loadavg_end"))
    gc_runs = "/".join(str(n) for n in usage["gc_collections"])
    kafka = "n/a" if broker is None else f"{broker:.2f}"
    return f"py {python} / pg {usage['postgres_cpu_s']:.2f} / kafka {kafka}; load {load}; gc {gc_runs}"


def _per_event(results: dict, row: str) -> str:
    """A faust process's own CPU per event over its measured span (worker or reference agent)."""
    return f"py {results['cpu_us_per_event'][row]:.0f} µs/event"


def _yardstick_rows(r: dict) -> list[list[str]]:
    ratios = r["ratios"]
    decode_cpu = ratios["codec_decode_cpu_to_fastavro"]
    decode_cpu_text = "n/a (too short)" if decode_cpu is None else f"{decode_cpu:.2f}x"
    return [
        ["yardstick: aiokafka getmany alone (both topics)", f"{r['getmany_only_per_s']:,.0f}/s", "not ours"],
        ["yardstick: getmany + fastavro by writer fingerprint", f"{r['fastavro_ceiling_per_s']:,.0f}/s", "not ours"],
        [
            "getmany + platform Codec.decode (both topics)",
            f"{r['codec_ceiling_per_s']:,.0f}/s",
            f"{ratios['codec_to_fastavro']:.0%} of fastavro; decode CPU {decode_cpu_text} fastavro's",
        ],
        ["yardstick: Quix Streams do-nothing", f"{r['quix_noop_per_s']:,.0f}/s", "not ours"],
        ["yardstick: Quix Streams + fastavro decode", f"{r['quix_decode_per_s']:,.0f}/s", "not ours"],
    ]


def _live_accounting(run: measures.Run) -> dict:
    """Where a live worker's CPU per event went: the record loop's stages, and the rest (faust, the database edge,
    the group offsets); its batches (from its metrics)."""
    per = 1e6 / run.records if run.records else 0.0
    stages = {stage: cpu * per for stage, cpu in sorted((run.stages_cpu_s or {}).items())}
    return {
        "stages_us_per_event": stages,
        "rest_us_per_event": run.cpu_us_per_record - sum(stages.values()),
        "postgres_us_per_event": (run.postgres_cpu_s or 0.0) * per,
        "batches": run.batches or {},
    }


def _live_accounting_rows(r: dict) -> list[list[str]]:
    rows = []
    for name, account in r.get("live_accounting", {}).items():
        stages = account["stages_us_per_event"]
        folds = sum(us for stage, us in stages.items() if stage.startswith("fold "))
        batches = account["batches"]
        shown = ", ".join(f"{stage} {us:.0f}" for stage, us in stages.items() if not stage.startswith("fold "))
        detail = (
            f"{shown}, folds {folds:.0f}, faust + database edge {account['rest_us_per_event']:.0f} µs/event; "
            f"its PostgreSQL backends {account.get('postgres_us_per_event', 0.0):.0f} µs/event"
        )
        if batches:
            detail += (
                f"; {batches['batches']:,} batches × {batches['events_per_batch']:.0f} events, "
                f"transaction mean {batches['transaction_mean_ms']:.1f} ms"
            )
        rows.append([f"  where {name}'s CPU goes", f"{r['cpu_us_per_event'][name]:.0f} µs/event", detail, ""])
    return rows


def _bulk_phase(run: measures.Run) -> dict | None:
    """The self catch-up's bulk phase against its whole span (first applied batch to lag 0, live phases included)."""
    if run.bulk_phase is None:
        return None
    records, seconds = run.bulk_phase
    return {
        "records": records,
        "seconds": seconds,
        "rate_per_s": records / seconds if seconds else 0.0,
        "span_s": run.records / run.rate if run.rate else 0.0,
    }


def _phase_note(r: dict) -> str:
    phase = r.get("self_catch_up_bulk_phase")
    if not phase:
        return "; no bulk phase logged"
    return (
        f"; its bulk phase {phase['records']:,} records in {phase['seconds']:.1f} s of the {phase['span_s']:.1f} s "
        f"span ({phase['rate_per_s'] / r['bulk_per_s']:.0%} of the bulk path)"
    )


def _latency_split(lat: dict) -> list[list[str]]:
    """Where the latency goes: the publisher's wait for the broker, and the worker's batches and transactions."""
    rows = [
        [
            "  of which: publish to broker acknowledgement p50/p99",
            f"{lat['acknowledged_p50_ms']:.0f}/{lat['acknowledged_p99_ms']:.0f} ms",
            "the SDK's acks=all round trip",
            "",
        ]
    ]
    if own := lat.get("benchmark_gc"):
        rows.append(
            [
                "  the measuring process's own GC (heap frozen)",
                f"{own['collections']} collections, max {own['max_ms']:.1f} ms",
                f"{own['total_ms']:.0f} ms in all: not the platform's",
                "",
            ]
        )
    if worker := lat.get("worker"):
        within = worker["transactions_within_s"]
        rows.append(
            [
                "  the worker: batches × events, transaction mean",
                f"{worker['batches']:,} × {worker['events_per_batch']:.1f}, {worker['transaction_mean_ms']:.1f} ms",
                f"transactions within 25/50/100 ms: {within.get('0.025', 0):.0%}/{within.get('0.05', 0):.0%}/"
                f"{within.get('0.1', 0):.0%}",
                "",
            ]
        )
    return rows


def summary(results: dict) -> str:
    r, lat = results, results["latency"]
    q = r["ratios"]
    rows = [
        ["SDK publish (acks=all, idempotent)", f"{r['publish_per_s']:,.0f}/s", "", ""],
        ["raw ceiling: getmany + decode (kim.cases)", f"{r['raw_ceiling_per_s']:,.0f}/s", "reference", ""],
        [
            "raw ceiling: kim.immigration / both topics",
            f"{r['raw_ceiling_immigration_per_s']:,.0f}/s / {r['raw_ceiling_all_per_s']:,.0f}/s",
            "reference",
            "",
        ],
        *[[*row, _cost(r, row_key)] for row, row_key in zip(_yardstick_rows(r), YARDSTICK_ROWS, strict=True)],
        ["faust do-nothing agent", f"{r['faust_noop_per_s']:,.0f}/s", "reference", _per_event(r, "faust_noop")],
        ["naive: faust + 1 upsert per event", f"{r['naive_per_s']:,.0f}/s", "baseline", _per_event(r, "naive")],
        [
            "live path (faust worker, batched sink)",
            f"{r['live_per_s']:,.0f}/s",
            f"{q['live_to_faust_noop']:.0%} of do-nothing, {q['live_to_naive']:.1f}x naive",
            _per_event(r, "live"),
        ],
        [
            "bulk path (getmany, batched sink)",
            f"{r['bulk_per_s']:,.0f}/s",
            f"{q['bulk_to_raw_ceiling']:.0%} of raw ceiling",
            _cost(r, "bulk"),
        ],
        [
            f"self catch-up (a worker {r['events']:,} behind, threshold {r['catch_up_at']:,})",
            f"{r['self_catch_up_per_s']:,.0f}/s",
            f"{q['self_catch_up_to_bulk']:.0%} of the bulk path (target 80%)" + _phase_note(r),
            _per_event(r, "self_catch_up"),
        ],
        [
            "referrals: live path / bulk path",
            f"{r['live_referrals_per_s']:,.0f}/s / {r['bulk_referrals_per_s']:,.0f}/s",
            f"{q['live_referrals_to_faust_noop']:.0%} of do-nothing, "
            f"{q['bulk_referrals_to_raw_ceiling']:.0%} of raw ceiling",
            _per_event(r, "live_referrals") + "; bulk: " + _cost(r, "bulk_referrals"),
        ],
        [
            f"backlog ({r['immigration_events']:,} events): live / bulk",
            f"{r['live_backlog_per_s']:,.0f}/s / {r['bulk_backlog_per_s']:,.0f}/s",
            f"{q['live_backlog_to_faust_noop']:.0%} of do-nothing, "
            f"{q['bulk_backlog_to_raw_ceiling']:.0%} of raw ceiling (kim.immigration)",
            _per_event(r, "live_backlog") + "; bulk: " + _cost(r, "bulk_backlog"),
        ],
        *_live_accounting_rows(r),
        [
            f"rebuild, {len(PROJECTIONS)} projections, 1 process "
            f"({r['rebuild_1p_records_read']:,} log records, each read once)",
            f"{r['rebuild_1p_per_s']:,.0f}/s",
            f"{q['rebuild_1p_to_raw_ceiling']:.0%} of raw ceiling (both topics), "
            f"{q['rebuild_1p_to_quix_decode']:.2f}x Quix+fastavro",
            _cost(r, "rebuild_1p"),
        ],
        [
            "rebuild, 2 processes (even/odd partitions)",
            f"{r['rebuild_2p_per_s']:,.0f}/s",
            f"{q['rebuild_2p_to_raw_ceiling']:.0%} of one core's raw ceiling, "
            f"{r['rebuild_2p_per_s'] / r['rebuild_1p_per_s']:.2f}x one process, "
            f"{q['rebuild_2p_to_quix_decode']:.2f}x Quix+fastavro",
            _cost(r, "rebuild_2p"),
        ],
        [
            f"latency p50/p95/p99 at {lat['rate']}/s",
            f"{lat['p50_ms']:.0f}/{lat['p95_ms']:.0f}/{lat['p99_ms']:.0f} ms",
            f"{lat['visible']}/{lat['events']} events seen",
            "",
        ],
        *_latency_split(lat),
        [
            "worker peak RSS (live / latency run)",
            f"{r['live_worker_peak_rss_mb']:.0f} / {lat['worker_peak_rss_mb']:.0f} MB",
            "target 200 MB",
            "",
        ],
        [
            "rebuild peak RSS per process (1 process / 2 processes)",
            " / ".join(
                "+".join(f"{mb:.0f}" for mb in r["usage"][row]["peak_rss_mb"]) for row in ("rebuild_1p", "rebuild_2p")
            )
            + " MB",
            "",
            "",
        ],
        *[
            [*row[:3], _cost(r, f"gateway_{key}")]
            for row, key in zip(gateway.rows(r["gateway"], costs=False), ("batch", "single"), strict=True)
        ],
    ]
    headers = [f"{r['events']:,} case events", "result", "compared", "CPU s: python / postgres / kafka; load; gc"]
    return text_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-rate", type=int, default=1000, help="events/s for the latency run")
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the one-core measurements (raw ceilings, bulk paths, one-process rebuild); the best counts",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default results/bench-<time>.json)")
    args = parser.parse_args(argv)
    if args.events < 10:
        print("error: --events must be at least 10", file=sys.stderr)
        return 1
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 1
    try:
        results = asyncio.run(run(args.events, args.seed, args.latency_rate, args.latency_seconds, args.repeat))
    except SetupError as why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    out = args.out or Path("results") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_results(out, results)
    print(summary(results))
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
