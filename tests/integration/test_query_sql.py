"""The analytics schema on a simulated year: suppressed views and functions, the read-only role, and the
answers of the query layer checked against the raw projection tables."""

from __future__ import annotations

import json
from collections.abc import Iterator

import asyncpg
import pytest

from analytics import queries
from analytics.queries import Filters
from infra.settings import Settings
from tests.integration.analytics_lane import AS_OF, analytics_lane, synced
from tests.integration.conftest import Lane
from tests.integration.helpers import run_kim

pytestmark = pytest.mark.integration

OBJECTS = (
    "caseload_by_district",
    "caseload_by_agency",
    "caseload_by_case_manager",
    "referral_decline_reasons",
    "projection_freshness",
    "case_manager_load",
    "indicators",
)


@pytest.fixture(scope="module")
def filled(base_settings: Settings) -> Iterator[Lane]:
    # KIM_CASE_MANAGER_FIGURES on, so caseload_by_case_manager answers (off: test_case_manager_figures.py)
    yield from analytics_lane(base_settings, figures_per_case_manager=True)


async def _conn(lane: Lane) -> asyncpg.Connection:
    return await asyncpg.connect(lane.database_url)


@synced
async def test_analyst_role_reads_analytics_only(filled: Lane):
    conn = await _conn(filled)
    try:
        role = await conn.fetchrow("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'kim_analyst'")
        assert role is not None and role["rolcanlogin"] is False
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE kim_analyst")
            for view in OBJECTS:
                await conn.fetch(f"SELECT * FROM analytics.{view}")
            assert await conn.fetch("SELECT * FROM analytics.caseloads($1)", AS_OF)
            assert await conn.fetch("SELECT * FROM analytics.backlog($1)", AS_OF)
            assert await conn.fetch("SELECT * FROM analytics.referral_flow()")
            # a session may raise the threshold but never lower it below 4
            await conn.execute("SET LOCAL kim.small_cell_max = 0")
            assert await conn.fetchval("SELECT analytics.small_cell_max()") == 4
        for raw in ("caseload_cases", "referrals", "backlog_applications", "projection_checkpoints"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute("SET LOCAL ROLE kim_analyst")
                    await conn.fetch(f"SELECT * FROM {raw}")
    finally:
        await conn.close()


@synced
async def test_every_view_column_is_documented(filled: Lane):
    rows = await filled.fetch(
        "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) AS doc FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'analytics'"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 WHERE c.relkind = 'v'"
    )
    assert {r["relname"] for r in rows} == set(OBJECTS)
    assert [f"{r['relname']}.{r['attname']}" for r in rows if not r["doc"]] == []
    functions = await filled.fetch(
        "SELECT p.proname, obj_description(p.oid, 'pg_proc') AS doc FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'analytics'"
    )
    assert [r["proname"] for r in functions if not r["doc"]] == []


@synced
async def test_no_small_counts_anywhere(filled: Lane):
    conn = await _conn(filled)
    try:
        for sql in [
            f"SELECT * FROM analytics.{v}" for v in OBJECTS if v not in ("projection_freshness", "indicators")
        ] + [
            "SELECT * FROM analytics.caseloads('2025-12-31T12:00Z')",
            "SELECT * FROM analytics.caseloads('2025-12-31T12:00Z', 'agency')",
            "SELECT * FROM analytics.caseload_weekly()",
            "SELECT * FROM analytics.referral_flow()",
            "SELECT * FROM analytics.referrals_open('2025-12-31T12:00Z')",
            "SELECT * FROM analytics.backlog('2025-12-31T12:00Z')",
            "SELECT * FROM analytics.backlog_flow_weekly()",
            "SELECT * FROM analytics.backlog_age_history('2025-01-01', '2025-12-31')",
            "SELECT * FROM analytics.goal_outcomes('2025-01-01', '2025-12-31', '2025-12-31T12:00Z')",
            "SELECT * FROM analytics.goal_outcomes('2025-01-01', '2025-06-30', '2025-12-31T12:00Z', 'district')",
            "SELECT * FROM analytics.goal_abandon_reasons('2025-01-01', '2025-12-31', '2025-12-31T12:00Z')",
            "SELECT * FROM analytics.case_endings('2025-01-01', '2025-12-31', '2025-12-31T12:00Z', 'agency')",
            "SELECT * FROM analytics.first_contact('2025-04-01', '2025-09-30', '2025-12-31T12:00Z')",
            "SELECT * FROM analytics.immigration_decisions('2025-01-01', '2025-03-31', '2025-12-31T12:00Z')",
        ]:
            for row in await conn.fetch(sql):
                for key, value in dict(row).items():
                    if key.endswith("_suppressed"):
                        count = row[key.removesuffix("_suppressed")]
                        assert (count is None) == value, (sql, dict(row))
                        assert count is None or not 1 <= count <= 4, (sql, dict(row))
    finally:
        await conn.close()


@synced
async def test_longest_waiting_list_per_district(filled: Lane):
    conn = await _conn(filled)
    try:
        result = await queries.caseloads(conn, Filters(as_of=AS_OF))
    finally:
        await conn.close()
    raw = await filled.fetch(
        "SELECT district, count(*) AS n FROM caseload_cases WHERE opened_at <= $1"
        " AND (closed_at IS NULL OR closed_at > $1) AND (first_assigned_at IS NULL OR first_assigned_at > $1)"
        " GROUP BY district ORDER BY n DESC, district",
        AS_OF,
    )
    assert raw and raw[0]["n"] > 4, "the simulated year should have a real waiting list"
    top = result.rows[0]
    assert (top["group_key"], top["waiting"].value) == (raw[0]["district"], raw[0]["n"])
    assert result.rows[-1]["group_key"] == "ALL"
    assert result.rows[-1]["waiting"].value == sum(r["n"] for r in raw)


@synced
async def test_slowest_referral_acceptance_pair(filled: Lane):
    conn = await _conn(filled)
    try:
        result = await queries.referrals(conn, Filters())
    finally:
        await conn.close()
    raw = await filled.fetch(
        "SELECT from_agency, to_agency, count(accepted_at) AS n,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY kim_days(issued_at, accepted_at)) AS med"
        " FROM referrals GROUP BY 1, 2 HAVING count(accepted_at) > 4 ORDER BY med DESC"
    )
    top = result.rows[0]
    assert (top["from_agency"], top["to_agency"]) == (raw[0]["from_agency"], raw[0]["to_agency"])
    assert top["median_days_to_accept"] == round(raw[0]["med"], 1)
    for row in result.rows:
        for column in queries.REFERRAL_COUNTS:
            cell = row[column]
            assert cell.suppressed == (cell.value is None)
            assert cell.value is None or not 1 <= cell.value <= 4


@synced
async def test_25b_older_than_180_days_and_when_cleared(filled: Lane):
    conn = await _conn(filled)
    try:
        result = await queries.backlog(conn, Filters(as_of=AS_OF, procedure="AUFENTHG_25B"))
    finally:
        await conn.close()
    raw = await filled.fetch(
        "SELECT count(*) AS n FROM backlog_intervals i JOIN backlog_applications a USING (application_id)"
        " WHERE i.procedure = 'AUFENTHG_25B' AND i.valid_from <= $1 AND (i.valid_to IS NULL OR i.valid_to > $1)"
        " AND floor(kim_days(a.filed_at, $1)) > 180",
        AS_OF,
    )
    (row,) = [r for r in result.rows if r["procedure"] == "AUFENTHG_25B"]
    n = raw[0]["n"]
    cell = row["age_over_180"]
    if 1 <= n <= 4:
        assert cell.suppressed and row["over_180_cleared_by"] is None
    else:
        assert cell.value == n
        if n and row["outflow_per_week"]:
            assert row["over_180_cleared_by"] >= AS_OF.date()
    assert row["pending"].suppressed or row["pending"].value >= (0 if cell.suppressed else cell.value)


def _kim_query(lane: Lane, threshold: int, *args: str) -> list[dict]:
    done = run_kim(lane, "query", *args, "--format", "json", KIM_SMALL_CELL_MAX=str(threshold))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["rows"]


@synced
async def test_sql_and_kim_query_hide_the_same_cells(filled: Lane):
    """Cell by cell, at the default and a raised threshold: the analytics functions as an analyst reads them
    (secondary suppression included, migration 0090) and `kim query` (the API runs the same queries)."""
    at = AS_OF.isoformat()
    asks = [
        (["caseloads", "--as-of", at], "SELECT * FROM analytics.caseloads($1)", ("group_key",)),
        (["caseloads", "--by", "agency", "--as-of", at], "SELECT * FROM analytics.caseloads($1, 'agency')",
         ("group_key",)),
        (["referrals"], "SELECT * FROM analytics.referral_flow()", ("from_agency", "to_agency")),
        (["backlog", "--as-of", at], "SELECT * FROM analytics.backlog($1)", ("procedure",)),
        (["backlog", "--procedure", "§25b", "--as-of", at], "SELECT * FROM analytics.backlog($1, 8, 'AUFENTHG_25B')",
         ("procedure",)),
        (["case-manager-load"], "SELECT * FROM analytics.case_manager_load", ("agency",)),
    ]  # fmt: skip
    hidden = {}
    conn = await _conn(filled)
    try:
        for threshold in (4, 9):
            hidden[threshold] = 0
            for args, sql, keys in asks:
                async with conn.transaction(readonly=True):
                    await conn.execute("SET LOCAL ROLE kim_analyst")
                    await conn.execute("SELECT set_config('kim.small_cell_max', $1, true)", str(threshold))
                    records = await conn.fetch(sql, *([AS_OF] if "$1" in sql else []))
                from_sql = {tuple(r[k] for k in keys): dict(r) for r in records}
                from_cli = {tuple(r[k] for k in keys): r for r in _kim_query(filled, threshold, *args)}
                assert set(from_sql) == set(from_cli), args
                for key, row in from_sql.items():
                    for flag in (c for c in row if c.endswith("_suppressed") and c in from_cli[key]):
                        count = flag.removesuffix("_suppressed")
                        assert (from_cli[key][flag], from_cli[key][count]) == (row[flag], row[count]), (args, key)
                        assert row[count] is None or not 1 <= row[count] <= threshold
                        hidden[threshold] += row[flag]
    finally:
        await conn.close()
    assert 0 < hidden[4] < hidden[9]
