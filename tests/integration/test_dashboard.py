"""The dashboard in headless Chromium (Debian's, driven by Python playwright): it loads without console
errors, every chart draws data from the API, the filters work, and a screenshot looks like a dashboard.
Case managers appear in bands per agency; figures per case manager only where KIM_CASE_MANAGER_FIGURES is on.

`./kim test` installs /usr/bin/chromium first when it is missing (as root); without it this test fails.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.processes import run_sync
from infra.settings import Settings
from tests.integration.analytics_lane import Server, analytics_lane, case_manager_figures
from tests.integration.conftest import Lane
from tests.integration.https import spki_pin

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = (
    "chart-backlog-age",
    "chart-flow",
    "chart-cases",
    "chart-referrals",
    "chart-districts",
    "chart-goals",
    "chart-manager-load",
)


@pytest.fixture(scope="module")
def filled(base_settings: Settings) -> Iterator[Lane]:
    yield from analytics_lane(base_settings)


@pytest.fixture(scope="module")
def server(filled: Lane) -> Iterator[Server]:
    server = Server(filled)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(server: Server):
    assert CHROMIUM.exists(), "/usr/bin/chromium is missing: run the suite with ./kim test (it installs chromium)"
    from playwright.sync_api import sync_playwright

    trust = f"--ignore-certificate-errors-spki-list={spki_pin(server.home)}"  # the installation's CA, nothing else
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*FLAGS, trust])
        yield browser
        browser.close()


class Page:
    """A page on the dashboard that records console errors, page errors and failed requests."""

    def __init__(self, browser, server: Server) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1500})
        self.problems: list[str] = []
        self.requested: list[str] = []
        self.page.on("request", lambda r: self.requested.append(r.url))
        self.page.on(
            "console", lambda m: m.type in ("error", "warning") and self.problems.append(f"{m.type}: {m.text}")
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))
        self.page.goto(server.base + "/")
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_function("document.body.dataset.ready !== 'false'", timeout=60_000)
        state = self.page.evaluate("document.body.dataset.ready")
        assert state == "true", self.page.inner_text("#status")

    def shown(self, chart: str, trace: int = 0) -> list:
        """The data points of a trace that are drawn (suppressed ones are null)."""
        return self.page.evaluate(
            "([id, i]) => { const t = document.getElementById(id).data[i];"
            " return (t.z ? t.z.flat() : t.y).filter((v) => v !== null && v !== undefined); }",
            [chart, trace],
        )


@pytest.fixture
def page(browser, server: Server) -> Iterator[Page]:
    page = Page(browser, server)
    yield page
    page.page.close()


def test_loads_without_console_errors(page: Page):
    assert page.problems == []
    assert page.page.title().startswith("KIM Dortmund")
    assert [row.split("\t")[0] for row in page.page.inner_text("#freshness tbody").splitlines()] == [
        "backlog",
        "caseload",
        "outcomes",
        "referrals",
    ]


def test_every_chart_draws_data(page: Page):
    svg = page.page.evaluate(
        "(ids) => Object.fromEntries(ids.map((id) => [id, document.querySelectorAll("
        "`#${id} .main-svg .point, #${id} .main-svg .js-line, #${id} .main-svg .hm image`).length]))",
        list(CHARTS),
    )
    assert all(n > 0 for n in svg.values()), svg
    assert len(page.shown("chart-backlog-age")) > 40  # weekly bars over a year (0-30 days bucket)
    assert len(page.shown("chart-flow")) > 40 and len(page.shown("chart-flow", 1)) > 40
    assert sum(page.shown("chart-referrals")) > 100
    districts = page.page.evaluate("document.getElementById('chart-districts').data[0].x")
    assert "Innenstadt-Nord" in districts and len(districts) == 12
    goals = page.page.evaluate("document.getElementById('chart-goals').data.map((t) => [t.name, t.x.length])")
    assert [name for name, _ in goals] == ["achieved", "abandoned", "open and overdue"] and goals[0][1] >= 5, goals
    assert sum(page.shown("chart-goals")) > 20  # goals achieved over the year, per Lebenslage
    returns = page.page.evaluate("document.getElementById('chart-returns').data.map((t) => t.name)")
    assert returns == ["successful endings, 12 months passed", "came back within 12 months"]
    for chart in (*CHARTS, "chart-returns"):  # no suppressed small count ever reaches a chart
        for trace in range(len(page.page.evaluate(f"document.getElementById('{chart}').data"))):
            assert not [v for v in page.shown(chart, trace) if 1 <= v <= 4], chart


def test_district_and_period_filters(page: Page):
    page.page.select_option("#district", "INNENSTADT_NORD")
    page.page.fill("#from", "2025-07-01")
    page.page.click("button[type=submit]")
    page.ready()
    assert page.page.evaluate("document.getElementById('chart-districts').data[0].x") == ["Innenstadt-Nord"]
    weeks = page.page.evaluate("document.getElementById('chart-flow').data[0].x")
    assert weeks and min(weeks) >= "2025-06-30"
    assert page.problems == []


def test_screenshot(page: Page, tmp_path: Path):
    shot = tmp_path / "dashboard.png"
    page.page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1400 and height > 1200
    assert len(data) > 100_000, f"{len(data)} bytes: too plain for six charts"
    print(f"screenshot: {shot}")


def test_case_managers_in_bands_only_while_the_setting_is_off(page: Page, filled: Lane):
    """Off (the default): the bands per agency, and no figure, label or request tied to a case-manager pseudonym."""
    refs = {r[0] for r in run_sync(filled.fetch("SELECT DISTINCT case_manager_ref FROM caseload_cases"))} - {None}
    assert refs and page.problems == []
    assert not [url for url in page.requested if "/v1/caseloads/case-managers" in url]
    assert page.page.evaluate("document.getElementById('section-managers').hidden") is True
    assert page.page.evaluate("document.getElementById('chart-managers').data") is None
    bands = page.page.evaluate("document.getElementById('chart-manager-load').data.map((t) => t.name)")
    assert bands == [f"{b} open cases" for b in ("1-10", "11-20", "21-30", "31-40", "more than 40")]
    assert sum(sum(page.shown("chart-manager-load", t)) for t in range(5)) > 0
    html = page.page.content()
    assert not [ref for ref in refs if ref in html]


def test_case_managers_by_pseudonym_once_the_operator_turns_it_on(browser, server: Server, filled: Lane):
    case_manager_figures(filled, True)
    try:
        page = Page(browser, server)
        try:
            assert page.problems == []
            assert page.page.evaluate("document.getElementById('section-managers').hidden") is False
            names = page.page.evaluate("document.getElementById('chart-managers').data[0].x")
            assert names and all(name.startswith("CM-") for name in names)
            assert not [v for v in page.shown("chart-managers") if 1 <= v <= 4]
        finally:
            page.page.close()
    finally:
        case_manager_figures(filled, False)
