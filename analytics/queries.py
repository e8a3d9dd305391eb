"""The analysts' queries behind `kim query`, the read API and the dashboard.

Each query reads the ``analytics`` SQL schema, which is the one place suppression happens: primary
(counts 1..threshold) and secondary (partner cells, so that no hidden count follows from a total; migration
0090, the same rule as ``analytics.suppression.protect``) arrive as NULL with a ``<column>_suppressed``
flag. A query only sorts and labels the rows and returns a ``Result``: columns and rows of plain values
where every count is a ``Cell``. Rendering (table, CSV, JSON) is in ``analytics.render``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import asyncpg

from analytics.suppression import DEFAULT_SMALL_CELL_MAX, TOTAL, Cell
from schemas.errors import KimError
from schemas.labels import STADTBEZIRK

DISTRICTS = tuple(STADTBEZIRK)  # the Stadtbezirke in the catalog's order
AGE_BUCKETS = ("0-30", "31-90", "91-180", ">180")
PROJECTION_OF = {"caseloads": "caseload", "referrals": "referrals", "backlog": "backlog"}


@dataclass(frozen=True)
class Filters:
    """What every query may be narrowed by; ``None`` means no restriction (``as_of`` None: now)."""

    as_of: datetime | None = None
    district: str | None = None
    agency: str | None = None
    to_agency: str | None = None
    procedure: str | None = None
    from_day: date | None = None
    to_day: date | None = None
    weeks: int = 8
    group_by: str = "district"

    def when(self) -> datetime:
        return self.as_of or datetime.now().astimezone()


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # count | number | text | date
    title: str


@dataclass
class Result:
    """A suppressed table: ``rows`` are dicts by column name; counts are ``Cell``s."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    threshold: int = DEFAULT_SMALL_CELL_MAX
    notes: list[str] = field(default_factory=list)
    protected: bool = False  # has totals, so secondary suppression applies (and hidden cells look alike)
    meta: dict[str, Any] = field(default_factory=dict)  # facts about the answer, as JSON properties beside the rows

    def count_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "count"]


async def set_threshold(conn: asyncpg.Connection, threshold: int) -> None:
    """The SQL layer suppresses 1..max(4, kim.small_cell_max); keep it in step with ours."""
    await conn.execute("SELECT set_config('kim.small_cell_max', $1, false)", str(threshold))


def _cell(record: asyncpg.Record, column: str) -> Cell:
    """A count as the SQL layer suppressed it (``<column>_suppressed``: small itself, or hidden with one).

    SQL does not say which of the two a hidden cell is; tables with totals render every hidden cell alike
    (``Result.protected``), and in the others every hidden cell is a small one.
    """
    if record[f"{column}_suppressed"]:
        return Cell(None, True, True)
    return Cell(record[column], False)


# ---------------------------------------------------------------------------------------------------
# Caseloads


CASELOAD_COLUMNS = [
    Column("group_key", "text", "group"),
    Column("open_cases", "count", "open"),
    Column("waiting", "count", "waiting for a case manager"),
    Column("median_wait_days", "number", "median wait d"),
    Column("max_wait_days", "number", "longest wait d"),
]


