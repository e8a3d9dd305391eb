"""`kim audit`: the operational actions recorded in the audit log (who, when, what, outcome)."""

from __future__ import annotations

import argparse
import json

import asyncpg

from analytics.table import table
from cli.args import iso_time
from infra import audit, db_roles, postgres_server
from infra.processes import run_sync
from infra.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--action", help="only this action or its sub-actions (e.g. replay, dlq.redrive)")
    parser.add_argument("--actor", help="only entries of this actor (as recorded, e.g. alice@host)")
    parser.add_argument("--since", type=iso_time, help="at or after this ISO time (e.g. 2026-11-01)")
    parser.add_argument("--until", type=iso_time, help="before this ISO time")
    parser.add_argument("--limit", type=_limit, default=100, help="newest N entries (default 100, at most 10000)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output (default table)")


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to 10000")
    return int(text)


async def _entries(settings: Settings, args: argparse.Namespace) -> list[audit.AuditEntry]:
    conn = await asyncpg.connect(db_roles.database_url(settings, db_roles.OPERATIONS), timeout=10)
    try:
        return await audit.entries(
            conn, action=args.action, actor=args.actor, since=args.since, until=args.until, limit=args.limit
        )
    finally:
        await conn.close()


def run(settings: Settings, args: argparse.Namespace) -> int:
    postgres_server.wait_for_database(db_roles.database_url(settings, db_roles.OPERATIONS), timeout=5.0)
    found = run_sync(_entries(settings, args))
    if args.format == "json":
        print(json.dumps([_as_dict(e) for e in found], default=str, ensure_ascii=False, indent=2))
        return 0
    if not found:
        print("no audit entries match")
        return 0
    rows = [
        [
            e.id,
            e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S%z"),
            e.actor,
            e.db_login or "-",
            e.action,
            e.target,
            e.outcome,
            _brief(e),
        ]
        for e in found
    ]
    print(table(["id", "at", "actor", "login", "action", "target", "outcome", "details"], rows))
    return 0


def _as_dict(entry: audit.AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "db_login": entry.db_login,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "details": entry.details,
    }


def _brief(entry: audit.AuditEntry) -> str:
    text = ", ".join(f"{k}={v}" for k, v in entry.details.items())
    return text if len(text) <= 80 else text[:77] + "..."
