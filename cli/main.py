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
    status = sub.add_parser("status", help="broker, database, topics; per projection lag, freshness, workers, DLQ")
    status.add_argument("--json", action="store_true", help="the same as JSON, for machines")
    demo = sub.add_parser("demo", help="bring everything up, publish a realistic batch, print the caseload")
    demo.add_argument("--seed", type=int, default=None, help="random seed (default: a new one each run)")
    demo.add_argument("--scale", type=float, default=0.1, help="share of Dortmund to simulate (default 0.1)")
    demo.add_argument("--years", type=float, default=1.0, help="simulated years from 2025-01-01 (default 1)")
    demo.add_argument("--cases", type=int, default=None, help="stop opening cases after this many (default: no cap)")
    simulate = sub.add_parser("simulate", help="simulate Dortmund's KIM network: JSON lines, or --publish in order")
    simulate.add_argument("--years", default="1", help="simulated years (default 1)")
    simulate.add_argument("--seed", default="7", help="random seed; the same seed gives the same events (default 7)")
    simulate.add_argument("--scale", default="1", help="share of Dortmund (default 1: the whole city)")
    simulate.add_argument("--start", default="2025-01-01", help="first simulated day (default 2025-01-01)")
    simulate.add_argument("--publish", action="store_true", help="publish through the SDK, each case in order")
    simulate.add_argument("--out", type=Path, default=None, help="write JSON lines to FILE (default: stdout)")
    publish = sub.add_parser("publish", help="publish a JSON Lines file of events (one event per line)")
    publish.add_argument("file", type=Path, help='.jsonl file; each line {"agency", "event_type", "occurred_at", …}')
    publish.add_argument("--chunk", type=int, default=2000, help="events sent per round trip (default 2000)")
    publish.add_argument("--max-errors", type=int, default=50, help="rejected lines to list (default 50, 0: all)")
    gateway = sub.add_parser("gateway", help="run the HTTP gateway for partners without a Kafka client")
    gateway.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    gateway.add_argument("--port", type=int, default=8088, help="port to listen on (default 8088)")
    gateway.add_argument("--max-body-bytes", type=int, default=MIB, help=f"request size limit (default {MIB})")
    gateway.add_argument("--max-batch", type=int, default=500, help="events per batch request (default 500)")
    from cli import agency, dlq

    agency.add_parser(sub)
    dlq.add_parser(sub)
    from cli import query

    query.add_parser(sub)
    from cli import replay

    replay.add_parser(sub)
    from cli import audit

    audit.add_parser(sub)
    from cli import erase

    erase.add_parser(sub)
    serve = sub.add_parser("serve", help="the analysts' read-only HTTP API and dashboard on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8089, help="port to listen on (default 8089)")
    return parser


def run(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    from infra.processes import run_sync
    from infra.settings import load_settings

    settings = load_settings()
    if args.command == "up":
        from infra import bringup

        bringup.up(settings)
        print("KIM platform is up")
    elif args.command == "down":
        from infra import bringup

        bringup.down(settings)
        print("KIM platform is down")
    elif args.command == "status":
        from cli import status

        text, healthy = run_sync(status.report(settings, machine=args.json))
        print(text)
        return 0 if healthy else 1
    elif args.command == "demo":
        from cli import demo

        demo.run(settings, seed=args.seed, scale=args.scale, years=args.years, cases=args.cases)
    elif args.command == "simulate":
        from cli import simulate

        config = simulate.make_config(args.years, args.seed, args.scale, args.start)
        return simulate.run(settings, config, publish=args.publish, out=args.out)
    elif args.command == "publish":
        if args.chunk < 1:
            raise SetupError("--chunk must be at least 1")
        from cli import publish

        return publish.run(settings, args.file, chunk=args.chunk, max_errors=args.max_errors)
    elif args.command == "gateway":
        from cli import gateway

        gateway.run(settings, args.host, args.port, args.max_body_bytes, args.max_batch)
    elif args.command == "agency":
        from cli import agency

        return agency.run(settings, args)
    elif args.command == "dlq":
        from cli import dlq

        return dlq.run(settings, args)
    elif args.command == "audit":
        from cli import audit

        return audit.run(settings, args)
    elif args.command == "erase":
        from cli import erase

        return erase.run(settings, args)
    elif args.command == "replay":
        from cli import replay

        return replay.run(settings, args)
    elif args.command == "query":
        from cli import query

        return query.run(settings, args)
    elif args.command == "serve":
        from cli import serve

        serve.run(settings, args.port)
    return 0


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:]))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as why:
        from cli.error_line import error_line  # loads Kafka's and PostgreSQL's clients: only once something failed

        message = error_line(why)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
