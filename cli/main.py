"""The `kim` command line. Every user mistake or missing service ends in one `error:` line, exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infra.errors import SetupError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kim", description="KIM partner network: event-sourced projections.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start Kafka, PostgreSQL, topics, migrations and projection workers")
    sub.add_parser("down", help="stop workers, Kafka and PostgreSQL (nothing left running)")
    sub.add_parser("status", help="broker, database, topics, projection lag")
    demo = sub.add_parser("demo", help="bring everything up, publish a realistic batch, print the caseload")
    demo.add_argument("--cases", type=int, default=300, help="how many cases to open (default 300)")
    demo.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")
    return parser


def run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    from infra.processes import run_sync
    from infra.settings import load_settings

    settings = load_settings()
    if args.command == "up":
        from cli import services

        services.up(settings)
        print("KIM platform is up")
    elif args.command == "down":
        from cli import services

        services.down(settings)
        print("KIM platform is down")
    elif args.command == "status":
        from cli import status

        text, healthy = run_sync(status.report(settings))
        print(text)
        return 0 if healthy else 1
    elif args.command == "demo":
        if args.cases < 1:
            raise SetupError("--cases must be at least 1")
        from cli import demo

        demo.run(settings, cases=args.cases, seed=args.seed)
    return 0


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:]))
    except SetupError as why:
        print(f"error: {why}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
