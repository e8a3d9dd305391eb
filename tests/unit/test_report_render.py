"""`kim report`'s pure parts: periods, the document and its cut, what changed, and that a hidden count never
becomes a number in the JSON, the CSV, the HTML tables or the charts' data and hover text."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from analytics import report_model
from analytics.queries import Result
from analytics.report_charts import figure
from analytics.report_period import Period, ReportInputError, choose, parse_period
from analytics.report_render import to_csv, to_html
from analytics.report_tables import columns_of, row_of
from streams.operations.report_cut import CutRefused, check

NAMES = ["group_key", "closed", "closed_suppressed", "successful", "successful_suppressed", "return_rate_6m"]
SECRET = 3  # what SQL would have hidden: it must not reach any output even if a record carried it


def _result(rows: list[tuple]) -> Result:
    records = [dict(zip(NAMES, r, strict=True)) for r in rows]
    return Result(
        "case_endings_by_district",
        "Case endings",
        columns_of(NAMES, "Stadtbezirk"),
        [row_of(r, NAMES) for r in records],
        protected=True,
    )


def _doc(rows: list[tuple] | None = None, offsets: dict | None = None) -> dict:
    rows = rows or [
        ("EVING", SECRET, True, SECRET, True, None),
        ("HOERDE", 12, False, 7, False, 0.25),
        ("ALL", 15, False, 10, False, 0.2),
    ]
    cut = report_model.Cut(datetime(2026, 6, 30, 12, tzinfo=UTC), offsets or {"kim.cases": {1: 7, 0: 5}})
    indicators = [
        {
            "indicator": "successful_endings",
            "title": "Successful endings",
            "definition": "d",
            "numerator": "n",
            "denominator": "—",
            "event_time": "e",
            "suppression": "s",
            "computed_by": "case_endings",
        }
    ]
    period = Period("2025-Q4", date(2025, 10, 1), date(2025, 12, 31))
    return report_model.document(period, cut, 4, indicators, [_result(rows)], 0, datetime(2026, 12, 7, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "label", "first", "last"),
    [
        ("2025-Q4", "2025-Q4", date(2025, 10, 1), date(2025, 12, 31)),
        ("2024-q1", "2024-Q1", date(2024, 1, 1), date(2024, 3, 31)),
        ("2025", "2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("2024-02", "2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ],
)
def test_periods(text: str, label: str, first: date, last: date) -> None:
    assert parse_period(text) == Period(label, first, last)


def test_two_days_and_refused_periods() -> None:
    assert choose(None, "2025-01-01", "2025-06-30") == Period(
        "2025-01-01_2025-06-30", date(2025, 1, 1), date(2025, 6, 30)
    )
    assert choose(None, None, None) is None
    for args in [
        ("2025-Q5", None, None),
        ("2025-13", None, None),
        ("Q4", None, None),
        ("2025", "2025-01-01", None),
        (None, "2025-01-01", None),
        (None, "2025-06-30", "2025-01-01"),
        (None, "yesterday", "2025-01-01"),
    ]:
        with pytest.raises(ReportInputError):
            choose(*args)


def test_the_document_records_the_cut_sorted_and_in_utc() -> None:
    doc = _doc()
    assert doc["cut"] == {"as_of": "2026-06-30T12:00:00+00:00", "offsets": {"kim.cases": {"0": 5, "1": 7}}}
    assert report_model.cut_of(json.loads(report_model.dumps(doc))) == report_model.Cut(
        datetime(2026, 6, 30, 12, tzinfo=UTC), {"kim.cases": {0: 5, 1: 7}}
    )
    assert [c["kind"] for c in doc["tables"]["case_endings_by_district"]["columns"]] == [
        "text",
        "count",
        "count",
        "number",
    ]


def test_a_hidden_count_is_null_in_json_empty_in_csv_x_in_html_and_no_bar_in_the_chart() -> None:
    doc = _doc()
    table = doc["tables"]["case_endings_by_district"]
    eving = table["rows"][0]
    assert eving["closed"] is None and eving["closed_suppressed"] is True
    assert eving["successful"] is None and eving["successful_suppressed"] is True
    lines = list(csv.DictReader(io.StringIO(to_csv(doc))))
    assert list(lines[0]) == ["table", "group", "column", "value", "suppressed"]
    hidden = [r for r in lines if r["group"] == "EVING" and r["column"] in ("closed", "successful")]
    assert [(r["value"], r["suppressed"]) for r in hidden] == [("", "true"), ("", "true")]
    assert {
        "table": "case_endings_by_district",
        "group": "HOERDE",
        "column": "closed",
        "value": "12",
        "suppressed": "false",
    } in lines
    fig = figure(table)
    assert fig is not None
    assert [list(t.y) for t in fig.data] == [[None, 12], [None, 7]]  # the total row is not drawn
    assert [list(t.hovertext) for t in fig.data] == [["hidden", "12"], ["hidden", "7"]]
    page = to_html(doc, "/* plotly.js */")
    eving_row = re.search(r"<tr><td>Eving</td>(.*?)</tr>", page)
    assert eving_row is not None
    assert eving_row[1].count('data-suppressed="true">x</td>') == 2 and str(SECRET) not in eving_row[1]
    assert page.count("/* plotly.js */") == 1 and "@media print" in page and "break-before: page" in page
    assert "<title>KIM steering report 2025-Q4 — cut 2026-06-30 14:00 CEST</title>" in page
    assert "kim.cases 0:5, 1:7" in page


def test_the_page_keeps_script_text_from_ending_its_script_tags() -> None:
    page = to_html(_doc(), 'var s = "</script>";')
    assert '"</script>"' not in page and 'var s = "<\\/script>";' in page


def test_changes_name_every_differing_cell() -> None:
    before = _doc()
    after = _doc(
        [
            ("EVING", 6, False, SECRET, True, None),  # was hidden, now shown
            ("HOERDE", 12, False, 8, False, 0.25),
            ("MENGEDE", 0, False, 0, False, None),  # a new row
            ("ALL", 18, False, 11, False, 0.2),
        ]
    )
    cells = report_model.changes(before, after)
    lines = [report_model.change_line(c) for c in cells]
    assert lines == [
        "case_endings_by_district EVING closed: x → 6",
        "case_endings_by_district HOERDE successful: 7 → 8",
        "case_endings_by_district MENGEDE closed: - → 0",
        "case_endings_by_district MENGEDE successful: - → 0",
        "case_endings_by_district ALL closed: 15 → 18",
        "case_endings_by_district ALL successful: 10 → 11",
    ]
    assert report_model.changes(before, before) == []


def test_a_file_that_is_not_a_report_is_refused(tmp_path: Path) -> None:
    cases = {
        "query.json": json.dumps({"query": "caseloads", "rows": []}),
        "broken.json": "{",
        "negative.json": json.dumps(
            {**_doc(), "cut": {"as_of": "2026-01-01T00:00:00+00:00", "offsets": {"kim.cases": {"0": -1}}}}
        ),
        "naive.json": json.dumps({**_doc(), "cut": {"as_of": "2026-01-01T00:00:00", "offsets": {"kim.cases": {}}}}),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ReportInputError, match="is not a"):
            report_model.load(tmp_path / name)
    with pytest.raises(ReportInputError, match="no such file"):
        report_model.load(tmp_path / "missing.json")
    (tmp_path / "good.json").write_text(report_model.dumps(_doc()))
    assert report_model.load(tmp_path / "good.json")["period"] == "2025-Q4"


def test_a_recorded_cut_must_lie_within_the_log() -> None:
    ends = {"kim.cases": {0: 10, 1: 20}, "kim.immigration": {0: 5}}
    assert check({"kim.cases": {0: 10, 1: 3}}, ends, "--cut f") == {
        "kim.cases": {0: 10, 1: 3},
        "kim.immigration": {0: 0},
    }
    with pytest.raises(CutRefused, match=re.escape("offset 11 of kim.cases partition 0 lies beyond the log's end")):
        check({"kim.cases": {0: 11}}, ends, "--cut f")
    with pytest.raises(CutRefused, match="partition 2"):
        check({"kim.cases": {2: 1}}, ends, "--cut f")
    with pytest.raises(CutRefused, match=re.escape("kim.other")):
        check({"kim.other": {0: 1}}, ends, "--cut f")
