"""A steering report as a JSON document: the cut it was computed at, its tables, and what changed since another.

Pure. The document is the report: the CSV and HTML are rendered from it (``analytics/report_render.py``), and a
later ``kim report --cut`` reads its cut back, so the same cut gives the same document (``generated_at`` aside).
A hidden count is ``null`` with ``"<column>_suppressed": true`` in every row, as in `kim query --format json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from analytics.queries import Result
from analytics.render import json_rows
from analytics.report_period import Period, ReportInputError

FORMAT = "kim-report/1"


@dataclass(frozen=True)
class Cut:
    """Where the report reads the log up to: per event topic (without the topic prefix) and partition, the end
    offset (records below it count), and the moment ``as_of`` the indicators are judged at."""

    as_of: datetime
    offsets: dict[str, dict[int, int]]

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.astimezone(UTC).isoformat(),
            "offsets": {t: {str(p): o for p, o in sorted(self.offsets[t].items())} for t in sorted(self.offsets)},
        }


def document(
    period: Period,
    cut: Cut,
    threshold: int,
    indicators: list[dict[str, Any]],
    tables: list[Result],
    rejected: int,
    generated_at: datetime,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "period": period.label,
        "from_day": period.from_day.isoformat(),
        "to_day": period.to_day.isoformat(),
        "cut": cut.to_json(),
        "small_cell_max": threshold,
        "rejected_events": rejected,
        "indicators": indicators,
        "tables": {
            t.name: {
                "title": t.title,
                "columns": [{"name": c.name, "kind": c.kind, "title": c.title} for c in t.columns],
                "rows": json_rows(t),
            }
            for t in tables
        },
        "generated_at": generated_at.astimezone(UTC).isoformat(),
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def load(path: str | Path) -> dict[str, Any]:
    """An earlier report's JSON, checked to be one (``--cut`` and ``--against`` read it)."""
    fix = "pass the kim-report-<period>.json an earlier `kim report` wrote"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(f"{path}: no such file; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as why:
        raise ReportInputError(f"{path} is not a report ({why}); {fix}") from None
    try:
        cut_of(doc)
        Period(doc["period"], _day(doc["from_day"]), _day(doc["to_day"]))
        if not all(isinstance(t["rows"], list) and isinstance(t["columns"], list) for t in doc["tables"].values()):
            raise ValueError("tables without rows")
    except (KeyError, TypeError, ValueError, AttributeError) as why:
        raise ReportInputError(f"{path} is not a kim report ({type(why).__name__}: {why}); {fix}") from None
    return doc


def cut_of(doc: dict[str, Any]) -> Cut:
    raw = doc["cut"]
    as_of = datetime.fromisoformat(raw["as_of"])
    if as_of.tzinfo is None:
        raise ValueError("cut.as_of has no time zone")
    offsets: dict[str, dict[int, int]] = {}
    for topic, parts in raw["offsets"].items():
        offsets[str(topic)] = {int(p): _offset(o) for p, o in parts.items()}
    if not offsets:
        raise ValueError("cut.offsets is empty")
    return Cut(as_of, offsets)


def period_of(doc: dict[str, Any]) -> Period:
    return Period(doc["period"], _day(doc["from_day"]), _day(doc["to_day"]))


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _offset(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"offset {value!r} is not a whole number >= 0")
    return value


# --- what changed ------------------------------------------------------------------------------------


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every cell whose value (or hidden state) differs between two reports of the same period, table by table in
    the later report's order; a row only one report has counts as changed in each of its cells."""
    found: list[dict[str, Any]] = []
    names = list(after["tables"]) + [n for n in before["tables"] if n not in after["tables"]]
    for name in names:
        old, new = _cells(before["tables"].get(name)), _cells(after["tables"].get(name))
        for key in list(new) + [k for k in old if k not in new]:
            a, b = old.get(key, (None, False)), new.get(key, (None, False))
            if a != b:
                group, column = key
                found.append(
                    {
                        "table": name,
                        "group": group,
                        "column": column,
                        "before": a[0],
                        "before_suppressed": a[1],
                        "after": b[0],
                        "after_suppressed": b[1],
                    }
                )
    return found


def _cells(table: dict[str, Any] | None) -> dict[tuple[str, str], tuple[Any, bool]]:
    if table is None:
        return {}
    columns = [c["name"] for c in table["columns"]]
    out = {}
    for row in table["rows"]:
        group = str(row[columns[0]])
        for column in columns[1:]:
            out[(group, column)] = (row.get(column), bool(row.get(f"{column}_suppressed", False)))
    return out


def change_line(change: dict[str, Any]) -> str:
    """``case_endings_by_district ALL closed: 118 → 120`` (x: hidden, -: none)."""
    before = _shown(change["before"], change["before_suppressed"])
    after = _shown(change["after"], change["after_suppressed"])
    return f"{change['table']} {change['group']} {change['column']}: {before} → {after}"


def _shown(value: Any, hidden: bool) -> str:
    if hidden:
        return "x"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 and value != 0 else f"{value:.1f}"
    return str(value)
