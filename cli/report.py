"""`kim report --period P | --from D --to D [--as-of T] [--cut FILE] [--against FILE] [--out DIR]`: the steering
group's indicator report as JSON, CSV and a self-contained HTML page, computed at a recorded cut of the log.

The front door: it reads the options, takes (or re-reads) the cut, has ``streams/operations/report_cut.py`` fold
the log up to it into a temporary copy, reads the indicator tables from that copy (``analytics/report_tables.py``)
and writes the files (``analytics/report_model.py``, ``analytics/report_render.py``).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from analytics import report_model, report_tables
from analytics.report_period import EXAMPLES, Period, ReportInputError, choose
from analytics.report_render import to_csv, to_html
from analytics.suppression import small_cell_max
from infra import db_roles
from infra.kafka_broker import wait_for_kafka
from infra.platform_identity import kafka_connection, signing_secret
from infra.processes import run_sync
from infra.settings import Settings
from projections.copies import parse_moment
from streams.kafka.connection import KafkaConnection
from streams.operations import report_cut


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compute the steering indicators (analytics.indicators) for a period at a cut of the log — the event "
        "topics' end offsets and the moment as_of — and write kim-report-<period>.json, .csv and .html. The same "
        "--cut gives the same numbers later, whatever was published since."
    )
    parser.add_argument("--period", help="2025-Q4, 2025 or 2025-03 (Dortmund calendar days)")
    parser.add_argument("--from", dest="since", metavar="DAY", help="first day of the period (with --to)")
    parser.add_argument("--to", dest="until", metavar="DAY", help="last day of the period (with --from)")
    parser.add_argument("--as-of", help="the moment the indicators are judged at (ISO time or day; default now)")
    parser.add_argument("--cut", metavar="FILE", help="an earlier report's JSON: reuse its offsets and as_of")
    parser.add_argument("--against", metavar="FILE", help="an earlier report of the period: list the cells changed")
    parser.add_argument("--out", metavar="DIR", default=".", help="where to write the files (default: here)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    threshold = small_cell_max()
    earlier = report_model.load(args.cut) if args.cut else None
    if earlier is not None:  # the cut's own threshold, so the same cells are hidden; never below today's setting
        threshold = max(threshold, int(earlier.get("small_cell_max") or threshold))
    against = report_model.load(args.against) if args.against else None
    period = choose(args.period, args.since, args.until)
    if period is None:
        if earlier is None:
            raise ReportInputError(f"name the period: --period {EXAMPLES}")
        period = report_model.period_of(earlier)
    if earlier is not None and args.as_of:
        raise ReportInputError("--cut brings its own as_of; leave out --as-of (or --cut for a new cut)")
    as_of = _moment(args.as_of) if args.as_of else None
    compared = report_model.period_of(against) if against is not None else None
    if compared is not None and (compared.from_day, compared.to_day) != (period.from_day, period.to_day):
        raise ReportInputError(
            f"--against {args.against} covers {compared.from_day} to {compared.to_day}, not "
            f"{period.from_day} to {period.to_day}; compare reports of the same period"
        )
    out = _directory(args.out)
    kafka = kafka_connection(settings)
    wait_for_kafka(kafka, timeout=10)
    doc = run_sync(_build(settings, kafka, period, earlier, args.cut, as_of, threshold))
    if against is not None:
        doc["changed_since"] = {
            "period": against["period"],
            "cut": against["cut"],
            "generated_at": against.get("generated_at"),
            "cells": report_model.changes(against, doc),
        }
    _write(out, period, doc)
    if against is not None:
        _print_changes(doc["changed_since"])
    return 0


def _moment(text: str) -> datetime:
    try:
        return parse_moment(text, end_of_day=True)
    except ValueError as why:
        raise ReportInputError(f"--as-of: {why}") from None


def _directory(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ReportInputError(f"--out {text} is a file; name a directory (it is made when missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as why:
        raise ReportInputError(f"--out {text}: cannot make the directory ({why.strerror})") from None
    return path


async def _build(
    settings: Settings,
    kafka: KafkaConnection,
    period: Period,
    earlier: dict[str, Any] | None,
    source: str | None,
    as_of: datetime | None,
    threshold: int,
) -> dict[str, Any]:
    ends = await report_cut.log_ends(kafka, settings.topic_prefix)
    if earlier is not None:
        recorded = report_model.cut_of(earlier)
        cut = report_model.Cut(recorded.as_of, report_cut.check(recorded.offsets, ends, f"--cut {source}"))
    else:
        cut = report_model.Cut(as_of or datetime.now(UTC).replace(microsecond=0), ends)
    operations = db_roles.database_url(settings, db_roles.OPERATIONS)
    async with report_cut.folded(
        kafka, operations, cut.offsets, topic_prefix=settings.topic_prefix, platform_secret=signing_secret(kafka)
    ) as copy:
        tables, indicators = await _read(
            db_roles.database_url(settings, db_roles.ADMIN), copy.schema, period, cut, threshold
        )
    return report_model.document(period, cut, threshold, indicators, tables, copy.rejected, datetime.now(UTC))


async def _read(url: str, schema: str, period: Period, cut: report_model.Cut, threshold: int) -> tuple[list, list]:
    """The tables from the copy. As the owner, read-only: only the owner may both read a copy and call the
    analytics functions the indicators use (kim_operations has no analytics, kim_analyst no copies)."""
    settings = {"search_path": f"{schema}, public", "default_transaction_read_only": "on"}
    try:
        conn = await asyncpg.connect(url, timeout=10, server_settings=settings)
    except (TimeoutError, OSError) as why:
        raise report_cut.CutRefused(f"cannot reach the database ({why}); start it with `kim up`") from None
    try:
        return await report_tables.compute(conn, period, cut.as_of, threshold), await report_tables.indicators(conn)
    except asyncpg.UndefinedFunctionError as why:
        missing = f"the database lacks the indicators ({why}); apply the migrations with `kim up`"
        raise report_cut.CutRefused(missing) from None
    finally:
        await conn.close()


def _write(out: Path, period: Period, doc: dict[str, Any]) -> None:
    import plotly.offline

    base = out / f"kim-report-{period.label}"
    files = {
        ".json": report_model.dumps(doc),
        ".csv": to_csv(doc),
        ".html": to_html(doc, plotly.offline.get_plotlyjs()),
    }
    for suffix, text in files.items():
        path = base.with_suffix(suffix)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")


def _print_changes(changed: dict[str, Any]) -> None:
    cells = changed["cells"]
    since = f"the report at {changed['cut']['as_of']}"
    if not cells:
        print(f"no cell changed since {since}")
        return
    print(f"{len(cells)} cells changed since {since} (x: hidden, -: none):")
    for change in cells:
        print("  " + report_model.change_line(change))
