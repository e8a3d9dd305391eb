"""`kim query caseloads | referrals | backlog | case-manager-load | outcomes | returns`: the analysts' questions,
suppressed,
as a table, CSV or JSON. There is no answer per case manager here: `case-manager-load` is the caseload per case
manager in bands, per agency (figures per case-manager pseudonym are staff data, see KIM_CASE_MANAGER_FIGURES)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date

import asyncpg

from analytics import queries
from analytics.render import render
from analytics.suppression import small_cell_max
from cli.args import iso_time
from infra import db_roles
from infra.errors import SetupError
from infra.processes import run_sync
from infra.settings import Settings
from schemas.labels import AGENCY, PROCEDURES, STADTBEZIRK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Counts from 1 to 4 (KIM_SMALL_CELL_MAX) are suppressed, and so is a partner cell wherever a "
        "total would give a hidden count away."
    )
    parser.add_argument("what", choices=tuple(queries.QUERIES), help="what to query")
    parser.add_argument("--district", type=_symbol(STADTBEZIRK, "district"), help="only this Stadtbezirk (caseloads)")
    parser.add_argument(
        "--agency",
        type=_symbol(AGENCY, "agency"),
        help="only this agency (caseloads: responsible; referrals: from; case-manager-load: the case managers')",
    )
    parser.add_argument("--to-agency", type=_symbol(AGENCY, "agency"), help="referrals: only to this agency")
    parser.add_argument("--procedure", type=_symbol(PROCEDURES, "procedure"), help="backlog: only this procedure")
    parser.add_argument("--from", dest="from_day", type=_day, help="referrals, outcomes: from this day on (YYYY-MM-DD)")
    parser.add_argument("--to", dest="to_day", type=_day, help="referrals, outcomes: up to this day")
    parser.add_argument("--as-of", type=iso_time, help="the moment for ages and backlogs (ISO time; default: now)")
    parser.add_argument(
        "--by",
        choices=("district", "agency", "lebenslage"),
        help="caseloads: group by district (default) or agency; outcomes: by lebenslage (default), agency or district",
    )
    parser.add_argument("--weeks", type=int, default=8, help="backlog: weeks of throughput to extrapolate (default 8)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default table)")


def _symbol(allowed, what: str):
    def parse(text: str) -> str:
        symbol = text.strip().upper().replace("-", "_").replace("Ö", "OE").replace("Ü", "UE").replace("Ä", "AE")
        short = symbol.replace("§", "").replace(" ", "").replace("AUFENTHG", "").strip("_")
        if symbol not in allowed and f"AUFENTHG_{short}" in allowed:
            symbol = f"AUFENTHG_{short}"  # §25b, 25b
        if symbol not in allowed:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; one of {', '.join(sorted(allowed))}")
        return symbol

    return parse


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2025-06-30") from None


def filters(args: argparse.Namespace) -> queries.Filters:
    if args.weeks < 1:
        raise SetupError("--weeks must be at least 1")
    if args.from_day and args.to_day and args.from_day > args.to_day:
        raise SetupError(f"--from {args.from_day} is after --to {args.to_day}")
    if args.by == "lebenslage" and args.what != "outcomes":
        raise SetupError(f"--by lebenslage is for outcomes; {args.what} groups by district or agency")
    return queries.Filters(
        as_of=args.as_of,
        district=args.district,
        agency=args.agency,
        to_agency=args.to_agency,
        procedure=args.procedure,
        from_day=args.from_day,
        to_day=args.to_day,
        weeks=args.weeks,
        group_by=args.by or ("lebenslage" if args.what == "outcomes" else "district"),
    )


async def _query(settings: Settings, what: str, f: queries.Filters, threshold: int) -> queries.Result:
    try:
        conn = await asyncpg.connect(db_roles.database_url(settings, db_roles.ANALYST), timeout=10)
    except (OSError, asyncpg.PostgresError) as why:
        raise SetupError(f"cannot reach the database ({why}); start it with `kim up`") from None
    try:
        await queries.set_threshold(conn, threshold)
        return await queries.QUERIES[what](conn, f, threshold)
    except (asyncpg.UndefinedFunctionError, asyncpg.UndefinedTableError):
        raise SetupError("the analytics schema is missing; apply the migrations with `kim up`") from None
    finally:
        await conn.close()


def run(settings: Settings, args: argparse.Namespace) -> int:
    threshold = small_cell_max()
    result = run_sync(_query(settings, args.what, filters(args), threshold))
    try:
        print(render(result, args.format), flush=True)
    except BrokenPipeError:  # `kim query … | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
