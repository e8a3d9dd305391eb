"""Secondary suppression in the ``analytics`` SQL schema (migration 0090), on a real database.

1. ``analytics.protect`` is the rule of ``analytics.suppression.protect``: both give the same hidden cells on
   hundreds of random tables (so the property tests of tests/unit/test_suppression.py hold for SQL too).
2. Crafted projection rows where exactly one cell of a line is a small count, for every view or function
   with totals (or additive rows): a second cell is hidden, no line holds exactly one hidden cell, every
   shown count is exact, counts that need no partner stay shown, and a raised threshold hides more.
3. ``analytics.backlog(…, only_procedure)``: the ALL row describes the chosen procedure only.

Read as the analyst role ``kim_analyst``, with the threshold set the way an analyst does it
(``kim.small_cell_max``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from analytics.suppression import protect
from tests.integration.analytics_lane import synced
from tests.integration.conftest import Lane

pytestmark = pytest.mark.integration

AS_OF = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
Key = tuple[str, ...]  # (row key..., column)


async def _analyst(lane: Lane, threshold: int, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(lane.database_url)
    try:
        async with conn.transaction(readonly=True):
            await conn.execute("SET LOCAL ROLE kim_analyst")
            await conn.execute("SELECT set_config('kim.small_cell_max', $1, true)", str(threshold))
            return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def _shown(rows: list[dict], keys: Sequence[str], counts: Sequence[str]) -> dict[Key, int | None]:
    """{(row keys..., column): value or None when hidden}; the flag must agree with the NULL."""
    out: dict[Key, int | None] = {}
    for row in rows:
        for column in counts:
            assert row[f"{column}_suppressed"] == (row[column] is None), row
            out[(*(str(row[k]) for k in keys), column)] = row[column]
    return out


def _check(
    shown: dict[Key, int | None], exact: dict[Key, int], lines: Iterable[Sequence[Key]], threshold: int
) -> set[Key]:
    """What every suppressed table must satisfy; returns the hidden keys."""
    assert set(shown) == set(exact)
    hidden = {k for k, v in shown.items() if v is None}
    for key, value in exact.items():
        if 1 <= value <= threshold:
            assert key in hidden, f"{key} = {value} is a small cell and must be hidden"
        if key not in hidden:
            assert shown[key] == value, key
    for line in lines:
        in_line = [k for k in line if k in hidden]
        assert len(in_line) != 1, f"{in_line[0]} = total - the shown cells of {line}"
    return hidden


def _column_lines(rows: Iterable[Key], counts: Sequence[str]) -> list[list[Key]]:
    rows = list(rows)
    return [[(*r, c) for r in rows] for c in counts]


# ---------------------------------------------------------------------------------------------------
# 1. The SQL engine is the Python rule


def _random_table(rng: random.Random) -> tuple[dict[int, int], list[list[int]], set[int]]:
    """A matrix with row, column and grand totals (as in suppress_table) plus, sometimes, extra lines."""
    rows, cols = rng.randint(1, 6), rng.randint(1, 6)
    small = rng.random() < 0.6
    matrix = [[rng.choice([0, 0, 1, 2, 3, 5, 6, 9, 12]) if small else rng.randint(0, 60) for _ in range(cols)]
              for _ in range(rows)]  # fmt: skip
    key = {(r, c): r * (cols + 1) + c for r in range(rows + 1) for c in range(cols + 1)}
    values = {key[(r, c)]: matrix[r][c] for r in range(rows) for c in range(cols)}
    for r in range(rows):
        values[key[(r, cols)]] = sum(matrix[r])
    for c in range(cols):
        values[key[(rows, c)]] = sum(matrix[r][c] for r in range(rows))
    values[key[(rows, cols)]] = sum(map(sum, matrix))
    lines = [[key[(r, c)] for c in range(cols + 1)] for r in range(rows + 1)]
    lines += [[key[(r, c)] for r in range(rows + 1)] for c in range(cols + 1)]
    rng.shuffle(lines)
    totals = {key[(r, c)] for r in range(rows + 1) for c in range(cols + 1) if r == rows or c == cols}
    return values, lines, totals


@synced
async def test_sql_protect_hides_exactly_what_the_python_rule_hides(lane: Lane):
    rng = random.Random(90)
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.execute("SET ROLE kim_analyst")  # analysts may call it for tables of their own
        for case in range(400):
            values, lines, totals = _random_table(rng)
            threshold = rng.choice([4, 4, 5, 9])
            primary, secondary = protect(values, lines, threshold, totals)
            n = len(values)
            state = await conn.fetchval(
                "SELECT analytics.protect($1, $2, $3, $4, $5)",
                [values[i] for i in range(n)],
                [i in totals for i in range(n)],
                [number for number, line in enumerate(lines) for _ in line],
                [k + 1 for line in lines for k in line],
                threshold,
            )
            got = {i for i in range(n) if state[i] == 1}, {i for i in range(n) if state[i] == 2}
            assert got == (primary, secondary), (case, values, lines, threshold)
        # the threshold never goes below 4, whatever a caller passes
        assert await conn.fetchval("SELECT analytics.protect('{3}', '{f}', '{1}', '{1}', 2)") == [1]
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# 2. Crafted projection rows

CASES = [  # district, agency, open waiting, open assigned, closed
    ("EVING", "SOZIALAMT", 3, 0, 0),
    ("BRACKEL", "JOBCENTER", 0, 20, 10),
    ("MENGEDE", "JOBCENTER", 0, 30, 25),
    ("HOERDE", "WOHNUNGSAMT", 12, 28, 6),
]


async def _fill_caseload(lane: Lane) -> None:
    n = 0
    rows = []
    for district, agency, waiting, assigned, closed in CASES:
        for kind, count in (("waiting", waiting), ("assigned", assigned), ("closed", closed)):
            for _ in range(count):
                n += 1
                rows.append((f"c{n}", agency, district, "closed" if kind == "closed" else "open",
                             datetime(2025, 1, 10, tzinfo=UTC),
                             datetime(2025, 2, 1, tzinfo=UTC) if kind == "closed" else None,
                             None if kind == "waiting" else datetime(2025, 1, 11, tzinfo=UTC)))  # fmt: skip
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.executemany(
            "INSERT INTO caseload_cases (case_id, agency, district, status, opened_at, closed_at, first_assigned_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            rows,
        )
    finally:
        await conn.close()


@synced
async def test_caseload_views_hide_a_partner_of_a_lone_small_cell(lane: Lane):
    await _fill_caseload(lane)
    counts = ("open_cases", "opened", "closed")
    exact_rows = await lane.fetch(
        "SELECT CASE WHEN grouping(district) = 1 THEN 'ALL' ELSE district END AS district,"
        " count(*) FILTER (WHERE status = 'open') AS open_cases, count(*) AS opened,"
        " count(*) FILTER (WHERE status = 'closed') AS closed FROM caseload_cases"
        " GROUP BY GROUPING SETS ((district), ())"
    )
    exact = _shown(
        [{**dict(r), **{f"{c}_suppressed": False for c in counts}} for r in exact_rows], ["district"], counts
    )
    districts = sorted({k[0] for k in exact})
    lines = _column_lines([(d,) for d in districts], counts)
    lines += [[(d, "open_cases"), (d, "closed"), (d, "opened")] for d in districts]

    hidden: dict[int, set[Key]] = {}
    for threshold in (4, 6):
        rows = await _analyst(lane, threshold, "SELECT * FROM analytics.caseload_by_district")
        hidden[threshold] = _check(_shown(rows, ["district"], counts), exact, lines, threshold)
    # EVING's 3 open (and 3 opened) alone would be ALL - the rest: the next-smallest, BRACKEL's, go with them
    assert hidden[4] == {
        ("EVING", "open_cases"), ("EVING", "opened"), ("BRACKEL", "open_cases"), ("BRACKEL", "opened")
    }  # fmt: skip
    assert hidden[4] < hidden[6] and ("HOERDE", "closed") in hidden[6]

    # caseloads(as_of): open and waiting per district; EVING's 3 waiting takes HOERDE's 12 (not a zero)
    rows = await _analyst(lane, 4, "SELECT * FROM analytics.caseloads($1)", AS_OF)
    shown = _shown(rows, ["group_key"], ("open_cases", "waiting"))
    exact = {("EVING", "open_cases"): 3, ("BRACKEL", "open_cases"): 20, ("MENGEDE", "open_cases"): 30,
             ("HOERDE", "open_cases"): 40, ("ALL", "open_cases"): 93, ("EVING", "waiting"): 3,
             ("BRACKEL", "waiting"): 0, ("MENGEDE", "waiting"): 0, ("HOERDE", "waiting"): 12,
             ("ALL", "waiting"): 15}  # fmt: skip
    keys = [(g,) for g in ("EVING", "BRACKEL", "MENGEDE", "HOERDE", "ALL")]
    hidden_now = _check(shown, exact, _column_lines(keys, ("open_cases", "waiting")), 4)
    assert hidden_now == {("EVING", "open_cases"), ("BRACKEL", "open_cases"), ("EVING", "waiting"),
                          ("HOERDE", "waiting")}  # fmt: skip
    (hoerde,) = [r for r in rows if r["group_key"] == "HOERDE"]
    assert hoerde["median_wait_days"] is not None  # a statistic over 12 cases: shown, it gives no count away

    # caseload_by_agency: columns with the total; opened = open + closed in the total row
    exact_rows = await lane.fetch("SELECT * FROM caseload_by_agency")
    exact = {}
    for r in exact_rows:
        exact.update({(r["agency"], c): r[c] for c in counts})
    for c in counts:
        exact[("ALL", c)] = sum(r[c] for r in exact_rows)
    agencies = sorted({k[0] for k in exact})
    total_row = [("ALL", "open_cases"), ("ALL", "closed"), ("ALL", "opened")]
    lines = [*_column_lines([(a,) for a in agencies], counts), total_row]
    rows = await _analyst(lane, 4, "SELECT * FROM analytics.caseload_by_agency")
    hidden_agency = _check(_shown(rows, ["agency"], counts), exact, lines, 4)
    assert ("SOZIALAMT", "open_cases") in hidden_agency and len(hidden_agency) > 2


REFERRALS = [  # from, to, status, how many, due_by
    ("JOBCENTER", "SOZIALAMT", "issued", 3, "2025-01-20"),
    ("JOBCENTER", "WOHNUNGSAMT", "accepted", 20, "2025-12-31"),
    ("SOZIALAMT", "WOHNUNGSAMT", "completed", 30, "2025-12-31"),
    ("SOZIALAMT", "JOBCENTER", "issued", 6, "2025-01-20"),
    ("SOZIALAMT", "JOBCENTER", "declined", 2, "2025-01-20"),
]


async def _fill_referrals(lane: Lane) -> None:
    rows = []
    issued = datetime(2025, 1, 10, tzinfo=UTC)
    answered = datetime(2025, 1, 15, tzinfo=UTC)
    for f, t, status, count, due in REFERRALS:
        for _ in range(count):
            rows.append((f"case{len(rows)}", "r1", f, t, "WORK", "k1", datetime.fromisoformat(due).date(), status,
                         issued, answered if status in ("accepted", "completed") else None,
                         answered if status == "declined" else None,
                         answered if status == "completed" else None))  # fmt: skip
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.executemany(
            "INSERT INTO referrals (case_id, referral_id, from_agency, to_agency, lebenslage, consent_id, due_by,"
            " status, issued_at, accepted_at, declined_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10, $11, $12)",
            rows,
        )
    finally:
        await conn.close()


REFERRAL_COUNTS = ("issued", "accepted", "declined", "completed", "open")


@synced
async def test_referral_matrix_and_open_referrals_hide_a_partner(lane: Lane):
    await _fill_referrals(lane)
    exact_rows = await lane.fetch(
        "SELECT CASE WHEN grouping(from_agency) = 1 THEN 'ALL' ELSE from_agency END AS from_agency,"
        " CASE WHEN grouping(to_agency) = 1 THEN 'ALL' ELSE to_agency END AS to_agency,"
        " count(*) AS issued, count(accepted_at) AS accepted, count(declined_at) AS declined,"
        " count(completed_at) AS completed, count(*) FILTER (WHERE status IN ('issued', 'accepted')) AS open"
        " FROM referrals GROUP BY GROUPING SETS ((from_agency, to_agency), (from_agency), (to_agency), ())"
    )
    keys = ("from_agency", "to_agency")
    flags = {f"{c}_suppressed": False for c in REFERRAL_COUNTS}
    exact = _shown([{**dict(r), **flags} for r in exact_rows], keys, REFERRAL_COUNTS)
    routes = {(k[0], k[1]) for k in exact}
    lines: list[list[Key]] = []
    for c in REFERRAL_COUNTS:
        for f in {r[0] for r in routes}:
            lines.append([(f, t, c) for (ff, t) in sorted(routes) if ff == f])
        for t in {r[1] for r in routes}:
            lines.append([(f, t, c) for (f, tt) in sorted(routes) if tt == t])
    lines += [[(*r, "open"), (*r, "declined"), (*r, "completed"), (*r, "issued")] for r in routes]

    hidden: dict[int, set[Key]] = {}
    for threshold in (4, 7):
        rows = await _analyst(lane, threshold, "SELECT * FROM analytics.referral_flow()")
        hidden[threshold] = _check(_shown(rows, keys, REFERRAL_COUNTS), exact, lines, threshold)
        for row in rows:
            if row["accepted_suppressed"] or row["declined_suppressed"]:
                assert row["acceptance_rate"] is None, row
    # JOBCENTER -> SOZIALAMT's 3 alone in its matrix row: JOBCENTER -> WOHNUNGSAMT's 20 goes with it
    assert {("JOBCENTER", "SOZIALAMT", "issued"), ("JOBCENTER", "WOHNUNGSAMT", "issued")} <= hidden[4]
    # 2 declined of SOZIALAMT -> JOBCENTER: issued = open + declined + completed needs a second hidden cell
    assert ("SOZIALAMT", "JOBCENTER", "declined") in hidden[4]
    assert ("SOZIALAMT", "WOHNUNGSAMT", "completed") not in hidden[4]  # 30, in no line that needs it
    assert hidden[4] < hidden[7] and ("SOZIALAMT", "JOBCENTER", "issued") in hidden[7]

    # open referrals at AS_OF per receiving agency: SOZIALAMT's 3 takes JOBCENTER's 6 (not WOHNUNGSAMT's 0)
    counts = ("open", "awaiting_answer", "overdue")
    rows = await _analyst(lane, 4, "SELECT * FROM analytics.referrals_open($1)", AS_OF)
    exact = {("SOZIALAMT", "open"): 3, ("WOHNUNGSAMT", "open"): 20, ("JOBCENTER", "open"): 6, ("ALL", "open"): 29}
    for c in ("awaiting_answer", "overdue"):
        exact.update({("SOZIALAMT", c): 3, ("WOHNUNGSAMT", c): 0, ("JOBCENTER", c): 6, ("ALL", c): 9})
    agencies = [("JOBCENTER",), ("SOZIALAMT",), ("WOHNUNGSAMT",), ("ALL",)]
    hidden_open = _check(_shown(rows, ["to_agency"], counts), exact, _column_lines(agencies, counts), 4)
    assert hidden_open == {(a, c) for a in ("SOZIALAMT", "JOBCENTER") for c in counts}


BACKLOG = [  # procedure, filed, how many, left (None: pending), decision
    ("AUFENTHG_25B", "2024-10-01", 3, None, None),  # > 180 days at AS_OF
    ("AUFENTHG_25B", "2025-04-01", 7, None, None),  # 31-90
    ("AUFENTHG_25B", "2025-05-15", 10, None, None),  # 0-30
    ("AUFENTHG_25B", "2025-03-01", 10, "2025-05-01", "GRANTED"),
    ("NATURALISATION", "2025-05-20", 20, None, None),
    ("NATURALISATION", "2025-01-15", 8, None, None),  # 91-180
    ("NATURALISATION", "2025-03-01", 2, "2025-04-30", "REFUSED"),
    ("EXTENSION", "2025-05-25", 12, None, None),
]
AGES = ("age_0_30", "age_31_90", "age_91_180", "age_over_180")


async def _fill_backlog(lane: Lane) -> None:
    apps, intervals = [], []
    for procedure, filed, count, left, decision in BACKLOG:
        filed_at = datetime.fromisoformat(filed).replace(tzinfo=UTC)
        left_at = left and datetime.fromisoformat(left).replace(tzinfo=UTC)
        for _ in range(count):
            app = f"a{len(apps)}"
            state = "received" if left is None else decision.lower()
            apps.append((app, "ABH_DORTMUND", procedure, "online", filed_at, state, left_at or filed_at, 1,
                         left_at, decision, left_at))  # fmt: skip
            intervals.append((app, 1, procedure, "received", filed_at, left_at))
    conn = await asyncpg.connect(lane.database_url)
    try:
        await conn.executemany(
            "INSERT INTO backlog_applications (application_id, office, procedure, channel, filed_at, state,"
            " state_since, seq, decided_at, decision, left_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            apps,
        )
        await conn.executemany(
            "INSERT INTO backlog_intervals (application_id, seq, procedure, state, valid_from, valid_to)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            intervals,
        )
    finally:
        await conn.close()


@synced
async def test_backlog_hides_a_partner_and_its_total_row_follows_the_filter(lane: Lane):
    await _fill_backlog(lane)
    counts = ("pending", *AGES)
    raw = await lane.fetch("SELECT procedure, bucket, pending FROM backlog_age_buckets($1)", AS_OF)
    bucket_of = dict(zip(("0-30", "31-90", "91-180", ">180"), AGES, strict=True))
    exact: dict[Key, int] = {}
    for p in ("AUFENTHG_25B", "NATURALISATION", "EXTENSION", "ALL"):
        for c in counts:
            exact[(p, c)] = 0
    for r in raw:
        for p in (r["procedure"], "ALL"):
            exact[(p, bucket_of[r["bucket"]])] += r["pending"]
            exact[(p, "pending")] += r["pending"]
    procedures = [(p,) for p in ("AUFENTHG_25B", "EXTENSION", "NATURALISATION", "ALL")]
    lines = _column_lines(procedures, counts) + [[(p, c) for c in (*AGES, "pending")] for (p,) in procedures]

    hidden: dict[int, set[Key]] = {}
    for threshold in (4, 9):
        rows = await _analyst(lane, threshold, "SELECT * FROM analytics.backlog($1)", AS_OF)
        hidden[threshold] = _check(_shown(rows, ["procedure"], counts), exact, lines, threshold)
        for row in rows:  # an outlook would give its hidden count back
            if row["pending_suppressed"]:
                assert row["weeks_to_clear"] is None and row["cleared_by"] is None, row
            if row["age_over_180_suppressed"]:
                assert row["over_180_cleared_by"] is None, row
    # §25b's 3 older than 180 days alone in its row would be pending - the rest: the 7 of 31-90 go with it
    assert {("AUFENTHG_25B", "age_over_180"), ("AUFENTHG_25B", "age_31_90")} <= hidden[4]
    assert ("AUFENTHG_25B", "pending") not in hidden[4] and ("AUFENTHG_25B", "age_0_30") not in hidden[4]
    assert hidden[4] < hidden[9] and ("NATURALISATION", "age_91_180") in hidden[9]

    # only_procedure: the ALL row is that procedure's, in every column (it counted every procedure's pending)
    rows = await _analyst(lane, 4, "SELECT * FROM analytics.backlog($1, 8, 'AUFENTHG_25B')", AS_OF)
    by = {r["procedure"]: r for r in rows}
    assert set(by) == {"AUFENTHG_25B", "ALL"}
    assert {k: v for k, v in by["ALL"].items() if k != "procedure"} == {
        k: v for k, v in by["AUFENTHG_25B"].items() if k != "procedure"
    }
    assert by["ALL"]["pending"] == 20 and by["ALL"]["outflow_per_week"] == 10 / 8
    assert by["ALL"]["age_0_30"] == 10 and by["ALL"]["age_over_180_suppressed"]


@synced
async def test_weekly_outflow_hides_a_partner_of_a_small_part(lane: Lane):
    await _fill_backlog(lane)
    counts = ("inflow", "outflow", "granted", "refused", "withdrawn")
    rows = await _analyst(lane, 4, "SELECT * FROM analytics.backlog_flow_weekly() WHERE week = '2025-04-28'")
    shown = _shown(rows, ["week"], counts)
    week = "2025-04-28"
    exact = {(week, "inflow"): 0, (week, "outflow"): 12, (week, "granted"): 10, (week, "refused"): 2,
             (week, "withdrawn"): 0}  # fmt: skip
    line = [(week, "granted"), (week, "refused"), (week, "withdrawn"), (week, "outflow")]
    # 2 refused alone would be 12 - 10 - 0: the granted 10 goes with it
    assert _check(shown, exact, [line], 4) == {(week, "refused"), (week, "granted")}
