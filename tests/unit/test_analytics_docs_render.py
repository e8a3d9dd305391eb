"""docs/analytics.md is current; the renderers keep suppressed counts hidden in every format."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from analytics import docs
from analytics.queries import Column, Result
from analytics.render import render
from analytics.suppression import Cell


def test_docs_page_is_current():
    assert docs.main(["--check"]) == 0, "run: .venv/bin/python -m analytics.docs"


def test_every_analytics_object_is_documented():
    objects = docs.load()
    assert {"caseloads", "referral_flow", "backlog", "caseload_by_district", "projection_freshness"} <= set(objects)
    for obj in objects.values():
        assert obj.comment, obj.name
        if obj.kind == "view":
            assert obj.columns, obj.name
    text = docs.render(objects)
    assert "kim_analyst" in text and "| `age_over_180` | bigint |" in text


def _result() -> Result:
    return Result(
        "demo",
        "Demo",
        [Column("district", "text", "district"), Column("n", "count", "cases"), Column("day", "date", "day")],
        [
            {"district": "EVING", "n": Cell(None, True, True), "day": date(2025, 1, 6)},
            {"district": "MENGEDE", "n": Cell(None, True, False), "day": None},
            {"district": "ALL", "n": Cell(40, False), "day": None},
        ],
    )


def test_json_has_null_and_flag_for_every_suppressed_count():
    rows = json.loads(render(_result(), "json"))["rows"]
    assert rows[0] == {"district": "EVING", "n": None, "n_suppressed": True, "day": "2025-01-06"}
    assert rows[1]["n"] is None and rows[1]["n_suppressed"] is True
    assert rows[2]["n"] == 40 and rows[2]["n_suppressed"] is False


def test_csv_leaves_suppressed_counts_empty():
    rows = list(csv.DictReader(io.StringIO(render(_result(), "csv"))))
    assert rows[0]["n"] == "" and rows[0]["n_suppressed"] == "true"
    assert rows[2]["n"] == "40" and rows[2]["n_suppressed"] == "false"


def test_table_marks_primary_and_secondary_suppression():
    text = render(_result(), "table")
    assert "Eving" in text and "<5" in text and " x" in text and "total" in text


def test_a_table_with_totals_shows_every_hidden_count_alike():
    result = _result()
    result.protected = True
    body = render(result, "table").splitlines()
    assert "<5" not in "\n".join(body[:-1])
    assert body[3].split()[-2:] == ["x", "2025-01-06"] and body[4].split()[-2:] == ["x", "-"]
