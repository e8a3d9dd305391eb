"""A suppressed ``Result`` as a terminal table, CSV or JSON.

JSON: one object per row; a count is a number, or ``null`` with ``"<column>_suppressed": true`` (every
count has that flag). CSV: the same columns, a suppressed count left empty. Table: in a table with
totals every hidden count is ``x`` (a small count and its partner look alike); in one without, a small
count is ``<5`` (with the threshold 4).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

from analytics.queries import Result
from analytics.suppression import Cell
from analytics.table import table
from schemas.labels import label


def json_rows(result: Result) -> list[dict[str, Any]]:
    out = []
    for row in result.rows:
        item: dict[str, Any] = {}
        for column in result.columns:
            value = row.get(column.name)
            if isinstance(value, Cell):
                item[column.name] = value.value
                item[f"{column.name}_suppressed"] = value.suppressed
            else:
                item[column.name] = _plain(value)
        out.append(item)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_json(result: Result, **extra: Any) -> dict[str, Any]:
    return {
        "query": result.name,
        "title": result.title,
        "small_cell_max": result.threshold,
        "columns": [{"name": c.name, "kind": c.kind, "title": c.title} for c in result.columns],
        **result.meta,
        **extra,
        "rows": json_rows(result),
    }


def to_csv(result: Result) -> str:
    out = io.StringIO()
    names = []
    for column in result.columns:
        names.append(column.name)
        if column.kind == "count":
            names.append(f"{column.name}_suppressed")
    writer = csv.DictWriter(out, names, lineterminator="\n")
    writer.writeheader()
    for row in json_rows(result):
        writer.writerow({k: "" if v is None else str(v).lower() if isinstance(v, bool) else v for k, v in row.items()})
    return out.getvalue()


def _text(value: Any, threshold: int, uniform: bool = False) -> str:
    if isinstance(value, Cell):
        return value.text(threshold, uniform)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 1 and value != 0 else f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str):
        return "total" if value == "ALL" else label(value).split(" (")[0]
    return str(value)


def to_table(result: Result) -> str:
    rows = [[_text(row.get(c.name), result.threshold, result.protected) for c in result.columns] for row in result.rows]
    if result.protected:
        legend = (
            f"x: hidden — a count from 1 to {result.threshold}, or a count hidden with it so that it cannot be "
            "worked out from a total"
        )
    else:
        legend = f"counts from 1 to {result.threshold} are shown as <{result.threshold + 1}"
    body = table([c.title for c in result.columns], rows) if rows else "(no rows)"
    return "\n".join([result.title, body, legend, *result.notes])


def render(result: Result, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(to_json(result), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(result).rstrip("\n")
    return to_table(result)
