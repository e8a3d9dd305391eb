"""The steering report's CSV (long form) and self-contained HTML page, rendered from its JSON document.

Both are functions of the document alone, so every format shows the same cells. A hidden count is never a number:
the CSV leaves its value empty with ``suppressed`` true, the page shows ``x`` (every hidden cell alike: the tables
have totals, see ``analytics/render.py``) and the charts draw no bar for it. The page needs no network: plotly.js is
inlined once, and it prints to PDF one section per page.
"""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import datetime
from typing import Any

from analytics.report_charts import figure, figure_json, group_label
from analytics.report_model import change_line
from schemas.rules import LOCAL_TIME

CSV_COLUMNS = ("table", "group", "column", "value", "suppressed")


def to_csv(doc: dict[str, Any]) -> str:
    """One line per cell: table, group, column, value (empty when hidden or none), suppressed (true/false)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, table in doc["tables"].items():
        group = table["columns"][0]["name"]
        for row in table["rows"]:
            for column in table["columns"][1:]:
                hidden = bool(row.get(f"{column['name']}_suppressed", False))
                value = None if hidden else row.get(column["name"])
                writer.writerow([name, row[group], column["name"], "" if value is None else value, str(hidden).lower()])
    return out.getvalue()


def to_html(doc: dict[str, Any], plotly_js: str) -> str:
    """The page; ``plotly_js`` is plotly.js itself (``plotly.offline.get_plotlyjs()``), inlined once."""
    e = html.escape
    cut = doc["cut"]
    title = f"KIM steering report {doc['period']}"
    charts: list[tuple[str, str]] = []
    sections = [_indicators(doc["indicators"])]
    for name, table in doc["tables"].items():
        chart_id = f"chart-{name}"
        fig = figure(table)
        chart = ""
        if fig is not None:
            charts.append((chart_id, figure_json(fig)))
            chart = f'<div class="chart" id="{chart_id}" data-table="{e(name)}"></div>'
        sections.append(
            f'<section id="{e(name)}"><h2>{e(table["title"])}</h2>{chart}{_table(name, table)}'
            f'<p class="legend">{_legend(doc)}</p></section>'
        )
    if "changed_since" in doc:
        sections.append(_changed(doc["changed_since"]))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(title)} — cut {e(_moment(cut['as_of']))}</title>",
            f"<style>{STYLE}</style>",
            f"<script>{_script_safe(plotly_js)}</script>",
            "</head>",
            '<body data-ready="false">',
            "<header>",
            f"<h1>{e(title)}</h1>",
            f"<p>Period {e(doc['from_day'])} to {e(doc['to_day'])} (Dortmund days); "
            f"as of {e(_moment(cut['as_of']))}.</p>",
            f"<p>Cut: {e(_offsets(cut['offsets']))}. Re-run with <code>kim report --cut "
            f"kim-report-{e(doc['period'])}.json</code> for the same numbers.</p>",
            f"<p>{_legend(doc)} Events rejected by the read models up to the cut: {doc.get('rejected_events', 0)}. "
            f"Generated {e(_moment(doc['generated_at']))}.</p>",
            "</header>",
            *sections,
            f"<script>{_plots(charts)}</script>",
            "</body></html>",
            "",
        ]
    )


STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1100px; color: #1b1b1b; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 2px solid #1f4e79; }
header p { margin: 4px 0; font-size: 13px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #c8c8c8; padding: 3px 6px; } td.n { text-align: right; } th { background: #eef3f8; }
tr.total td { font-weight: bold; } td.hidden { color: #8a8a8a; text-align: center; }
.chart { width: 100%; height: 380px; } .legend { font-size: 11px; color: #555; }
dl dt { font-weight: bold; margin-top: 6px; } dl dd { margin-left: 16px; font-size: 12px; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { margin: 0; max-width: none; }
  section { break-before: page; page-break-before: always; }
  .chart, table { break-inside: avoid; page-break-inside: avoid; }
  .modebar-container { display: none !important; }
}
"""


def _indicators(rows: list[dict[str, Any]]) -> str:
    e = html.escape
    items = []
    for r in rows:
        items.append(
            f'<dt id="indicator-{e(r["indicator"])}">{e(r["title"])} <code>{e(r["indicator"])}</code></dt>'
            f"<dd>{e(r['definition'])}<br>Numerator: {e(r['numerator'])}; denominator: {e(r['denominator'])}.<br>"
            f"Event time: {e(r['event_time'])}.<br>Suppression: {e(r['suppression'])}.<br>"
            f"Table: {e(r['computed_by'])}</dd>"
        )
    return f'<section id="indicators"><h2>The indicators</h2><dl>{"".join(items)}</dl></section>'


def _table(name: str, table: dict[str, Any]) -> str:
    e = html.escape
    columns = table["columns"]
    group = columns[0]["name"]
    head = "".join(f"<th>{e(c['title'])}</th>" for c in columns)
    body = []
    for row in table["rows"]:
        cells = [f"<td>{e(group_label(row[group]))}</td>"]
        for c in columns[1:]:
            if row.get(f"{c['name']}_suppressed"):
                cells.append('<td class="hidden" data-suppressed="true">x</td>')
            else:
                cells.append(f'<td class="n">{e(_number(c["name"], row.get(c["name"])))}</td>')
        total = ' class="total"' if row[group] == "ALL" else ""
        body.append(f"<tr{total}>{''.join(cells)}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(columns)}">no rows</td></tr>')
    return f'<table data-table="{e(name)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _changed(changed: dict[str, Any]) -> str:
    e = html.escape
    cells = changed.get("cells", [])
    items = "".join(f"<li>{e(change_line(c))}</li>" for c in cells) or "<li>nothing changed</li>"
    since = changed.get("cut", {}).get("as_of", "")
    return (
        f'<section id="changed-since"><h2>Changed since the report at {e(_moment(since)) if since else "?"}</h2>'
        f"<p>{len(cells)} cells differ (x: hidden, -: none).</p><ul>{items}</ul></section>"
    )


def _legend(doc: dict[str, Any]) -> str:
    n = doc.get("small_cell_max", 4)
    return (
        f"x: hidden — a count from 1 to {n}, or a count hidden with it so that it cannot be worked out from a "
        "total (the charts draw no bar for it); a rate or median over so few cases is –."
    )


def _number(column: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.1f} %" if "rate" in column else f"{value:.1f}"
    return str(value)


def _offsets(offsets: dict[str, dict[str, int]]) -> str:
    return "; ".join(
        f"{topic} " + ", ".join(f"{p}:{o}" for p, o in sorted(parts.items(), key=lambda i: int(i[0])))
        for topic, parts in sorted(offsets.items())
    )


def _moment(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M %Z")
    except ValueError:
        return iso


def _script_safe(text: str) -> str:
    return text.replace("</script", "<\\/script")


def _plots(charts: list[tuple[str, str]]) -> str:
    """Draw every chart, then mark the page ready (``data-ready``: a browser test waits on it)."""
    figures = ",\n".join(f"[{json.dumps(chart_id)}, {_script_safe(fig)}]" for chart_id, fig in charts)
    return f"""
(function () {{
  var figures = [{figures}];
  var config = {{displaylogo: false, responsive: true}};
  Promise.all(figures.map(function (f) {{ return Plotly.newPlot(f[0], f[1].data, f[1].layout, config); }}))
    .then(function () {{ document.body.dataset.ready = "true"; }},
          function (why) {{ document.body.dataset.ready = "error"; console.error(why); }});
}})();
"""
