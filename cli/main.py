"""The `kim` command line. Every user mistake or missing service ends in one `error:` line, exit 1."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.errors import SetupError

MIB = 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kim", description="KIM partner network: event-sourced projections.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start Kafka, PostgreSQL, topics, migrations and projection workers")
    sub.add_parser("down", help="stop workers, Kafka and PostgreSQL (nothing left running)")
    sub.add_parser("status", help="broker, database, topics, projection lag")
    demo = sub.add_parser("demo", help="bring everything up, publish a realistic batch, print the caseload")
    demo.add_argument("--cases", type=int, default=300, help="how many cases to open (default 300)")
    demo.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")
    publish = sub.add_parser("publish", help="publish a JSON Lines file of events (one event per line)")
    publish.add_argument("file", type=Path, help='.jsonl file; each line {"agency", "event_type", "occurred_at", …}')
    publish.add_argument("--chunk", type=int, default=2000, help="events sent per round trip (default 2000)")
    publish.add_argument("--max-errors", type=int, default=50, help="rejected lines to list (default 50, 0: all)")
    gateway = sub.add_parser("gateway", help="run the HTTP gateway for partners without a Kafka client")
    gateway.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    gateway.add_argument("--port", type=int, default=8088, help="port to listen on (default 8088)")
    gateway.add_argument("--max-body-bytes", type=int, default=MIB, help=f"request size limit (default {MIB})")
    gateway.add_argument("--max-batch", type=int, default=500, help="events per batch request (default 500)")
    from cli import dlq

    dlq.add_parser(sub)
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
    elif args.command == "publish":
        if args.chunk < 1:
            raise SetupError("--chunk must be at least 1")
        from cli import publish

        return publish.run(settings, args.file, chunk=args.chunk, max_errors=args.max_errors)
    elif args.command == "gateway":
        from cli import gateway

        gateway.run(settings, args.host, args.port, args.max_body_bytes, args.max_batch)
    elif args.command == "dlq":
        from cli import dlq

        return dlq.run(settings, args)
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
