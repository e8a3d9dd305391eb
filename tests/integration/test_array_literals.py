"""Array columns travel as literals in the sinks' COPY (projections/rows.py): PostgreSQL reads back the very list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.settings import Settings
from projections import rows
from projections.caseload.fold import COLUMNS, CaseRow
from tests.integration.conftest import Lane

pytestmark = pytest.mark.integration

# PostgreSQL text holds any character but NUL; lone surrogates cannot be sent as UTF-8.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
TRICKY = st.sampled_from(['"', "\\", "{", "}", ",", " ", "NULL", "null", "", "a b", '\\"', "ä€😀"])
TEXTS = st.lists(st.one_of(TEXT, TRICKY, st.none()), max_size=8)
INT64 = st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=8)


async def _read_back(url: str, literal: str, sql_type: str) -> list[object]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(f"SELECT $1::text::{sql_type}", literal)
    finally:
        await conn.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXTS)
def test_a_text_array_literal_reads_back_as_the_list(base_settings: Settings, values: list[str | None]) -> None:
    assert asyncio.run(_read_back(base_settings.database_url, rows.text_array(values), "text[]")) == values


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(INT64)
def test_an_integer_array_literal_reads_back_as_the_list(base_settings: Settings, values: list[int]) -> None:
    assert asyncio.run(_read_back(base_settings.database_url, rows.integer_array(values), "bigint[]")) == values


def test_merge_writes_and_replaces_rows_with_their_arrays_unchanged(lane: Lane) -> None:
    at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    first = CaseRow("DO-1", "JOBCENTER", "Innenstadt-West", "open", at, lebenslagen=['a "quoted" one', "back\\slash"])
    other = CaseRow("DO-2", "JOBCENTER", "Hombruch", "open", at, priorities=["{", "}", ",", ""], seen=[-(2**63), 7])
    again = first._replace(lebenslagen=[], seen=[2**63 - 1])

    async def scenario() -> dict[str, CaseRow]:
        conn = await asyncpg.connect(lane.database_url)
        try:
            for batch in ([first, other], [again]):
                async with conn.transaction():
                    await rows.merge(conn, "caseload_cases", COLUMNS, ("case_id",), batch)
            loaded = await rows.load(conn, "caseload_cases", COLUMNS, "case_id", ["DO-1", "DO-2"])
            return {r["case_id"]: CaseRow._make(r) for r in loaded}
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == {"DO-1": again, "DO-2": other}
