"""`kim report` on a lane filled with a small simulated year: a report at a cut is reproduced exactly after late
events dated inside its period were published, a report at now differs and ``--against`` names the cells the late
events changed, no hidden cell shows a number in JSON, CSV, HTML or chart data, the page draws its charts in
headless Chromium, and mistakes end in one ``error:`` line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from infra import postgres_server
from infra.processes import run_sync
from infra.settings import Settings
from schemas.topics import TOPICS
from streams.kafka.topics import provision
from tests.integration.analytics_lane import fill, simulated
from tests.integration.conftest import Lane, _delete_topics, _migrate, role_urls
from tests.integration.helpers import run_kim
from tests.integration.test_dashboard import CHROMIUM, FLAGS

pytestmark = pytest.mark.integration

PERIOD = "2025-Q4"
Q4 = (datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 12, 31, 12, tzinfo=UTC))  # well inside the quarter
AS_OF = "2026-06-30"  # in the past (today is later): the report judges Q4 2025 half a year on
LATE = 4  # closings and decisions each, held back and published after the first report's cut


def _late(events: list) -> list:
    """Events dated inside the period that nothing follows in their stream: case closings and the decisions
    that end an application, so publishing them later is what a late partner does."""
    last: dict[str, Any] = {}
    for event in events:
        payload = event.draft.payload
        for key in ("case_id", "application_id"):
            if payload.get(key):
                last[payload[key]] = event
    chosen: dict[str, list] = {"CaseClosed": [], "DecisionIssued": []}
    for event in events:
        kind, payload = event.draft.event_type, event.draft.payload
        key = payload.get("case_id") if kind == "CaseClosed" else payload.get("application_id")
        inside = Q4[0] <= event.draft.occurred_at <= Q4[1]
        if kind in chosen and inside and last.get(key) is event and len(chosen[kind]) < LATE:
            chosen[kind].append(event)
    assert all(len(found) == LATE for found in chosen.values()), {k: len(v) for k, v in chosen.items()}
    return chosen["CaseClosed"] + chosen["DecisionIssued"]


@pytest.fixture(scope="module")
def late() -> tuple[list, list]:
    events = simulated(0.05, seed=11)
    held = _late(events)
    ids = {id(e) for e in held}
    return [e for e in events if id(e) not in ids], held


@pytest.fixture(scope="module")
def lane(base_settings: Settings, late: tuple[list, list]) -> Iterator[Lane]:
    """A lane with the year published except the late events (the analytics lane, with a history of our own)."""
    tag = uuid.uuid4().hex[:10]
    name = f"kim_test_{tag}"
    url = postgres_server.create_database(base_settings, name)
    prefix = f"test-{tag}."
    from infra.platform_identity import kafka_connection

    kafka = kafka_connection(base_settings)
    run_sync(provision(kafka, prefix))
    home = Path(tempfile.mkdtemp(prefix=f"kim-lane-{tag}-"))
    lane = Lane(kafka, url, prefix, home, role_urls=role_urls(base_settings, name))
    run_sync(_migrate(url, lane.secrets))
    try:
        run_sync(fill(lane, late[0]))
        yield lane
    finally:
        run_sync(_delete_topics(kafka, [prefix + spec.name for spec in TOPICS]))
        postgres_server.drop_database(base_settings.database_url, name)
        shutil.rmtree(home, ignore_errors=True)


def report(lane: Lane, out: Path, *args: str) -> dict[str, Any]:
    result = run_kim(lane, "report", *args, "--out", str(out), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads((out / f"kim-report-{PERIOD}.json").read_text())
    doc["_stdout"] = result.stdout
    return doc


@pytest.fixture(scope="module")
def reports(lane: Lane, late: tuple[list, list]) -> dict[str, Any]:
    """The first report (at a cut), the late events published, the same cut again, and a report at now."""
    root = lane.home / "reports"
    first = report(lane, root / "first", "--period", PERIOD, "--as-of", AS_OF)
    run_sync(fill(lane, late[1]))
    again = report(lane, root / "again", "--cut", str(root / "first" / f"kim-report-{PERIOD}.json"))
    now = report(lane, root / "now", "--period", PERIOD, "--against", str(root / "first" / f"kim-report-{PERIOD}.json"))
    return {"root": root, "first": first, "again": again, "now": now}


def _without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


def _cell(doc: dict[str, Any], table: str, group: str, column: str) -> Any:
    rows = doc["tables"][table]["rows"]
    first = doc["tables"][table]["columns"][0]["name"]
    row = next(r for r in rows if r[first] == group)
    assert not row[f"{column}_suppressed"], (table, group, column)
    return row[column]


def _copies_left(lane: Lane) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(lane.database_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'report\\_%'")
        finally:
            await conn.close()

    return run_sync(count())


def test_a_report_at_a_cut_is_reproduced_after_late_events(lane: Lane, reports: dict[str, Any]) -> None:
    assert _copies_left(lane) == 0  # each run dropped its copy of the read models
    first, again, root = reports["first"], reports["again"], reports["root"]
    assert first["period"] == PERIOD and (first["from_day"], first["to_day"]) == ("2025-10-01", "2025-12-31")
    assert first["cut"]["as_of"] == "2026-06-30T21:59:59.999999+00:00"  # the end of that Dortmund day
    assert set(first["cut"]["offsets"]) == {"kim.cases", "kim.immigration"}
    assert [r["indicator"] for r in first["indicators"]][:2] == ["goals_agreed", "goal_achievement_rate"]
    assert len(first["indicators"]) == 10
    assert list(first["tables"]) == [
        "goal_outcomes_by_lebenslage",
        "goal_outcomes_by_agency",
        "goal_outcomes_by_district",
        "goal_abandon_reasons",
        "case_endings_by_district",
        "case_endings_by_agency",
        "first_contact_by_district",
        "first_contact_by_agency",
        "immigration_decisions",
    ]
    assert again["cut"] == first["cut"]
    assert _without(again, "generated_at", "_stdout") == _without(first, "generated_at", "_stdout")
    name = f"kim-report-{PERIOD}"
    assert (root / "again" / f"{name}.csv").read_bytes() == (root / "first" / f"{name}.csv").read_bytes()
    strip = re.compile(r"Generated [^.]*\.")
    pages = [strip.sub("", (root / d / f"{name}.html").read_text()) for d in ("first", "again")]
    assert pages[0] == pages[1]


def test_a_report_at_now_differs_and_against_names_what_the_late_events_changed(reports: dict[str, Any]) -> None:
    first, now = reports["first"], reports["now"]
    assert now["cut"]["offsets"] != first["cut"]["offsets"]
    closed = [_cell(d, "case_endings_by_district", "ALL", "closed") for d in (first, now)]
    decided = [_cell(d, "immigration_decisions", "ALL", "decided") for d in (first, now)]
    assert closed[1] - closed[0] == LATE and decided[1] - decided[0] == LATE
    changed = now["changed_since"]
    assert changed["cut"] == first["cut"]
    keys = {(c["table"], c["group"], c["column"]) for c in changed["cells"]}
    assert ("case_endings_by_district", "ALL", "closed") in keys
    assert ("case_endings_by_agency", "ALL", "closed") in keys
    assert ("immigration_decisions", "ALL", "decided") in keys
    assert f"case_endings_by_district ALL closed: {closed[0]} → {closed[1]}" in now["_stdout"]
    assert f"immigration_decisions ALL decided: {decided[0]} → {decided[1]}" in now["_stdout"]
    page = (reports["root"] / "now" / f"kim-report-{PERIOD}.html").read_text()
    assert "case_endings_by_district ALL closed" in page


def _hidden(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name, table in doc["tables"].items():
        first = table["columns"][0]["name"]
        for row in table["rows"]:
            for column in table["columns"][1:]:
                if row.get(f"{column['name']}_suppressed"):
                    assert row[column["name"]] is None, (name, row)
                    out.append((name, str(row[first]), column["name"]))
    return out


def test_hidden_cells_stay_hidden_in_json_csv_and_html(reports: dict[str, Any]) -> None:
    doc, folder = reports["first"], reports["root"] / "first"
    hidden = _hidden(doc)
    assert len(hidden) >= 5, "the lane should have small cells to hide"
    limit = doc["small_cell_max"]
    for table in doc["tables"].values():  # no count from 1 to small_cell_max is shown anywhere
        counts = [c["name"] for c in table["columns"] if c["kind"] == "count"]
        shown = [r[c] for r in table["rows"] for c in counts if not r[f"{c}_suppressed"]]
        assert not [v for v in shown if 1 <= v <= limit], table["title"]
    lines = list(csv.DictReader(io.StringIO((folder / f"kim-report-{PERIOD}.csv").read_text())))
    by_cell = {(r["table"], r["group"], r["column"]): r for r in lines}
    for key in hidden:
        assert by_cell[key]["value"] == "" and by_cell[key]["suppressed"] == "true", key
    shown_small = [
        r for r in lines if r["suppressed"] == "false" and r["value"] in {str(n) for n in range(1, limit + 1)}
    ]
    counts = {(t, c["name"]) for t, table in doc["tables"].items() for c in table["columns"] if c["kind"] == "count"}
    assert not [r for r in shown_small if (r["table"], r["column"]) in counts]
    page = (folder / f"kim-report-{PERIOD}.html").read_text()
    assert page.count('data-suppressed="true">x</td>') == len(hidden)


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), "/usr/bin/chromium is missing: run the suite with ./kim test (it installs chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


def test_the_page_draws_its_charts_offline_without_hidden_values(reports: dict[str, Any], browser) -> None:
    doc = reports["first"]
    path = reports["root"] / "first" / f"kim-report-{PERIOD}.html"
    page = browser.new_page(viewport={"width": 1200, "height": 1400})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.ready !== 'false'", timeout=60_000)
    assert page.evaluate("document.body.dataset.ready") == "true"
    assert not problems, problems
    assert all(url.startswith("file:") for url in requests), requests  # nothing from the network
    charts = page.evaluate("[...document.querySelectorAll('.chart')].map(d => d.id)")
    assert len(charts) == len(doc["tables"])
    for chart in charts:
        name = chart.removeprefix("chart-")
        svg = page.evaluate(f"document.querySelectorAll('#{chart} svg.main-svg').length")
        bars = page.evaluate(f"document.querySelectorAll('#{chart} g.point').length")
        assert svg > 0 and bars > 0, chart
        table = doc["tables"][name]
        rows = [r for r in table["rows"] if r[table["columns"][0]["name"]] != "ALL"]
        traces = page.evaluate(f"document.getElementById('{chart}').data.map(t => [t.y, t.hovertext])")
        counts = [c["name"] for c in table["columns"] if c["kind"] == "count"]
        for column, (ys, texts) in zip(counts, traces, strict=True):
            for row, y, text in zip(rows, ys, texts, strict=True):
                if row[f"{column}_suppressed"]:
                    assert y is None and text == "hidden", (chart, column, row)
                else:
                    assert y == row[column]
    assert page.evaluate("document.querySelectorAll('script').length") == 2  # plotly.js once, and the charts
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('section')).breakBefore") == "page"
    page.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--period", "2025-Q5"], "error: --period '2025-Q5' is not a period"),
        (["--from", "2025-06-30", "--to", "2025-01-01"], "error: --from 2025-06-30 is after --to 2025-01-01"),
        (["--period", PERIOD, "--cut", "{not_a_report}"], "error: {not_a_report} is not a kim report"),
        (["--period", PERIOD, "--cut", "{beyond}"], "error: --cut {beyond}: offset"),
        (["--period", PERIOD, "--cut", "{missing}"], "error: {missing}: no such file"),
    ],
)
def test_mistakes_get_one_error_line(lane: Lane, reports: dict[str, Any], args: list[str], expected: str) -> None:
    root = reports["root"]
    files = {"not_a_report": root / "other.json", "beyond": root / "beyond.json", "missing": root / "nothing.json"}
    files["not_a_report"].write_text(json.dumps({"query": "caseloads", "rows": []}))
    beyond = json.loads((root / "first" / f"kim-report-{PERIOD}.json").read_text())
    beyond["cut"]["offsets"]["kim.cases"]["0"] += 1_000_000
    files["beyond"].write_text(json.dumps(beyond))
    names = {k: str(v) for k, v in files.items()}
    result = run_kim(lane, "report", *[a.format(**names) for a in args], "--out", str(root / "mistakes"), timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith(expected.format(**names)), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


DOWN = "postgresql://kim:secret@127.0.0.1:9/kim"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"KIM_KAFKA_BOOTSTRAP": "127.0.0.1:9"}, "error: cannot reach Kafka at 127.0.0.1:9"),
        ({"KIM_DATABASE_URL": DOWN}, "error: cannot reach the database"),
    ],
)
def test_a_missing_service_gets_one_error_line(
    lane: Lane, reports: dict[str, Any], env: dict[str, str], expected: str
) -> None:
    if "KIM_DATABASE_URL" in env:  # every role's login points at the closed port, too
        env |= {k: DOWN for k in lane.env() if k.startswith("KIM_") and k.endswith("_DATABASE_URL")}
    result = run_kim(lane, "report", "--period", PERIOD, "--out", str(reports["root"] / "mistakes"), **env)
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "secret" not in result.stderr, result.stderr
