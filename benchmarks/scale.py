"""How a rebuild scales with the history's length: ``python -m benchmarks.scale [--events N [N ...]] [--out FILE]``.

For each length (default 1,000,000 and 5,000,000 case events, with the kim.immigration events of the same
months beside them) a simulated history is generated as it is published (``histories.streamed_history``:
millions of events never sit in memory) into fresh topics. Then, on those records and in this order: the
Quix Streams + fastavro yardstick, the rebuild of every projection in one process, and in two processes.

Each row gives its rate, its ratio to the Quix figure of the same length (same run, same topics), CPU seconds per
process (Python, PostgreSQL backends, broker) and peak resident memory: of each rebuild process and of the Quix
app (each a fresh process), and of this process, which generates and publishes (its peak so far: lengths run
in the order given). Prints a table and writes JSON (default ``results/scale-<time>.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics.table import table as text_table
from benchmarks import measures, replay, yardsticks
from benchmarks.histories import IMMIGRATION_SHARE, streamed_history
from benchmarks.lanes import new_lane
from benchmarks.results import run_and_report
from benchmarks.usage import peak_rss_mb
from infra import bringup
from infra.settings import Settings, load_settings
from streams.kafka.topics import end_offsets

LENGTHS = (1_000_000, 5_000_000)
QUIX_FLOOR_PER_S = 2_000  # the Quix app is killed if it reads slower than this (a stuck run, not a slow one)


async def measure_length(settings: Settings, count: int, seed: int) -> dict[str, Any]:
    """Publish a streamed history of ``count`` case events into fresh topics; measure Quix and both rebuilds."""
    step = lambda name: print(f"[{count:,}] {name} …", file=sys.stderr)  # noqa: E731
    lane = await new_lane(settings)
    try:
        step("generating and publishing the history")
        expected = int(count * (1 + IMMIGRATION_SHARE))
        published_per_s = await measures.publish_all(lane, streamed_history(count, seed), expected=expected)
        publisher_rss = peak_rss_mb()
        ends = await end_offsets(lane.kafka, [lane.topic(t) for t in yardsticks.TOPICS])
        records = sum(ends.values())
        step("yardstick: Quix Streams + fastavro decode")
        timeout = max(600.0, records / QUIX_FLOOR_PER_S)
        quix_per_s, quix = await asyncio.to_thread(yardsticks.quix, lane, "decode", records, timeout)
        rows: dict[str, Any] = {"quix_decode": quix}
        for processes in (1, 2):
            step(f"rebuild: the whole history into every projection, {processes} process(es)")
            rebuilt, rows[f"rebuild_{processes}p"] = await replay.metered(lane, processes, f"scale_{processes}")
            rows[f"rebuild_{processes}p"]["to_quix_decode"] = rebuilt.rate / quix_per_s
    finally:
        await lane.drop()
    return {
        "case_events": count,
        "records": records,
        "publish_per_s": published_per_s,
        "publisher_peak_rss_mb": publisher_rss,
        "quix_decode_per_s": quix_per_s,
        "usage": rows,
    }


def _cpu(usage: dict[str, Any]) -> str:
    python = "+".join(f"{cpu:.1f}" for cpu in usage["python_cpu_s"])
    broker = usage["kafka_broker_cpu_s"]
    return f"py {python} / pg {usage['postgres_cpu_s']:.1f} / kafka {'n/a' if broker is None else f'{broker:.1f}'}"


def _rss(usage: dict[str, Any]) -> str:
    peaks = usage["peak_rss_mb"]
    return "+".join(f"{mb:.0f}" for mb in (peaks if isinstance(peaks, list) else [peaks])) + " MB"


def summary(results: dict[str, Any]) -> str:
    rows = []
    for length in results["lengths"]:
        label = f"{length['case_events']:,} case events ({length['records']:,} records)"
        rows.append([label, "publish (SDK) + generate", f"{length['publish_per_s']:,.0f}/s", "", "", ""])
        for key, name in (
            ("quix_decode", "yardstick: Quix Streams + fastavro"),
            ("rebuild_1p", "rebuild, 1 process"),
            ("rebuild_2p", "rebuild, 2 processes"),
        ):
            usage = length["usage"][key]
            ratio = f"{usage['to_quix_decode']:.2f}x" if "to_quix_decode" in usage else "1.00x"
            rows.append(["", name, f"{usage['rate_per_s']:,.0f}/s", ratio, _cpu(usage), _rss(usage)])
        publisher_rss = f"{length['publisher_peak_rss_mb']:.0f} MB"
        rows.append(["", "publisher + simulator (this process)", "", "", "", publisher_rss])
    headers = ["history", "row", "rate", "to Quix", "CPU s: python / postgres / kafka", "peak RSS"]
    return text_table(headers, rows)


async def run(lengths: list[int], seed: int) -> dict[str, Any]:
    settings = load_settings()
    bringup.start_services(settings, log=lambda line: print(line, file=sys.stderr))
    results: dict[str, Any] = {"seed": seed, "started": datetime.now(UTC).isoformat(), "lengths": []}
    for count in lengths:
        results["lengths"].append(await measure_length(settings, count, seed))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=list(LENGTHS), help="case events per history")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default results/scale-<time>.json)")
    args = parser.parse_args(argv)
    if min(args.events) < 10:
        print("error: --events must be at least 10", file=sys.stderr)
        return 1
    return run_and_report(lambda: asyncio.run(run(args.events, args.seed)), summary, "scale", args.out)


if __name__ == "__main__":
    sys.exit(main())
