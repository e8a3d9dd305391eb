"""`kim replay PROJECTION|all [--until T [--from T] [--name NAME]] | --list | --drop NAME`: rebuilds, as-of copies."""

from __future__ import annotations

import argparse
import contextlib
import sys

import asyncpg

from analytics.table import table
from infra import audit, db_roles
from infra.errors import SetupError
from infra.kafka_broker import wait_for_kafka
from infra.platform_identity import kafka_connection, signing_secret
from infra.processes import run_sync
from infra.settings import Settings
from projections import copies, rebuilds
from projections.registry import PROJECTIONS
from streams.operations.replay import Outcome, ReplayRefused, Request, connect, replay
from streams.operations.replay_all import AllOutcome, replay_all
from streams.runtime.bulk import BATCH_RECORDS

ALL = "all"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Rebuild PROJECTION into a shadow copy while the live one keeps running, verify it against "
        "the live tables at the same offsets and swap it in atomically; with --until, fold only the events up "
        "to that time into a named as-of copy for analysts (never swapped in)."
    )
    parser.add_argument(
        "projection",
        nargs="?",
        help=f"one of {', '.join(sorted(PROJECTIONS))}, or {ALL}: rebuild every projection from one read of the log",
    )
    parser.add_argument("--until", help="as-of copy: events that occurred up to this ISO time or day (end of the day)")
    parser.add_argument("--from", dest="since", help="as-of copy: only events from this ISO time or day (its start)")
    parser.add_argument("--name", help="as-of copy: schema name (default asof_<projection>_<yyyy_mm_dd>)")
    parser.add_argument(
        "--accept-differences", action="store_true", help="swap in even when the copy differs from the live tables"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH_RECORDS,
        help=f"records per database transaction (default {BATCH_RECORDS:,}; fewer use less memory)",
    )
    parser.add_argument("--list", action="store_true", help="list the rebuilds and as-of copies")
    parser.add_argument("--drop", metavar="NAME", help="drop an as-of copy (or an unfinished rebuild's copy)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return _run(settings, args)
    except asyncpg.UndefinedTableError:
        raise SetupError("the table projection_rebuilds is missing; apply the migrations with `kim up`") from None


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.list:
        print(run_sync(_list(settings)))
        return 0
    if args.drop:
        print(run_sync(_drop(settings, args.drop)))
        return 0
    if args.projection == ALL:
        return _run_all(settings, args)
    request = make_request(args, settings.topic_prefix, settings.actor or "kim")
    kafka = kafka_connection(settings)
    wait_for_kafka(kafka, timeout=10)
    try:
        outcome = run_sync(replay(kafka, _url(settings), request, platform_secret=signing_secret(kafka)))
    except ReplayRefused as why:
        _audit(settings, request, "refused", str(why))
        raise SetupError(str(why)) from None
    except KeyboardInterrupt:
        _audit(settings, request, "failed", "interrupted")
        print(
            f"replay stopped; the copy {request.schema} keeps what it applied — run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    return _report(request, outcome)


def _run_all(settings: Settings, args: argparse.Namespace) -> int:
    requests = all_requests(args, settings.topic_prefix, settings.actor or "kim")
    kafka = kafka_connection(settings)
    wait_for_kafka(kafka, timeout=10)
    try:
        outcome = run_sync(replay_all(kafka, _url(settings), requests, platform_secret=signing_secret(kafka)))
    except ReplayRefused as why:
        for request in requests:
            _audit(settings, request, "refused", str(why))
        raise SetupError(str(why)) from None
    except KeyboardInterrupt:
        for request in requests:
            _audit(settings, request, "failed", "interrupted")
        names = ", ".join(r.schema for r in requests)
        print(
            f"replay stopped; the copies {names} keep what they applied — run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    for request in requests:
        if request.projection.name in outcome.refused:
            _audit(settings, request, "refused", outcome.refused[request.projection.name])
    return _report_all(requests, outcome)


def all_requests(args: argparse.Namespace, topic_prefix: str, actor: str = "kim") -> list[Request]:
    """A rebuild request per projection (``kim replay all``); as-of copies are made one projection at a time."""
    if args.until or args.since or args.name:
        raise SetupError("--until, --from and --name make an as-of copy of one projection; not with `kim replay all`")
    if args.batch < 1:
        raise SetupError("--batch must be at least 1")
    return [
        Request(
            projection,
            copies.rebuild_schema(name),
            copies.REBUILD,
            actor=actor,
            batch=args.batch,
            topic_prefix=topic_prefix,
            accept_differences=args.accept_differences,
        )
        for name, projection in sorted(PROJECTIONS.items())
    ]


def _report_all(requests: list[Request], outcome: AllOutcome) -> int:
    """Each projection's checks and result, then one line for the shared read; exit 0 only if every one swapped."""
    for request in requests:
        name = request.projection.name
        if name in outcome.refused:
            print(f"error: {name} not rebuilt: {outcome.refused[name]}", file=sys.stderr)
        else:
            _report(request, outcome.outcomes[name])
    swapped = [r.projection.name for r in requests if r.projection.name in outcome.outcomes]
    swapped = [n for n in swapped if outcome.outcomes[n].state == "swapped"]
    print(
        f"replay all: {outcome.read:,} records read from the log once for all projections; "
        f"swapped {len(swapped)} of {len(requests)}" + (f" ({', '.join(swapped)})" if swapped else "")
    )
    return 0 if outcome.all_swapped else 1


def make_request(args: argparse.Namespace, topic_prefix: str, actor: str = "kim") -> Request:
    if not args.projection:
        raise SetupError("name the projection to replay (kim replay caseload), or use --list / --drop NAME")
    projection = PROJECTIONS.get(args.projection)
    if projection is None:
        raise SetupError(f"unknown projection {args.projection!r}; one of {', '.join(sorted(PROJECTIONS))}")
    if args.batch < 1:
        raise SetupError("--batch must be at least 1")
    if args.until is None:
        if args.since or args.name:
            raise SetupError("--from and --name make an as-of copy and need --until")
        schema = copies.rebuild_schema(projection.name)
        return Request(
            projection,
            schema,
            copies.REBUILD,
            actor=actor,
            batch=args.batch,
            topic_prefix=topic_prefix,
            accept_differences=args.accept_differences,
        )
    try:
        until = copies.parse_moment(args.until, end_of_day=True)
        since = copies.parse_moment(args.since, end_of_day=False) if args.since else None
        schema = copies.check_name(args.name) if args.name else copies.as_of_schema(projection.name, until, since)
    except ValueError as why:
        raise SetupError(str(why)) from None
    if since is not None and since > until:
        raise SetupError(f"--from {args.since} is after --until {args.until}")
    if schema.startswith("rebuild_"):
        raise SetupError(f"--name {schema}: names starting with rebuild_ are kept for rebuilds")
    if args.accept_differences:
        raise SetupError("--accept-differences is for rebuilds; an as-of copy is never swapped in")
    return Request(
        projection, schema, copies.AS_OF, since, until, batch=args.batch, topic_prefix=topic_prefix, actor=actor
    )


def _report(request: Request, outcome: Outcome) -> int:
    again = " (resumed)" if outcome.resumed else ""
    if request.kind == copies.AS_OF:
        print(f"as-of copy {request.schema} of {request.projection.name} is ready{again}; {outcome.detail}")
        print(f"query it with: SET search_path TO {request.schema}, public;")
        return 0
    print(copies.describe(outcome.checks))
    if outcome.rejected:
        print(f"{outcome.rejected} records rejected, dead-lettered with header kim.rebuild={request.schema}")
    if outcome.state == "refused":
        print(
            f"error: the rebuilt {request.projection.name} differs from the live one; not swapped. The copy "
            f"{request.schema} stays: check it, then `kim replay {request.projection.name} --accept-differences`",
            file=sys.stderr,
        )
        return 1
    held = f"{outcome.lock_seconds:.2f} s" if outcome.lock_seconds is not None else "-"
    print(f"rebuilt {request.projection.name}{again} and swapped it in; live commits paused for {held}")
    return 0


async def _list(settings: Settings) -> str:
    conn = await connect(_url(settings))
    try:
        rows = await rebuilds.listing(conn)
    finally:
        await conn.close()
    if not rows:
        return "no rebuilds or as-of copies"
    lines = []
    for r in rows:
        state = r["state"]
        if state in rebuilds.ACTIVE and r["idle_seconds"] > rebuilds.STALE_AFTER:
            state = "interrupted"
        lines.append(
            [
                r["copy_schema"],
                r["projection"],
                r["kind"],
                _at(r["from_at"]),
                _at(r["until_at"]),
                state,
                f"{r['applied']:,}/{r['total']:,}" if r["total"] is not None else f"{r['applied']:,}/-",
                _at(r["started_at"]),
                _at(r["finished_at"]),
            ]
        )
    headers = ["copy", "projection", "kind", "from", "until", "state", "applied/total", "started", "finished"]
    return table(headers, lines)


def _at(moment) -> str:
    return moment.astimezone(copies.LOCAL_TIME).strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def _audit(settings: Settings, request: Request, outcome: str, error: str) -> None:
    """Record a replay that stopped before it finished (best effort: the database may be what is missing)."""

    async def write() -> None:
        conn = await asyncpg.connect(_url(settings), timeout=5)
        try:
            details = {"projection": request.projection.name, "kind": request.kind, "error": error}
            await audit.record(conn, settings.actor or "kim", "replay", request.schema, outcome, details)
        finally:
            await conn.close()

    with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError):
        run_sync(write())


async def _drop(settings: Settings, name: str) -> str:
    conn = await connect(_url(settings))
    try:
        row = await rebuilds.find(conn, name)
        if row is None or row["state"] == "dropped":
            raise SetupError(f"there is no copy {name!r}; `kim replay --list` shows them")
        key = f"kim-rebuild|{row['projection']}" if row["kind"] == copies.REBUILD else f"kim-copy|{name}"
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
            raise SetupError(f"a `kim replay` is still writing {name}; stop it first")
        if row["state"] == "swapped":
            raise SetupError(f"{name} was swapped in and no longer exists as a copy")
        async with conn.transaction():
            await copies.drop(conn, name)
            await rebuilds.set_state(conn, name, "dropped")
            await audit.record(
                conn, settings.actor or "kim", "replay.drop", name, "ok", {"projection": row["projection"]}
            )
    finally:
        await conn.close()
    return f"dropped {name}"


def _url(settings: Settings) -> str:
    return db_roles.database_url(settings, db_roles.OPERATIONS)
