"""The steering report's tables: which indicator function answers each, and reading them from a connection.

The ``indicator_*`` functions (migration 0135) are SECURITY INVOKER over unqualified tables, so the connection's
search_path decides which read models they count: ``kim report`` hands in one whose search_path puts a copy
folded to the report's cut first. They arrive suppressed (a hidden count is NULL with ``<column>_suppressed``);
here they only become ``Result``s of ``Cell``s in the function's own row order (keys, then ``ALL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from analytics.queries import Column, Result, set_threshold
from analytics.report_period import Period
from analytics.suppression import Cell


@dataclass(frozen=True)
class Spec:
    name: str  # the table's key in the JSON and CSV
    title: str
    function: str  # an indicator_* function of schema public
    group_by: str | None = None  # its group_by argument, for those that take one
    group_title: str = "group"


TABLES: tuple[Spec, ...] = (
    Spec("goal_outcomes_by_lebenslage", "Goals by Lebenslage", "indicator_goal_outcomes", "lebenslage", "Lebenslage"),
    Spec("goal_outcomes_by_agency", "Goals by agreeing agency", "indicator_goal_outcomes", "agency", "agency"),
    Spec("goal_outcomes_by_district", "Goals by Stadtbezirk", "indicator_goal_outcomes", "district", "Stadtbezirk"),
    Spec("goal_abandon_reasons", "Goals abandoned, by reason", "indicator_goal_abandon_reasons", None, "reason"),
    Spec(
        "case_endings_by_district", "Case endings by Stadtbezirk", "indicator_case_endings", "district", "Stadtbezirk"
    ),
    Spec(
        "case_endings_by_agency",
        "Case endings by agency holding the case",
        "indicator_case_endings",
        "agency",
        "agency",
    ),
    Spec(
        "first_contact_by_district",
        "First contact by Stadtbezirk",
        "indicator_first_contact",
        "district",
        "Stadtbezirk",
    ),
    Spec("first_contact_by_agency", "First contact by opening agency", "indicator_first_contact", "agency", "agency"),
    Spec(
        "immigration_decisions",
        "Decisions of the immigration and naturalisation offices",
        "indicator_immigration_decisions",
        None,
        "procedure",
    ),
)

TITLES = {  # column titles on the report; a column not named here is its name with spaces
    "median_days_to_achieve": "median days to achievement",
    "open_at_end": "open at as_of",
    "into_regelsystem": "into a Regelsystem",
    "observable_6m": "observable 6 m",
    "returned_6m": "returned within 6 m",
    "return_rate_6m": "return rate 6 m",
    "observable_12m": "observable 12 m",
    "returned_12m": "returned within 12 m",
    "return_rate_12m": "return rate 12 m",
    "median_days_to_contact": "median days to first contact",
    "p90_days_to_contact": "p90 days to first contact",
}


async def indicators(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The fixed indicator set with its definitions (the view ``analytics.indicators``)."""
    return [dict(r) for r in await conn.fetch("SELECT * FROM analytics.indicators")]


async def compute(conn: asyncpg.Connection, period: Period, as_of: datetime, threshold: int) -> list[Result]:
    """Every table of the report for the period, as seen at ``as_of``, over the tables of ``conn``'s search_path."""
    await set_threshold(conn, threshold)
    return [await _one(conn, spec, period, as_of, threshold) for spec in TABLES]


async def _one(conn: asyncpg.Connection, spec: Spec, period: Period, as_of: datetime, threshold: int) -> Result:
    args: list[Any] = [period.from_day, period.to_day, as_of]
    if spec.group_by is not None:
        args.append(spec.group_by)
    marks = ", ".join(f"${i}" for i in range(1, len(args) + 1))
    statement = await conn.prepare(f"SELECT * FROM {spec.function}({marks})")
    names = [a.name for a in statement.get_attributes()]
    records = await statement.fetch(*args)
    return Result(
        spec.name,
        spec.title,
        columns_of(names, spec.group_title),
        [row_of(r, names) for r in records],
        threshold,
        protected=True,
    )


def columns_of(names: list[str], group_title: str) -> list[Column]:
    """The first column is the group; a column with a ``_suppressed`` partner is a count; the rest are numbers."""
    shown = [n for n in names if not n.endswith("_suppressed")]
    kinds = {n: "count" if f"{n}_suppressed" in names else "number" for n in shown[1:]}
    return [Column(shown[0], "text", group_title)] + [
        Column(n, kinds[n], TITLES.get(n, n.replace("_", " "))) for n in shown[1:]
    ]


def row_of(record: asyncpg.Record | dict[str, Any], names: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in names:
        if name.endswith("_suppressed"):
            continue
        if f"{name}_suppressed" in names:
            hidden = bool(record[f"{name}_suppressed"])
            row[name] = Cell(None if hidden else record[name], hidden, hidden)
        else:
            row[name] = record[name]
    return row
