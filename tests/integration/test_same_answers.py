"""The three questions of issue 7, asked through all four channels — SQL, `kim query`, the HTTP API and the
dashboard in headless Chromium — on one lane with one simulated year, at the same moment: the answers
must be the same numbers, with small-cell suppression applied in each.

The questions: which Stadtbezirk has the longest waiting list for a case manager (count and median wait);
which agency pair has the slowest referral acceptance (median days); how many §25b applications are older
than 180 days, and when will they be cleared. The dashboard answers at the end of its "to" day (UTC), so
every channel is asked at that moment and, for referrals, for the period from..to.

The SQL channel is the ``analytics`` schema as an analyst reads it (role ``kim_analyst``). It is the one
place suppression happens, primary (counts 1..4 are NULL) and secondary (migration 0090); `kim query`,
the API and the dashboard read its flags, so every channel hides exactly the same cells.

Asked twice: with the default threshold (4), and with the threshold raised to the §25b answer's own count
(``KIM_SMALL_CELL_MAX`` for `kim query` and `kim serve`, ``kim.small_cell_max`` for SQL), where every channel
must hide that count and its clearing date alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from infra.processes import run_sync
from infra.settings import Settings
from schemas.labels import STADTBEZIRK
from tests.integration.analytics_lane import Server, analytics_lane
from tests.integration.conftest import Lane
from tests.integration.helpers import run_kim
from tests.integration.https import spki_pin
from tests.integration.test_dashboard import CHROMIUM, FLAGS

pytestmark = pytest.mark.integration

FROM, TO = "2025-01-01", "2025-12-31"
AS_OF = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)  # the dashboard's moment for the "to" day
PROCEDURE = "AUFENTHG_25B"

# What an analyst types (as role kim_analyst); the ORDER BY is the question.
SQL_WAITING = (
    "SELECT group_key, waiting, waiting_suppressed, median_wait_days FROM analytics.caseloads($1)"
    " WHERE group_key <> 'ALL' ORDER BY waiting DESC NULLS LAST, open_cases DESC NULLS LAST, group_key"
)
SQL_SLOWEST = (
    "SELECT from_agency, to_agency, accepted, accepted_suppressed, median_days_to_accept"
    " FROM analytics.referral_flow($1, $2) WHERE 'ALL' NOT IN (from_agency, to_agency)"
    " ORDER BY median_days_to_accept DESC NULLS LAST, from_agency, to_agency"
)
SQL_25B = (
    "SELECT age_over_180, age_over_180_suppressed, over_180_cleared_by FROM analytics.backlog($1, 8, $2)"
    " WHERE procedure = $2"
)


@dataclass(frozen=True)
class Answers:
    district: str
    waiting: int | None
    median_wait_days: float | None
    slowest_pair: tuple[str, str]
    median_days_to_accept: float
    pairs_left_out: int  # pairs whose median is hidden because 1..4 referrals were accepted
    over_180: int | None
    over_180_suppressed: bool
    over_180_cleared_by: str | None


def _r1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def from_rows(caseloads: list[dict], referrals: list[dict], backlog: list[dict]) -> Answers:
    """The answers from rows shaped like the API's JSON, each list in its channel's own order."""
    top = next(r for r in caseloads if r["group_key"] != "ALL")
    pairs = [r for r in referrals if "ALL" not in (r["from_agency"], r["to_agency"])]
    slow = next(r for r in pairs if r["median_days_to_accept"] is not None)
    (b,) = [r for r in backlog if r["procedure"] == PROCEDURE]
    return Answers(
        top["group_key"],
        top["waiting"],
        _r1(top["median_wait_days"]),
        (slow["from_agency"], slow["to_agency"]),
        _r1(slow["median_days_to_accept"]),
        sum(1 for r in pairs if r["median_days_to_accept"] is None and r["accepted_suppressed"]),
        b["age_over_180"],
        b["age_over_180_suppressed"],
        b["over_180_cleared_by"],
    )


@pytest.fixture(scope="module")
def filled(base_settings: Settings) -> Iterator[Lane]:
    # An immigration office with half the capacity it needs, so §25b applications wait past 180 days and
    # "when will they be cleared" has an answer (with the default capacity a first year has none that old).
    yield from analytics_lane(base_settings, office_capacity_ratio=0.5)


# ---------------------------------------------------------------------------------------------------
# The four channels


async def _sql(lane: Lane, threshold: int) -> tuple[Answers, list[dict], list[dict]]:
    conn = await asyncpg.connect(lane.database_url)
    try:
        async with conn.transaction(readonly=True):
            await conn.execute("SET LOCAL ROLE kim_analyst")
            await conn.execute("SELECT set_config('kim.small_cell_max', $1, true)", str(threshold))
            waiting = [dict(r) for r in await conn.fetch(SQL_WAITING, AS_OF)]
            flow = [dict(r) for r in await conn.fetch(SQL_SLOWEST, datetime.fromisoformat(FROM).date(),
                                                      datetime.fromisoformat(TO).date())]  # fmt: skip
            (b,) = [dict(r) for r in await conn.fetch(SQL_25B, AS_OF, PROCEDURE)]
    finally:
        await conn.close()
    b["procedure"] = PROCEDURE
    b["over_180_cleared_by"] = b["over_180_cleared_by"] and b["over_180_cleared_by"].isoformat()
    return from_rows(waiting, flow, [b]), waiting, flow


def _kim(lane: Lane, threshold: int, *args: str) -> list[dict]:
    done = run_kim(lane, "query", *args, "--format", "json", KIM_SMALL_CELL_MAX=str(threshold))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["rows"]


def _cli(lane: Lane, threshold: int) -> tuple[Answers, list[dict], list[dict]]:
    waiting = _kim(lane, threshold, "caseloads", "--as-of", AS_OF.isoformat())
    flow = _kim(lane, threshold, "referrals", "--from", FROM, "--to", TO)
    backlog = _kim(lane, threshold, "backlog", "--procedure", "§25b", "--as-of", AS_OF.isoformat())
    return from_rows(waiting, flow, backlog), waiting, flow


def _api(server: Server) -> tuple[Answers, list[dict], list[dict]]:
    at = AS_OF.isoformat().replace("+", "%2B")
    rows = []
    for path in (
        f"/v1/caseloads?as_of={at}&limit=1000",
        f"/v1/referrals?from={FROM}&to={TO}&limit=1000",
        f"/v1/backlog?as_of={at}&procedure={PROCEDURE}&limit=1000",
    ):
        status, body = server.json(path)
        assert status == 200, body
        assert body["pagination"]["next"] is None
        rows.append(body["rows"])
    return from_rows(*rows), rows[0], rows[1]


def _number(text: str) -> float | None:
    return float(text) if text else None


def _dashboard(server: Server) -> tuple[Answers, dict[str, Any]]:
    assert CHROMIUM.exists(), "/usr/bin/chromium is missing: run the suite with ./kim test (it installs chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        trust = f"--ignore-certificate-errors-spki-list={spki_pin(server.home)}"  # the installation's CA only
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*FLAGS, trust])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            problems: list[str] = []
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(server.base + "/")
            page.wait_for_function("document.body.dataset.ready !== 'false'", timeout=60_000)
            page.fill("#from", FROM)
            page.fill("#to", TO)
            page.click("button[type=submit]")
            page.wait_for_function("document.body.dataset.ready !== 'false'", timeout=60_000)
            assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#status")
            shown = page.evaluate(
                "() => Object.fromEntries(['answer-waiting', 'answer-referral', 'answer-25b'].map((id) => {"
                " const e = document.getElementById(id); return [id, {text: e.textContent, ...e.dataset}]; }))"
            )
            chart = page.evaluate(
                "(() => { const d = document.getElementById('chart-districts').data[1]; return {x: d.x, y: d.y}; })()"
            )
            assert problems == []
        finally:
            browser.close()
    w, r, b = shown["answer-waiting"], shown["answer-referral"], shown["answer-25b"]
    assert w["asOf"] == b["asOf"] == "2025-12-31T23:59:59Z" and (r["from"], r["to"]) == (FROM, TO)
    answers = Answers(
        w["district"],
        int(w["waiting"]) if w["waiting"] else None,
        _number(w["medianDays"]),
        (r["fromAgency"], r["toAgency"]),
        _number(r["medianDays"]),
        int(r["hidden"]),
        int(b["over180"]) if b["over180"] else None,
        b["suppressed"] == "true",
        b["clearedBy"] or None,
    )
    return answers, {"shown": shown, "chart": chart}


# ---------------------------------------------------------------------------------------------------


def test_the_same_answers_through_sql_cli_api_and_dashboard(filled: Lane):
    answers = same_answers(filled, 4)
    assert answers.waiting is not None and answers.waiting > 4, "the simulated year should have a waiting list"
    assert answers.pairs_left_out > 0, "some agency pairs should have 1 to 4 acceptances, hidden in every channel"
    assert answers.over_180 and answers.over_180 > 4 and answers.over_180_cleared_by

    raised = same_answers(filled, answers.over_180)  # now the §25b count is a small cell everywhere
    assert raised.over_180_suppressed and raised.over_180 is None and raised.over_180_cleared_by is None
    assert raised.pairs_left_out > answers.pairs_left_out


def same_answers(lane: Lane, threshold: int) -> Answers:
    """Ask all four channels at this threshold; assert they agree and suppress alike; return the answers."""
    sql, sql_waiting, sql_flow = run_sync(_sql(lane, threshold))
    cli, cli_waiting, cli_flow = _cli(lane, threshold)
    server = Server(lane, {"KIM_SMALL_CELL_MAX": str(threshold)})
    try:
        api, api_waiting, api_flow = _api(server)
        dashboard, page = _dashboard(server)
    finally:
        server.stop()
    print(f"\nthreshold {threshold}\nSQL:       {sql}\nkim query: {cli}\nAPI:       {api}\ndashboard: {dashboard}")

    assert sql == cli == api == dashboard
    assert (sql.over_180 is None) == sql.over_180_suppressed
    if sql.over_180_suppressed:
        assert sql.over_180_cleared_by is None and "suppressed" in page["shown"]["answer-25b"]["text"]
    else:
        assert sql.over_180 > 0 and sql.over_180_cleared_by and sql.over_180_cleared_by > TO
        assert f"{sql.over_180} at" in page["shown"]["answer-25b"]["text"]
        assert f"cleared by {sql.over_180_cleared_by}" in page["shown"]["answer-25b"]["text"]

    # the page says what it shows: the district's name and the numbers
    text = page["shown"]["answer-waiting"]["text"]
    assert text.startswith(
        f"{STADTBEZIRK[sql.district]}: {sql.waiting} waiting, median wait {sql.median_wait_days:.1f} days"
    )
    assert f"median {sql.median_days_to_accept:.1f} days" in page["shown"]["answer-referral"]["text"]
    assert f"({sql.pairs_left_out} pairs with 1 to {threshold} acceptances left out)" in page["shown"][
        "answer-referral"]["text"]  # fmt: skip

    # suppression: SQL, kim query and the API hide the same cells, cell by cell
    assert cli_waiting == api_waiting and cli_flow == api_flow
    _check_suppression(sql_waiting, api_waiting, ("group_key",), ("waiting",), threshold)
    _check_suppression(sql_flow, api_flow, ("from_agency", "to_agency"), ("accepted",), threshold)
    # ... and the dashboard's waiting-list chart leaves out exactly the districts the API hides
    hidden = {STADTBEZIRK[r["group_key"]] for r in api_waiting if r["group_key"] != "ALL" and r["waiting_suppressed"]}
    chart = page["chart"]
    assert {x for x, y in zip(chart["x"], chart["y"], strict=True) if y is None} == hidden
    assert not [y for y in chart["y"] if y is not None and 1 <= y <= threshold]
    return sql


def _check_suppression(
    sql: list[dict], api: list[dict], keys: tuple[str, ...], counts: tuple[str, ...], threshold: int
) -> None:
    by_key = {tuple(r[k] for k in keys): r for r in api}
    for row in sql:
        other = by_key[tuple(row[k] for k in keys)]
        for column in counts:
            assert row[f"{column}_suppressed"] == (row[column] is None)
            assert row[column] is None or not 1 <= row[column] <= threshold
            assert (other[f"{column}_suppressed"], other[column]) == (row[f"{column}_suppressed"], row[column])
