"""The steering indicators (migration 0135) through the real broker and database equal the reference computed
from the history itself (tests/oracles/indicators.py): two simulated years with returning clients, published
by the platform's publishers (clients sealed, so returns are linked by key id only), folded by the bulk path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import asyncpg
import pytest

from infra.settings import Settings
from tests.integration.analytics_lane import analytics_lane, simulated, synced
from tests.integration.conftest import Lane
from tests.oracles import indicators
from tests.oracles.compare import differences

pytestmark = pytest.mark.integration

PERIODS = [  # (from_day, to_day, as_of): a closed half-year seen long after, and a period still running
    (date(2024, 1, 1), date(2024, 6, 30), datetime(2025, 12, 31, 12, tzinfo=UTC)),
    (date(2024, 4, 1), date(2024, 12, 31), datetime(2024, 9, 15, 12, tzinfo=UTC)),
]


SIMULATED = {"scale": 0.12, "seed": 5, "years": 2.0, "start": date(2024, 1, 1)}  # two years, all in the past


@pytest.fixture(scope="module")
def history() -> list:
    return simulated(**SIMULATED)


@pytest.fixture(scope="module")
def filled(base_settings: Settings) -> Iterator[Lane]:
    yield from analytics_lane(base_settings, **SIMULATED)


async def _answer(url: str, sql: str, *args: object) -> tuple[list[str], dict[str, dict]]:
    """The function's rows in its own order, by their key (the first column)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(sql, *args)
    finally:
        await conn.close()
    order = [r[0] for r in rows]
    assert len(set(order)) == len(order) and order[-1] == "ALL", order
    return order, {r[0]: dict(r) for r in rows}


def _check(name: str, actual: dict[str, dict], expected: dict[str, dict]) -> None:
    problems = differences(actual, expected)
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def _counts(raw: dict, hide: set, key: str, columns: dict[str, str]) -> dict:
    """Each SQL count column from its raw count, with its _suppressed flag."""
    out = {}
    for column, field in columns.items():
        out[column] = None if (key, field) in hide else raw[key][field]
        out[f"{column}_suppressed"] = (key, field) in hide
    return out


def expected_goals(raw: dict, order: list[str]) -> dict[str, dict]:
    columns = {"agreed": "agreed", "achieved": "achieved", "abandoned": "abandoned", "open_at_end": "open"}
    columns["overdue"] = "overdue"
    hide = indicators.hidden(raw, order, list(columns.values()))
    out = {}
    for k in order:
        r = raw[k]
        parts_hidden = (k, "achieved") in hide or (k, "abandoned") in hide
        out[k] = {
            "group_key": k,
            **_counts(raw, hide, k, columns),
            "achievement_rate": indicators.rate(r["achieved"], r["achieved"] + r["abandoned"], parts_hidden),
            "median_days_to_achieve": indicators.over(r["median"], r["achieved"]),
        }
    return out


def expected_endings(raw: dict, order: list[str]) -> dict[str, dict]:
    columns = {"closed": "closed", "successful": "ok", "into_regelsystem": "regel"}
    for m in (6, 12):
        columns |= {f"observable_{m}m": f"seen{m}", f"returned_{m}m": f"back{m}"}
    hide = indicators.hidden(raw, order, list(columns.values()))
    out = {}
    for k in order:
        r = raw[k]
        row = {"group_key": k, **_counts(raw, hide, k, columns)}
        for m in (6, 12):
            parts_hidden = (k, f"seen{m}") in hide or (k, f"back{m}") in hide
            row[f"return_rate_{m}m"] = indicators.rate(r[f"back{m}"], r[f"seen{m}"], parts_hidden)
        out[k] = row
    return out


def expected_contact(raw: dict, order: list[str]) -> dict[str, dict]:
    columns = {"opened": "opened", "contacted": "contacted"}
    hide = indicators.hidden(raw, order, list(columns.values()))
    return {
        k: {
            "group_key": k,
            **_counts(raw, hide, k, columns),
            "median_days_to_contact": indicators.over(raw[k]["median"], raw[k]["contacted"]),
            "p90_days_to_contact": indicators.over(raw[k]["p90"], raw[k]["contacted"]),
        }
        for k in order
    }