async def caseloads(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    """Open cases and the waiting list for a case manager per Stadtbezirk (or agency), longest list first."""
    await set_threshold(conn, threshold)
    records = await conn.fetch(
        "SELECT * FROM analytics.caseloads($1, $2, $3, $4)", f.when(), f.group_by, f.district, f.agency
    )
    rows: list[dict[str, Any]] = []
    for r in records:
        rows.append(
            {
                "group_key": r["group_key"],
                "open_cases": _cell(r, "open_cases"),
                "waiting": _cell(r, "waiting"),
                "median_wait_days": _round(r["median_wait_days"]),
                "max_wait_days": _round(r["max_wait_days"]),
                "_keys": (r["group_key"],),
            }
        )
    rows.sort(key=lambda r: (r["group_key"] == TOTAL, *_desc(r["waiting"]), *_desc(r["open_cases"]), r["group_key"]))
    columns = [replace(CASELOAD_COLUMNS[0], name="group_key", title=_group_title(f.group_by)), *CASELOAD_COLUMNS[1:]]
    return Result(
        "caseloads",
        f"Open cases at {f.when():%Y-%m-%d %H:%M %Z} and the waiting list for a case manager, per "
        f"{_group_title(f.group_by)} (longest waiting list first)",
        columns,
        _strip(rows),
        threshold,
        protected=True,
    )


def _group_title(group_by: str) -> str:
    return {"district": "Stadtbezirk", "agency": "responsible agency"}.get(group_by, group_by)


def _desc(cell: Cell) -> tuple[int, int]:
    """Sort key: shown counts, largest first, then suppressed ones."""
    return (1, 0) if cell.suppressed else (0, -(cell.value or 0))


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _strip(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


async def caseload_weekly(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    await set_threshold(conn, threshold)
    records = await conn.fetch(
        "SELECT * FROM analytics.caseload_weekly($1, $2, $3, $4) ORDER BY week",
        f.from_day,
        f.to_day,
        f.district,
        f.agency,
    )
    rows = [{"week": r["week"], "opened": _cell(r, "opened"), "closed": _cell(r, "closed")} for r in records]
    columns = [
        Column("week", "date", "week of"),
        Column("opened", "count", "opened"),
        Column("closed", "count", "closed"),
    ]
    return Result("caseload_weekly", "Cases opened and closed per week", columns, rows, threshold)


# Case managers: the analytics schema decides whether figures per case manager are shown (migration 0100, the
# switch KIM_CASE_MANAGER_FIGURES that `kim up` writes); these queries only read what it answers.

CASE_MANAGER_FIGURES_OFF = "KIM01"  # the SQLSTATE of analytics.require_case_manager_figures()
CASE_MANAGER_FIGURES = "KIM_CASE_MANAGER_FIGURES"


class CaseManagerFiguresOff(KimError):
    """The analytics schema refused figures per case manager: KIM_CASE_MANAGER_FIGURES is off."""


async def caseload_by_case_manager(
    conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX
) -> Result:
    """Open cases per case-manager pseudonym, only where the analytics schema allows it (else CaseManagerFiguresOff)."""
    await set_threshold(conn, threshold)
    try:
        records = await conn.fetch(
            "SELECT * FROM analytics.caseload_by_case_manager WHERE ($1::text IS NULL OR agency = $1)"
            " ORDER BY open_cases DESC NULLS LAST, agency, case_manager_ref",
            f.agency,
        )
    except asyncpg.PostgresError as why:
        if why.sqlstate != CASE_MANAGER_FIGURES_OFF:
            raise
        raise CaseManagerFiguresOff(
            f"figures per case manager are off ({CASE_MANAGER_FIGURES}): they are performance data about staff, "
            "shown only with the staff council's agreement; case_manager_load has the caseload per case manager in "
            "bands, per agency"
        ) from None
    rows = [
        {"agency": r["agency"], "case_manager_ref": r["case_manager_ref"], "open_cases": _cell(r, "open_cases")}
        for r in records
    ]
    columns = [
        Column("agency", "text", "agency"),
        Column("case_manager_ref", "text", "case manager"),
        Column("open_cases", "count", "open cases"),
    ]
    return Result(
        "caseload_by_case_manager", "Open cases per case manager (as far as the log is read)", columns, rows, threshold
    )


LOAD_BANDS = ("load_1_10", "load_11_20", "load_21_30", "load_31_40", "load_over_40")
CASE_MANAGER_LOAD_COLUMNS = [
    Column("agency", "text", "agency"),
    Column("case_managers", "count", "case managers"),
    Column("load_1_10", "count", "1-10 open"),
    Column("load_11_20", "count", "11-20 open"),
    Column("load_21_30", "count", "21-30 open"),
    Column("load_31_40", "count", "31-40 open"),
    Column("load_over_40", "count", ">40 open"),
]


async def case_manager_load(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    """Per agency: case managers with open cases and how many carry 1-10, 11-20, 21-30, 31-40, >40 (no pseudonym).

    ``meta["case_manager_figures"]`` says whether the analytics schema also answers per case manager.
    """
    await set_threshold(conn, threshold)
    allowed = await conn.fetchval("SELECT analytics.case_manager_figures()")
    records = await conn.fetch(
        "SELECT * FROM analytics.case_manager_load WHERE ($1::text IS NULL OR agency = $1)"
        " ORDER BY agency = 'ALL', agency",
        f.agency,
    )
    rows = [{"agency": r["agency"], **{c: _cell(r, c) for c in ("case_managers", *LOAD_BANDS)}} for r in records]
    return Result(
        "case_manager_load",
        "Case managers per agency by their open cases (as far as the log is read); totals as ALL",
        CASE_MANAGER_LOAD_COLUMNS,
        rows,
        threshold,
        notes=[] if allowed else [f"figures per case manager: off ({CASE_MANAGER_FIGURES})"],
        protected=True,
        meta={"case_manager_figures": bool(allowed)},
    )


# ---------------------------------------------------------------------------------------------------
# Referrals

REFERRAL_COUNTS = ("issued", "accepted", "declined", "completed", "open")
REFERRAL_COLUMNS = [
    Column("from_agency", "text", "from"),
    Column("to_agency", "text", "to"),
    *(Column(c, "count", c) for c in REFERRAL_COUNTS),
    Column("acceptance_rate", "number", "acceptance"),
    Column("median_days_to_accept", "number", "accept med d"),
    Column("p90_days_to_accept", "number", "accept p90 d"),
    Column("median_days_to_complete", "number", "complete med d"),
]


async def referrals(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    """The from -> to agency matrix, slowest acceptance first, with row/column totals (``ALL``)."""
    await set_threshold(conn, threshold)
    records = await conn.fetch(
        "SELECT * FROM analytics.referral_flow($1, $2, $3, $4)", f.from_day, f.to_day, f.agency, f.to_agency
    )
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {"from_agency": r["from_agency"], "to_agency": r["to_agency"]}
        row.update({c: _cell(r, c) for c in REFERRAL_COUNTS})
        row["acceptance_rate"] = _round(r["acceptance_rate"], 3)
        for c in ("median_days_to_accept", "p90_days_to_accept", "median_days_to_complete"):
            row[c] = _round(r[c])
        row["_keys"] = (r["from_agency"], r["to_agency"])
        row["_median"] = r["median_days_to_accept"]  # sort on the exact median, not the rounded one (ties)
        rows.append(row)
    rows.sort(
        key=lambda r: (
            TOTAL in r["_keys"],
            r["_median"] is None,
            -(r["_median"] or 0),
            r["from_agency"],
            r["to_agency"],
        )
    )
    return Result(
        "referrals",
        "Referrals from -> to agency, slowest acceptance (median days from issue) first; totals as ALL",
        REFERRAL_COLUMNS,
        _strip(rows),
        threshold,
        protected=True,
    )


async def referrals_open(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    await set_threshold(conn, threshold)
    records = await conn.fetch("SELECT * FROM analytics.referrals_open($1, $2)", f.when(), f.to_agency)
    rows = [
        {
            "to_agency": r["to_agency"],
            **{c: _cell(r, c) for c in ("open", "awaiting_answer", "overdue")},
            "_keys": (r["to_agency"],),
        }
        for r in records
    ]
    rows.sort(key=lambda r: (r["to_agency"] == TOTAL, *_desc(r["overdue"]), r["to_agency"]))
    columns = [
        Column("to_agency", "text", "to agency"),
        Column("open", "count", "open"),
        Column("awaiting_answer", "count", "awaiting answer"),
        Column("overdue", "count", "overdue"),
    ]
    return Result(
        "referrals_open",
        f"Referrals open at {f.when():%Y-%m-%d %H:%M %Z} per receiving agency",
        columns,
        _strip(rows),
        threshold,
        protected=True,
    )


# ---------------------------------------------------------------------------------------------------
# Backlog

BACKLOG_AGES = ("age_0_30", "age_31_90", "age_91_180", "age_over_180")
BACKLOG_COLUMNS = [
    Column("procedure", "text", "procedure"),
    Column("pending", "count", "pending"),
    Column("age_0_30", "count", "0-30 d"),
    Column("age_31_90", "count", "31-90 d"),
    Column("age_91_180", "count", "91-180 d"),
    Column("age_over_180", "count", ">180 d"),
    Column("outflow_per_week", "number", "done/week"),
    Column("weeks_to_clear", "number", "weeks to clear"),
    Column("cleared_by", "date", "cleared by"),
    Column("over_180_cleared_by", "date", ">180 d cleared by"),
]


async def backlog(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    """Pending applications by procedure and age at ``as_of``, and when they will be cleared."""
    await set_threshold(conn, threshold)
    records = await conn.fetch("SELECT * FROM analytics.backlog($1, $2, $3)", f.when(), f.weeks, f.procedure)
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {"procedure": r["procedure"]}
        row.update({c: _cell(r, c) for c in ("pending", *BACKLOG_AGES)})
        row["outflow_per_week"] = _round(r["outflow_per_week"])
        row["weeks_to_clear"] = _round(r["weeks_to_clear"])
        row["cleared_by"] = r["cleared_by"]
        row["over_180_cleared_by"] = r["over_180_cleared_by"]
        row["_keys"] = (r["procedure"],)
        rows.append(row)
    rows.sort(key=lambda r: (r["procedure"] == TOTAL, *_desc(r["pending"]), r["procedure"]))
    return Result(
        "backlog",
        f"Pending applications at {f.when():%Y-%m-%d %H:%M %Z} by age since filing; cleared at the throughput of "
        f"the last {f.weeks} weeks (the oldest first)",
        BACKLOG_COLUMNS,
        _strip(rows),
        threshold,
        protected=True,
    )


async def backlog_flow(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    await set_threshold(conn, threshold)
    records = await conn.fetch(
        "SELECT * FROM analytics.backlog_flow_weekly($1, $2, $3) ORDER BY week", f.from_day, f.to_day, f.procedure
    )
    counts = ("inflow", "outflow", "granted", "refused", "withdrawn")
    rows = [{"week": r["week"], **{c: _cell(r, c) for c in counts}} for r in records]
    columns = [Column("week", "date", "week of"), *(Column(c, "count", c) for c in counts)]
    return Result(
        "backlog_flow",
        "Applications filed (inflow) and decided or withdrawn (outflow) per week",
        columns,
        rows,
        threshold,
        protected=True,
    )


async def backlog_age_history(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    to_day = f.to_day or f.when().date()
    from_day = f.from_day or date(to_day.year - 1, to_day.month, min(to_day.day, 28))
    await set_threshold(conn, threshold)
    records = await conn.fetch(
        "SELECT * FROM analytics.backlog_age_history($1, $2, $3) ORDER BY week, bucket", from_day, to_day, f.procedure
    )
    rows = [{"week": r["week"], "bucket": r["bucket"], "pending": _cell(r, "pending")} for r in records]
    columns = [
        Column("week", "date", "week of"),
        Column("bucket", "text", "age d"),
        Column("pending", "count", "pending"),
    ]
    return Result(
        "backlog_age_history", "Pending applications at the end of each week by age", columns, rows, threshold
    )


async def freshness(conn: asyncpg.Connection) -> Result:
    records = await conn.fetch("SELECT * FROM analytics.projection_freshness ORDER BY projection")
    columns = [
        Column("projection", "text", "projection"),
        Column("partitions", "number", "partitions"),
        Column("records_applied", "number", "records read"),
        Column("last_event_at", "date", "last event"),
        Column("updated_at", "date", "checkpoint moved"),
    ]
    return Result("freshness", "How far each projection has read the log", columns, [dict(r) for r in records])


# ---------------------------------------------------------------------------------------------------
# Outcomes (the steering indicators of migration 0135)

EARLIEST_DAY = date(2015, 1, 1)  # no event is dated before it (schemas/rules.py), so a period from here is "all"
GOAL_COUNTS = ("agreed", "achieved", "abandoned", "open_at_end", "overdue")
OUTCOME_COLUMNS = [
    Column("group_key", "text", "Lebenslage"),
    Column("agreed", "count", "goals agreed"),
    Column("achieved", "count", "achieved"),
    Column("abandoned", "count", "abandoned"),
    Column("achievement_rate", "number", "achieved of ended"),
    Column("median_days_to_achieve", "number", "median d to achieve"),
    Column("open_at_end", "count", "open at as_of"),
    Column("overdue", "count", "overdue"),
]


async def outcomes(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    """Goals agreed, achieved and abandoned in the period per Lebenslage (or agency, Stadtbezirk), most agreed first."""
    await set_threshold(conn, threshold)
    group_by = f.group_by if f.group_by in ("agency", "district") else "lebenslage"
    first, last = f.from_day or EARLIEST_DAY, f.to_day or f.when().date()
    records = await conn.fetch("SELECT * FROM analytics.goal_outcomes($1, $2, $3, $4)", first, last, f.when(), group_by)
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {"group_key": r["group_key"], **{c: _cell(r, c) for c in GOAL_COUNTS}}
        row["achievement_rate"] = _round(r["achievement_rate"], 3)
        row["median_days_to_achieve"] = _round(r["median_days_to_achieve"])
        row["_keys"] = (r["group_key"],)
        rows.append(row)
    rows.sort(key=lambda r: (r["group_key"] == TOTAL, *_desc(r["agreed"]), r["group_key"]))
    title = {"lebenslage": "Lebenslage", "agency": "agreeing agency", "district": "Stadtbezirk"}[group_by]
    columns = [replace(OUTCOME_COLUMNS[0], title=title), *OUTCOME_COLUMNS[1:]]
    return Result(
        "outcomes",
        f"Goals agreed, achieved and abandoned from {first} to {last} per {title}; open and overdue at "
        f"{f.when():%Y-%m-%d %H:%M %Z}",
        columns,
        _strip(rows),
        threshold,
        protected=True,
    )


ENDING_COUNTS = ("closed", "successful", "into_regelsystem", "observable_6m", "returned_6m", "observable_12m")
ENDING_COLUMNS = [
    Column("group_key", "text", "Stadtbezirk"),
    Column("closed", "count", "closed"),
    Column("successful", "count", "successful"),
    Column("into_regelsystem", "count", "into a Regelsystem"),
    Column("observable_6m", "count", "6 months passed"),
    Column("returned_6m", "count", "came back in 6 months"),
    Column("return_rate_6m", "number", "return rate 6 m"),
    Column("observable_12m", "count", "12 months passed"),
    Column("returned_12m", "count", "came back in 12 months"),
    Column("return_rate_12m", "number", "return rate 12 m"),
]


async def returns(conn: asyncpg.Connection, f: Filters, threshold: int = DEFAULT_SMALL_CELL_MAX) -> Result:
    """Cases closed in the period, the successful endings, and of those who came back within 6 and 12 months."""
    await set_threshold(conn, threshold)
    group_by = "agency" if f.group_by == "agency" else "district"
    first, last = f.from_day or EARLIEST_DAY, f.to_day or f.when().date()
    records = await conn.fetch("SELECT * FROM analytics.case_endings($1, $2, $3, $4)", first, last, f.when(), group_by)
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {"group_key": r["group_key"]}
        row.update({c: _cell(r, c) for c in (*ENDING_COUNTS, "returned_12m")})
        row["return_rate_6m"] = _round(r["return_rate_6m"], 3)
        row["return_rate_12m"] = _round(r["return_rate_12m"], 3)
        row["_keys"] = (r["group_key"],)
        rows.append(row)
    rows.sort(key=lambda r: (r["group_key"] == TOTAL, *_desc(r["closed"]), r["group_key"]))
    title = "agency holding the case at the end" if group_by == "agency" else "Stadtbezirk"
    columns = [replace(ENDING_COLUMNS[0], title=title), *ENDING_COLUMNS[1:]]
    return Result(
        "returns",
        f"Cases closed from {first} to {last} per {title}: successful endings (goals achieved or into a "
        f"Regelsystem) and of those the clients who came back with a new case, as far as known at "
        f"{f.when():%Y-%m-%d %H:%M %Z}",
        columns,
        _strip(rows),
        threshold,
        protected=True,
    )


QUERIES = {
    "caseloads": caseloads,
    "referrals": referrals,
    "backlog": backlog,
    "case-manager-load": case_manager_load,
    "outcomes": outcomes,
    "returns": returns,
}
