"""The stream side's CPU step per batch, ``streams.runtime.batch.prepare``: ``python -m benchmarks.prepare``.

Pure CPU, no broker: a simulated year (every event type, the real mix of kim.cases and kim.immigration)
encoded as the partners publish it, then records per second of ``prepare`` for each projection:

- ``before``: the step as it was before stream-side checks (decode the types the projection reads,
  skip every other type by its fingerprint; no domain rules, no topic check) — kept here as the reference;
- ``after``: today's ``prepare`` (decode + topic + domain rules for the types the projection judges,
  see ``streams/runtime/judge.py``);
- ``judge_all``: every projection judging every record of its topics (what dead-lettering every bad
  record without duties would cost).

The row ``all`` is the platform: every record through every projection of its topic. CPU time of the process
(``time.process_time``: a shared machine's other work is not counted), in slices of ``chunk`` records, best of
``repeat`` round-robin runs each; prints a table and writes JSON (default ``results/prepare.json``).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.results import write_results
from projections.projection import Projection
from projections.records import Applied, LogRecord, Rejection
from projections.registry import PROJECTIONS
from schemas import Codec, DecodeError
from schemas.partitioner import partition_of_key
from schemas.sealing import KeyRing, client_refs, new_key
from schemas.topics import TOPICS
from simulation import SimulationConfig, simulate_list
from streams.runtime.batch import prepare
from streams.runtime.judge import judge
from streams.sdk.prepare import Preparer

OUT = Path("results/prepare.json")
MAGIC = b"\xc3\x01"
PARTITIONS = {spec.name: spec.partitions for spec in TOPICS}


def _records(scale: float, seed: int) -> list[LogRecord]:
    """A simulated year, encoded; each record on its catalog topic, offsets in publish order."""
    codec = Codec()
    keys = KeyRing()  # sealing keys in memory: the records are what the platform's publishers write
    preparers: dict[str, Preparer] = {}
    records = []
    for i, event in enumerate(simulate_list(SimulationConfig(years=1.0, scale=scale, seed=seed))):
        preparer = preparers.get(event.agency) or preparers.setdefault(
            event.agency, Preparer(event.agency, codec=codec, keys=keys)
        )
        for ref in keys.missing(client_refs(event.draft.event_type, event.draft.payload)):
            keys.add(ref, *new_key())
        out = preparer.prepare(event.draft)
        records.append(LogRecord(out.topic, partition_of_key(out.key, PARTITIONS[out.topic]), i, out.key, out.value))
    return records


def _before(projection: Projection, records: Sequence[LogRecord], codec: Codec) -> list[Any]:
    """``prepare`` as it was before the stream-side checks (up to commit a63d56d), for reference."""
    wanted = projection.event_types  # type: ignore[attr-defined]
    types = {fp: s.event_type for fp, s in codec.catalog.by_fingerprint().items()}
    out: list[Applied | Rejection | None] = []
    for record in records:
        value = record.value
        if value[:2] == MAGIC:
            kind = types.get(value[2:10])
            if kind is not None and kind not in wanted:
                out.append(None)
                continue
        try:
            out.append(Applied(record, codec.decode(value)))
        except DecodeError as why:
            out.append(Rejection(record, f"undecodable: {why}"))
    return out


def _judge_all(projection: Projection, records: Sequence[LogRecord], codec: Codec) -> list[Any]:
    return [judge(projection, record, codec) for record in records]


def measure(scale: float, seed: int, repeat: int, chunk: int) -> dict[str, Any]:
    everything = _records(scale, seed)
    steps = {"before": _before, "after": prepare, "judge_all": _judge_all}
    sizes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for name, projection in PROJECTIONS.items():
        mine = [r for r in everything if r.topic in projection.source_topics]
        sizes[name] = len(mine)
        codecs = {variant: Codec() for variant in steps}
        for variant, step in steps.items():
            step(projection, mine, codecs[variant])  # warm: plans compiled, caches filled
            seconds[f"{name}/{variant}"] = 0.0
        # Slices, each timed ``repeat`` times round-robin and the best kept, in CPU time: a machine shared with
        # other work (the test suite, other benchmarks) slows wall-clock runs by a factor of several.
        for i in range(0, len(mine), chunk):
            part = mine[i : i + chunk]
            best = dict.fromkeys(steps, float("inf"))
            for _ in range(repeat):
                for variant, step in steps.items():
                    started = time.process_time()
                    step(projection, part, codecs[variant])
                    best[variant] = min(best[variant], time.process_time() - started)
            for variant in steps:
                seconds[f"{name}/{variant}"] += best[variant]
    rates = {key: sizes[key.split("/")[0]] / spent for key, spent in seconds.items()}
    for variant in steps:  # the platform: every record through every projection of its topic
        rates[f"all/{variant}"] = sum(sizes.values()) / sum(seconds[f"{name}/{variant}"] for name in sizes)
    sizes["all"] = sum(sizes.values())
    return {
        "records": len(everything),
        "records_per_projection": sizes,
        "scale": scale,
        "seed": seed,
        "repeat": repeat,
        "chunk": chunk,
        "records_per_s": rates,
        "machine": {"python": platform.python_version(), "implementation": platform.python_implementation()},
        "measured_at": datetime.now(UTC).isoformat(),
    }


def render(results: dict[str, Any]) -> str:
    rates = results["records_per_s"]
    lines = [
        f"prepare over a simulated year ({results['records']:,} records), records/s of the projection's topics",
        f"{'projection':<12} {'records':>8} {'before':>9} {'after':>9} {'after/before':>13} {'judge_all':>10}",
    ]
    for name, size in results["records_per_projection"].items():
        before, after, every = (rates[f"{name}/{v}"] for v in ("before", "after", "judge_all"))
        lines.append(f"{name:<12} {size:>8,} {before:>9,.0f} {after:>9,.0f} {after / before:>13.2f} {every:>10,.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.2, help="share of Dortmund to simulate (default 0.2)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="runs per slice and variant; the best counts (default 5)")
    parser.add_argument("--chunk", type=int, default=500, help="records per timed slice (default 500)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"JSON results (default {OUT})")
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.repeat < 1 or args.chunk < 1:
        parser.error("--scale must be positive, --repeat and --chunk at least 1")
    results = measure(args.scale, args.seed, args.repeat, args.chunk)
    print(render(results))
    write_results(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