def expected_decisions(raw: dict, order: list[str]) -> dict[str, dict]:
    columns = {"decided": "decided", "granted": "granted", "refused": "refused"}
    hide = indicators.hidden(raw, order, list(columns.values()), row_line=["granted", "refused", "decided"])
    out = {}
    for k in order:
        parts_hidden = any((k, c) in hide for c in columns.values())
        rate = indicators.rate(raw[k]["granted"], raw[k]["decided"], parts_hidden)
        out[k] = {"procedure": k, **_counts(raw, hide, k, columns), "grant_rate": rate}
    return out


@pytest.mark.parametrize(("start", "end", "as_of"), PERIODS)
@synced
async def test_every_indicator_function_equals_the_reference(
    filled: Lane, history: list, start: date, end: date, as_of: datetime
) -> None:
    reference = indicators.read([(e.agency, e.draft) for e in history])
    url = filled.role_urls.get("analyst", filled.database_url)  # as analysts read them
    period = (start, end, as_of)
    for group_by in ("lebenslage", "agency", "district"):
        order, actual = await _answer(url, "SELECT * FROM analytics.goal_outcomes($1, $2, $3, $4)", *period, group_by)
        raw = indicators.goal_outcomes(reference, *period, group_by)
        assert set(order) == set(raw), (group_by, sorted(set(order) ^ set(raw)))
        _check(f"goal_outcomes by {group_by}", actual, expected_goals(raw, order))
    for group_by in ("district", "agency"):
        order, actual = await _answer(url, "SELECT * FROM analytics.case_endings($1, $2, $3, $4)", *period, group_by)
        raw = indicators.case_endings(reference, *period, group_by)
        assert set(order) == set(raw), (group_by, sorted(set(order) ^ set(raw)))
        _check(f"case_endings by {group_by}", actual, expected_endings(raw, order))
        order, actual = await _answer(url, "SELECT * FROM analytics.first_contact($1, $2, $3, $4)", *period, group_by)
        raw = indicators.first_contact(reference, *period, group_by)
        assert set(order) == set(raw), (group_by, sorted(set(order) ^ set(raw)))
        _check(f"first_contact by {group_by}", actual, expected_contact(raw, order))
    order, actual = await _answer(url, "SELECT * FROM analytics.immigration_decisions($1, $2, $3)", *period)
    raw = indicators.immigration_decisions(reference, *period)
    assert set(order) == set(raw), sorted(set(order) ^ set(raw))
    _check("immigration_decisions", actual, expected_decisions(raw, order))


@synced
async def test_the_history_has_returns_and_the_read_model_links_them_by_key_id_only(
    filled: Lane, history: list
) -> None:
    """Not vacuous: clients come back, and the read model finds exactly the reference's returns through the key id
    of the sealed pseudonym (no case row carries a pseudonym)."""
    start, end, as_of = date(2024, 1, 1), date(2024, 12, 31), datetime(2025, 12, 31, 12, tzinfo=UTC)
    reference = indicators.read([(e.agency, e.draft) for e in history])
    everyone = indicators.case_endings(reference, start, end, as_of, "district")["ALL"]
    assert everyone["back12"] > 0, everyone
    conn = await asyncpg.connect(filled.database_url)  # the owner: raw counts, before suppression
    try:
        raw = await conn.fetchval(
            "SELECT count(*) FROM outcomes_cases c WHERE c.closure_reason IN ('GOALS_ACHIEVED', "
            "'HANDED_OVER_TO_REGELSYSTEM') AND analytics.kim_day(c.closed_at) BETWEEN $1 AND $2 "
            "AND analytics.months_after(c.closed_at, 12) <= $3 AND EXISTS (SELECT 1 FROM outcomes_cases n "
            "WHERE n.client_key_id = c.client_key_id AND n.opened_at > c.closed_at "
            "AND n.opened_at <= analytics.months_after(c.closed_at, 12))",
            start,
            end,
            as_of,
        )
        clear = await conn.fetchval("SELECT count(*) FROM outcomes_cases WHERE client_key_id IS NULL")
        columns = {
            r[0]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name IN ('outcomes_cases', 'outcomes_goals')"
            )
        }
        defined = await conn.fetch("SELECT indicator, computed_by FROM analytics.indicators")
    finally:
        await conn.close()
    assert raw == everyone["back12"] and clear == 0
    assert not {c for c in columns if "client_ref" in c or "pseudonym" in c}, columns
    functions = {"goal_outcomes", "goal_abandon_reasons", "case_endings", "first_contact", "immigration_decisions"}
    assert {r["computed_by"] for r in defined} == functions and len(defined) == 10
