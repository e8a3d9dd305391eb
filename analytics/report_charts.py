"""The report's charts: one plotly bar chart per table, its count columns per group (the total row left out).

A hidden count is no bar: its y is null and its hover text says "hidden", so no hidden value reaches the chart's
data or hover text (the figure's JSON is what the page holds). Pure; the HTML page inlines plotly.js once.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import plotly.io

from analytics.suppression import TOTAL
from schemas.labels import label

COLORS = ("#1f4e79", "#2e8b57", "#c0504d", "#8064a2", "#f79646", "#4bacc6", "#7f7f7f")


def group_label(value: Any) -> str:
    """A group key as the report shows it: ``total`` for ALL, a symbol by its catalog label (short form)."""
    if value is None:
        return "-"
    if value == TOTAL:
        return "total"
    return label(str(value)).split(" (")[0] if isinstance(value, str) else str(value)


def figure(table: dict[str, Any]) -> go.Figure | None:
    """The table's count columns as grouped bars per group; None for a table without groups."""
    columns = table["columns"]
    group = columns[0]["name"]
    rows = [r for r in table["rows"] if r[group] != TOTAL]
    counts = [c for c in columns if c["kind"] == "count"]
    if not rows or not counts:
        return None
    x = [group_label(r[group]) for r in rows]
    fig = go.Figure()
    for i, column in enumerate(counts):
        name = column["name"]
        hidden = [bool(r.get(f"{name}_suppressed")) for r in rows]
        y = [None if h else r.get(name) for r, h in zip(rows, hidden, strict=True)]
        text = ["hidden" if h else str(v) for v, h in zip(y, hidden, strict=True)]
        fig.add_trace(
            go.Bar(
                name=column["title"],
                x=x,
                y=y,
                hovertext=text,
                hovertemplate="%{x}: %{hovertext}<extra>" + column["title"] + "</extra>",
                marker_color=COLORS[i % len(COLORS)],
            )
        )
    fig.update_layout(
        template="plotly_white",
        barmode="group",
        height=380,
        margin={"l": 50, "r": 20, "t": 30, "b": 110},
        legend={"orientation": "h", "y": 1.12},
        xaxis={"tickangle": -30, "automargin": True},
        yaxis={"title": {"text": "count"}, "rangemode": "tozero"},
    )
    return fig


def figure_json(fig: go.Figure) -> str:
    """The figure as JSON for ``Plotly.newPlot`` (validated by plotly; keys in a fixed order)."""
    return plotly.io.to_json(fig, validate=True, pretty=False)
