"""How fast the simulator generates: ``python -m simulation.bench [--years Y] [--scale S] [--seed N]``.

Prints events/s for generating (iterating ``simulate``), for building a list (``simulate_list``) and
for writing JSON lines (to /dev/null). Default: one year of all of Dortmund. Pure CPU, no services.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from simulation import SimulationConfig, simulate, simulate_list
from simulation.jsonl import write_jsonl


def measure(config: SimulationConfig) -> dict[str, float]:
    started = time.perf_counter()
    count = sum(1 for _ in simulate(config))
    generate = time.perf_counter() - started
    started = time.perf_counter()
    listed = len(simulate_list(config))
    as_list = time.perf_counter() - started
    with open(os.devnull, "w", encoding="utf-8") as sink:
        started = time.perf_counter()
        write_jsonl(simulate(config), sink)
        jsonl = time.perf_counter() - started
    assert listed == count
    return {
        "events": count,
        "generate_per_s": count / generate,
        "list_per_s": count / as_list,
        "jsonl_per_s": count / jsonl,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulation.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, default=1.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        config = SimulationConfig(years=args.years, scale=args.scale, seed=args.seed)
    except ValueError as why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    result = measure(config)
    print(
        f"{result['events']:,} events ({args.years:g} years, scale {args.scale:g}, seed {args.seed}): "
        f"generate {result['generate_per_s']:,.0f} events/s, "
        f"as a list {result['list_per_s']:,.0f} events/s, "
        f"as JSON lines {result['jsonl_per_s']:,.0f} events/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
