"""Figures per case manager only where KIM_CASE_MANAGER_FIGURES allows them (migrations 0100 and 0101).

Open cases per case-manager pseudonym are performance data about staff, shown only with the staff council's
agreement. On a simulated year, through the real database, the API and `kim query`:

- off (the default): no view or function of the ``analytics`` schema gives an analyst (a member of
  ``kim_analyst``) a ``case_manager_ref`` — every object's columns are checked and every object is queried —
  and no answer of the schema, the API or `kim query` holds a pseudonym; the per-manager view and endpoint are
  refused naming the setting (SQLSTATE KIM01, HTTP 403);
- nothing in an analyst's own session turns it on (``SET``, ``set_config``, the settings table, a temporary
  function, another role);
- `kim up` writes the switch from the environment, audited; on, the per-manager answer is what it was;
- the aggregate ``case_manager_load`` adds up to the raw counts and hides exactly what the schema's rule
  (``analytics.suppression.protect``) hides, a lone small band with a partner, and every band of a team of
  1 to 4 case managers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from analytics.suppression import protect
from infra import bringup
from infra.audit import entries
from infra.processes import run_sync
from infra.settings import Settings, load_settings
from tests.integration.analytics_lane import AS_OF, Server, analytics_lane, case_manager_figures, synced
from tests.integration.conftest import Lane
from tests.integration.helpers import run_kim
from web.analysts.app import ENDPOINTS

pytestmark = pytest.mark.integration

REF = "case_manager_ref"
OFF = "KIM01"  # SQLSTATE of analytics.require_case_manager_figures()
BANDS = ("load_1_10", "load_11_20", "load_21_30", "load_31_40", "load_over_40")
LOAD_COUNTS = ("case_managers", *BANDS)

# One real call of every function of the analytics schema; a function added without a call here fails the test.
CALLS = {
    "small_cell_max": "SELECT analytics.small_cell_max()",
    "is_small": "SELECT analytics.is_small(3)",
    "shown": "SELECT analytics.shown(30)",
    "over": "SELECT analytics.over(1.5, 30)",
    "caseloads": "SELECT * FROM analytics.caseloads('2025-12-31T12:00Z')",
    "caseload_weekly": "SELECT * FROM analytics.caseload_weekly()",
    "referral_flow": "SELECT * FROM analytics.referral_flow()",
    "referrals_open": "SELECT * FROM analytics.referrals_open('2025-12-31T12:00Z')",
    "backlog": "SELECT * FROM analytics.backlog('2025-12-31T12:00Z')",
    "backlog_age_history": "SELECT * FROM analytics.backlog_age_history('2025-01-01', '2025-12-31')",
    "backlog_flow_weekly": "SELECT * FROM analytics.backlog_flow_weekly()",
    "protect": "SELECT analytics.protect('{3,9,12}', '{f,f,t}', '{1,1,1}', '{1,2,3}')",
    "protect_rows": "SELECT analytics.protect_rows('{3,9,12}', 1, '{f,f,t}')",
    "case_manager_figures": "SELECT analytics.case_manager_figures()",
    "require_case_manager_figures": "SELECT analytics.require_case_manager_figures()",
    "kim_day": "SELECT analytics.kim_day('2025-12-31T23:30Z')",
    "months_after": "SELECT analytics.months_after('2025-08-31T10:00Z', 6)",
    "goal_outcomes": "SELECT * FROM analytics.goal_outcomes('2025-01-01', '2025-12-31', '2025-12-31T12:00Z')",
    "goal_abandon_reasons": "SELECT * FROM analytics.goal_abandon_reasons('2025-01-01', '2025-12-31', now())",
    "case_endings": "SELECT * FROM analytics.case_endings('2025-01-01', '2025-12-31', '2025-12-31T12:00Z')",
    "first_contact": "SELECT * FROM analytics.first_contact('2025-01-01', '2025-12-31', '2025-12-31T12:00Z')",
    "immigration_decisions": "SELECT * FROM analytics.immigration_decisions('2025-01-01', '2025-12-31', now())",
}

# Every object's output columns, from the catalog: a view's columns; a function's OUT/TABLE columns, or its name.
COLUMNS = """
    SELECT c.relname AS name, 'view' AS kind, array_agg(a.attname::text ORDER BY a.attnum) AS columns
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'analytics'
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
    GROUP BY c.relname
    UNION ALL
    SELECT p.proname, 'function',
           CASE WHEN p.proargmodes IS NULL OR NOT p.proargmodes && ARRAY['o', 't']::"char"[] THEN ARRAY[p.proname::text]
                ELSE (SELECT array_agg(name ORDER BY i) FROM unnest(p.proargnames, p.proargmodes)
                      WITH ORDINALITY u(name, mode, i) WHERE mode IN ('o', 't')) END
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'analytics'
"""


@pytest.fixture(scope="module")
def filled(base_settings: Settings) -> Iterator[Lane]:
    yield from analytics_lane(base_settings)


@pytest.fixture(scope="module")
def server(filled: Lane) -> Iterator[Server]:
    server = Server(filled)
    yield server
    server.stop()


@pytest.fixture
def figures_on(filled: Lane) -> Iterator[None]:
    """The operator turned KIM_CASE_MANAGER_FIGURES on (with the staff council's agreement) — off again after."""
    case_manager_figures(filled, True)
    yield
    case_manager_figures(filled, False)


@pytest.fixture(scope="module")
def pseudonyms(filled: Lane) -> set[str]:
    """Every case-manager pseudonym the projection holds (read as the owner, from the raw table)."""
    refs = {r[0] for r in run_sync(filled.fetch("SELECT DISTINCT case_manager_ref FROM caseload_cases"))} - {None}
    assert len(refs) >= 5, "the simulated year should have case managers"
    return refs


async def _analyst(lane: Lane) -> asyncpg.Connection:
    """A member of kim_analyst: the lane's analyst login, or the owner with SET ROLE on an external server."""
    if "analyst" in lane.role_urls:
        return await asyncpg.connect(lane.role_urls["analyst"])
    conn = await asyncpg.connect(lane.database_url)
    await conn.execute("SET ROLE kim_analyst")
    return conn


def _leaks(answer: Any, refs: set[str]) -> set[str]:
    text = json.dumps(answer, default=str) if not isinstance(answer, str) else answer
    return {ref for ref in refs if ref in text}


# ---------------------------------------------------------------------------------------------------
# The analytics schema, off


@synced
async def test_off_no_analytics_object_gives_an_analyst_a_case_manager_ref(filled: Lane, pseudonyms: set[str]):
    conn = await _analyst(filled)
    try:
        assert await conn.fetchval("SELECT pg_has_role(current_user, 'kim_analyst', 'MEMBER')")
        objects = {(r["name"], r["kind"]): r["columns"] for r in await conn.fetch(COLUMNS)}
        assert {name for name, kind in objects if kind == "function"} == set(CALLS), "add a call for it to CALLS"
        with_ref = {name for (name, _), columns in objects.items() if REF in columns}
        assert with_ref == {"caseload_by_case_manager"}, "only the gated view may carry a case_manager_ref"
        assert await conn.fetchval("SELECT analytics.case_manager_figures()") is False
        refused = set()
        for name, kind in objects:
            sql = CALLS[name] if kind == "function" else f"SELECT * FROM analytics.{name}"
            try:
                rows = [dict(r) for r in await conn.fetch(sql)]
            except asyncpg.PostgresError as why:
                assert why.sqlstate == OFF and "KIM_CASE_MANAGER_FIGURES" in str(why), (sql, why)
                refused.add(name)
                continue
            assert all(REF not in row for row in rows), sql
            assert not _leaks(rows, pseudonyms), sql
        assert refused == {"caseload_by_case_manager", "require_case_manager_figures"}
        # the gate holds for any query over the view: a count, a filter, a join
        for sql in (
            "SELECT count(*) FROM analytics.caseload_by_case_manager",
            "SELECT case_manager_ref FROM analytics.caseload_by_case_manager WHERE open_cases > 0 LIMIT 1",
            "SELECT l.agency FROM analytics.case_manager_load l"
            " JOIN analytics.caseload_by_case_manager m USING (agency)",
        ):
            with pytest.raises(asyncpg.PostgresError, match="KIM_CASE_MANAGER_FIGURES") as refusal:
                await conn.fetch(sql)
            assert refusal.value.sqlstate == OFF
    finally:
        await conn.close()


@synced
async def test_off_an_analysts_own_session_cannot_turn_them_on(filled: Lane, pseudonyms: set[str]):
    conn = await _analyst(filled)
    notices: list[str] = []
    conn.add_log_listener(lambda _, message: notices.append(message.message))
    try:
        for sql in (
            "SET kim.case_manager_figures = 'on'",
            "SELECT set_config('kim.case_manager_figures', 'true', false)",
            "SELECT set_config('kim.case_manager_figures', 'on', true)",
            "SET kim.small_cell_max = 9",
            # a function of the same name earlier on the search path, and a condition that would print every row
            "CREATE FUNCTION pg_temp.case_manager_figures() RETURNS boolean LANGUAGE sql RETURN true",
            "SET search_path = pg_temp, analytics, public",
            "CREATE FUNCTION pg_temp.peek(ref text, n bigint) RETURNS boolean LANGUAGE plpgsql COST 0.0001"
            " AS $$ BEGIN RAISE NOTICE 'row % %', ref, n; RETURN true; END $$",
        ):
            await conn.execute(sql)
        for sql in (
            "SELECT * FROM analytics.caseload_by_case_manager",
            "SELECT * FROM caseload_by_case_manager",
            "SELECT * FROM analytics.caseload_by_case_manager WHERE pg_temp.peek(case_manager_ref, open_cases)",
            # an error message that would quote a pseudonym
            "SELECT * FROM analytics.caseload_by_case_manager WHERE case_manager_ref::integer > 0",
        ):
            with pytest.raises(asyncpg.PostgresError, match="KIM_CASE_MANAGER_FIGURES") as refusal:
                await conn.fetch(sql)
            assert refusal.value.sqlstate == OFF
        assert notices == [], "the view gave rows to the analyst's own condition"
        assert await conn.fetchval("SELECT analytics.case_manager_figures()") is False
        denied = "permission denied for table platform_settings"
        for sql, refusal in (
            ("UPDATE platform_settings SET case_manager_figures = true", denied),
            ("INSERT INTO platform_settings VALUES (true, true, now())", denied),
            ("SELECT * FROM platform_settings", denied),
            ("SELECT * FROM caseload_open_by_manager", "permission denied for view caseload_open_by_manager"),
            ("CREATE OR REPLACE FUNCTION analytics.case_manager_figures() RETURNS boolean LANGUAGE sql RETURN true",
             "permission denied for schema analytics"),
            ("ALTER FUNCTION analytics.case_manager_figures() RENAME TO off", "must be owner of function"),
            ("ALTER VIEW analytics.caseload_by_case_manager RESET (security_barrier)", "must be owner of view"),
            *([("SET ROLE kim", 'permission denied to set role "kim"'),
               ("SET SESSION AUTHORIZATION kim", "permission denied to set session authorization")]
              if "analyst" in filled.role_urls else []),  # its own login (not the owner's with SET ROLE)
        ):  # fmt: skip
            with pytest.raises(asyncpg.PostgresError) as refused:
                await conn.execute(sql)
            assert refusal in str(refused.value), (sql, str(refused.value))
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# `kim up` writes the switch; on, the per-manager answer is what it was


@synced
async def test_kim_up_writes_the_switch_from_the_environment_and_audits_each_change(filled: Lane):
    said: list[str] = []
    try:
        bringup.prepare(load_settings({**filled.env(), "KIM_CASE_MANAGER_FIGURES": "on"}), log=said.append)
        conn = await _analyst(filled)
        try:
            assert await conn.fetchval("SELECT analytics.case_manager_figures()") is True
            assert await conn.fetch("SELECT * FROM analytics.caseload_by_case_manager")
        finally:
            await conn.close()
        assert any("KIM_CASE_MANAGER_FIGURES=on" in line for line in said), said
    finally:
        bringup.prepare(load_settings({**filled.env(), "KIM_CASE_MANAGER_FIGURES": ""}), log=said.append)
    conn = await _analyst(filled)
    try:
        assert await conn.fetchval("SELECT analytics.case_manager_figures()") is False
    finally:
        await conn.close()
    owner = await asyncpg.connect(filled.database_url)
    try:
        changes = [(e.details["from"], e.details["to"]) for e in await entries(owner, action="settings")]
    finally:
        await owner.close()
    assert changes[-2:] == [("off", "on"), ("on", "off")]


@synced
async def test_on_the_per_manager_answer_is_as_before(filled: Lane, server: Server, figures_on: None):
    raw = await filled.fetch("SELECT agency, case_manager_ref, open_cases, paused FROM caseload_open_by_manager")

    def primary(n: int) -> tuple[int | None, bool]:  # the view's suppression since 0060: small cells only
        return (None, True) if 1 <= n <= 4 else (n, False)

    expected = {
        (r["agency"], r[REF]): (*primary(r["open_cases"]), *primary(r["paused"])) for r in raw
    }  # fmt: skip
    conn = await _analyst(filled)
    try:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM analytics.caseload_by_case_manager")]
    finally:
        await conn.close()
    got = {
        (r["agency"], r[REF]): (r["open_cases"], r["open_cases_suppressed"], r["paused"], r["paused_suppressed"])
        for r in rows
    }
    assert got == expected and len(got) >= 5

    status, body = server.json("/v1/caseloads/case-managers?limit=1000")
    assert status == 200, body
    assert [c["name"] for c in body["columns"]] == ["agency", REF, "open_cases"]
    assert {(r["agency"], r[REF]): (r["open_cases"], r["open_cases_suppressed"]) for r in body["rows"]} == {
        k: v[:2] for k, v in expected.items()
    }
    opened = [r["open_cases"] for r in body["rows"] if r["open_cases"] is not None]
    assert opened == sorted(opened, reverse=True)  # most open cases first, as before
    status, load = server.json("/v1/caseloads/case-manager-load")
    assert status == 200 and load["case_manager_figures"] is True


# ---------------------------------------------------------------------------------------------------
# The aggregate


async def _exact_load(lane: Lane) -> tuple[list[str], dict[tuple[str, str], int]]:
    """Rows in the view's order (agencies as the database sorts them, ALL last) and exact counts, from raw rows."""
    raw = await lane.fetch("SELECT agency, open_cases FROM caseload_open_by_manager")
    (sorted_by_db,) = await lane.fetch(
        "SELECT array_agg(a ORDER BY a) FROM unnest($1::text[]) a", list({r[0] for r in raw})
    )
    order = [*(sorted_by_db[0] or []), "ALL"]
    exact = {(a, c): 0 for a in order for c in LOAD_COUNTS}
    for r in raw:
        n = r["open_cases"]
        band = BANDS[0 if n <= 10 else 1 if n <= 20 else 2 if n <= 30 else 3 if n <= 40 else 4]
        for a in (r["agency"], "ALL"):
            exact[(a, "case_managers")] += 1
            exact[(a, band)] += 1
    return order, exact


def _reference(order: list[str], exact: dict[tuple[str, str], int], threshold: int) -> set[tuple[str, str]]:
    """What the schema's rule hides: each column with its total, then in each row the bands with case_managers;
    the bands of an agency with 1 to threshold case managers go in as hidden already."""
    lines = [[(a, c) for a in order] for c in LOAD_COUNTS]
    lines += [[(a, c) for c in (*BANDS, "case_managers")] for a in order]
    few = {a for a in order if 1 <= exact[(a, "case_managers")] <= threshold}
    values = {(a, c): None if a in few and c in BANDS else v for (a, c), v in exact.items()}
    primary, secondary = protect(values, lines, threshold, {("ALL", c) for c in LOAD_COUNTS})
    return primary | secondary


async def _load_as_analyst(lane: Lane, threshold: int) -> dict[tuple[str, str], int | None]:
    conn = await _analyst(lane)
    try:
        async with conn.transaction(readonly=True):
            await conn.execute("SELECT set_config('kim.small_cell_max', $1, true)", str(threshold))
            rows = [dict(r) for r in await conn.fetch("SELECT * FROM analytics.case_manager_load")]
    finally:
        await conn.close()
    shown = {}
    for row in rows:
        assert REF not in row
        for c in LOAD_COUNTS:
            assert row[f"{c}_suppressed"] == (row[c] is None), row
            shown[(row["agency"], c)] = row[c]
    return shown


@synced
async def test_the_aggregate_adds_up_and_hides_what_the_rule_hides(filled: Lane):
    order, exact = await _exact_load(filled)
    assert exact[("ALL", "case_managers")] == len(await filled.fetch("SELECT 1 FROM caseload_open_by_manager")) >= 5
    for a in order:  # the bands add up to the case managers, the agencies to ALL
        assert sum(exact[(a, b)] for b in BANDS) == exact[(a, "case_managers")]
    for c in LOAD_COUNTS:
        assert sum(exact[(a, c)] for a in order[:-1]) == exact[("ALL", c)]
    hidden = {}
    for threshold in (4, 9):
        shown = await _load_as_analyst(filled, threshold)
        assert set(shown) == set(exact)
        hidden[threshold] = {k for k, v in shown.items() if v is None}
        assert hidden[threshold] == _reference(order, exact, threshold)
        assert all(shown[k] == v for k, v in exact.items() if k not in hidden[threshold])  # shown = exact
        assert not [k for k, v in exact.items() if 1 <= v <= threshold and k not in hidden[threshold]]
    assert hidden[4] <= hidden[9]


LOADS = [  # agency, case managers, open cases each
    ("JOBCENTER", 6, 15),
    ("JOBCENTER", 1, 45),  # alone in its band: a small cell, and its row and column would give it back
    ("SOZIALAMT", 8, 5),
    ("SOZIALAMT", 5, 25),
    ("WOHNUNGSAMT", 12, 35),
    ("JUGENDAMT", 2, 8),  # a team of two: none of its bands is shown, not even the zeros
]


@synced
async def test_a_lone_small_band_is_hidden_with_a_partner(lane: Lane):
    rows, n = [], 0
    for agency, managers, cases in LOADS:
        for m in range(managers):
            for _ in range(cases):
                n += 1
                rows.append(
                    (f"c{n}", agency, "EVING", "open", datetime(2025, 1, 10, tzinfo=UTC), f"CM-{agency}-{cases}-{m}")
                )
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.executemany(
            "INSERT INTO caseload_cases"
            " (case_id, agency, district, status, opened_at, case_manager_ref, manager_agency)"
            " VALUES ($1, $2, $3, $4, $5, $6, $2)",
            rows,
        )
    finally:
        await conn.close()
    order, exact = await _exact_load(lane)
    assert order == ["JOBCENTER", "JUGENDAMT", "SOZIALAMT", "WOHNUNGSAMT", "ALL"]
    assert exact[("JOBCENTER", "load_over_40")] == 1 and exact[("ALL", "case_managers")] == 34
    shown = await _load_as_analyst(lane, 4)
    hidden = {k for k, v in shown.items() if v is None}
    assert hidden == _reference(order, exact, 4)
    assert {("JOBCENTER", "load_over_40"), ("ALL", "load_over_40"), ("JOBCENTER", "load_11_20")} <= hidden
    assert {("JUGENDAMT", c) for c in LOAD_COUNTS} <= hidden
    lines = [[(a, c) for a in order] for c in LOAD_COUNTS] + [[(a, c) for c in LOAD_COUNTS] for a in order]
    assert [line for line in lines if len(set(line) & hidden) == 1] == []  # no hidden cell stands alone
    assert shown[("ALL", "case_managers")] == 34  # what needs no hiding is shown


# ---------------------------------------------------------------------------------------------------
# The API and `kim query`, off


def test_off_the_api_serves_the_aggregate_and_refuses_per_manager_figures(server: Server, pseudonyms: set[str]):
    for path in ("/v1/caseloads/case-managers", "/v1/caseloads/case-managers?format=csv&agency=JOBCENTER"):
        status, body = server.json(path)
        assert status == 403, (path, body)
        assert body["setting"] == "KIM_CASE_MANAGER_FIGURES" and "KIM_CASE_MANAGER_FIGURES" in body["error"]
        assert body["see"] == "/v1/caseloads/case-manager-load"
    status, body = server.json("/v1/caseloads/case-manager-load")
    assert status == 200 and body["case_manager_figures"] is False
    assert [c["name"] for c in body["columns"]] == ["agency", *LOAD_COUNTS]
    assert body["rows"][-1]["agency"] == "ALL" and body["rows"][-1]["case_managers"] >= 5
    for row in body["rows"]:
        for c in LOAD_COUNTS:
            assert row[f"{c}_suppressed"] == (row[c] is None) and (row[c] is None or not 1 <= row[c] <= 4)
    status, _, text = server.get("/v1/caseloads/case-manager-load?format=csv")
    assert status == 200 and next(csv.reader(io.StringIO(text.decode())))[:3] == [
        "agency",
        "case_managers",
        "case_managers_suppressed",
    ]
    _, doc = server.json("/openapi.json")
    assert "403" in doc["paths"]["/v1/caseloads/case-managers"]["get"]["responses"]
    assert "/v1/caseloads/case-manager-load" in doc["paths"]
    at = AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
    for endpoint in ENDPOINTS:  # no answer of the API holds a pseudonym
        status, _, answer = server.get(
            f"{endpoint.path}?limit=1000" + (f"&as_of={at}" if "as_of" in endpoint.params else "")
        )
        assert status in (200, 403), endpoint.path
        assert not _leaks(answer.decode(), pseudonyms), endpoint.path


def test_off_kim_query_answers_in_bands_only(filled: Lane, pseudonyms: set[str]):
    done = run_kim(filled, "query", "case-manager-load", "--format", "json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["case_manager_figures"] is False and [c["name"] for c in answer["columns"]] == [
        "agency",
        *LOAD_COUNTS,
    ]
    shown = run_sync(_load_as_analyst(filled, 4))
    assert {(r["agency"], c): r[c] for r in answer["rows"] for c in LOAD_COUNTS} == shown  # the schema's cells
    table = run_kim(filled, "query", "case-manager-load", "--agency", "JOBCENTER")
    assert table.returncode == 0, table.stderr
    assert "figures per case manager: off (KIM_CASE_MANAGER_FIGURES)" in table.stdout and "Jobcenter" in table.stdout
    for what in ("caseloads", "referrals", "backlog", "case-manager-load"):
        done = run_kim(filled, "query", what, "--format", "csv")
        assert done.returncode == 0 and not _leaks(done.stdout, pseudonyms), what
