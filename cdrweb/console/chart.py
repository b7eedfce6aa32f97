"""A quick plotly chart of a console result: x, y and an optional series column."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

MAX_SERIES = 20
KINDS = ("bar", "line")


def _number(value: Any) -> float | None:
    # Plotting only: the chart needs floats; the table and CSV keep the exact Decimals.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def numeric_columns(columns: list[str], rows: list[tuple[Any, ...]]) -> list[str]:
    """Columns whose non-empty values are all numbers (candidates for y)."""
    out = []
    for i, name in enumerate(columns):
        values = [row[i] for row in rows if row[i] is not None]
        if values and all(_number(v) is not None and not isinstance(v, str) for v in values):
            out.append(name)
    return out


def result_figure(
    columns: list[str], rows: list[tuple[Any, ...]], *, x: str, y: str, series: str = "", kind: str = "bar"
) -> dict[str, Any]:
    """A plotly figure (as a JSON-ready dict) of ``y`` by ``x``, one trace per ``series`` value."""
    xi, yi = columns.index(x), columns.index(y)
    si = columns.index(series) if series else None
    groups: dict[str, tuple[list[Any], list[float | None]]] = {}
    for row in rows:
        key = "" if si is None else str(row[si])
        if key not in groups and len(groups) >= MAX_SERIES:
            continue  # the first MAX_SERIES series only; a chart of more is unreadable
        xs, ys = groups.setdefault(key, ([], []))
        xs.append(row[xi] if not isinstance(row[xi], Decimal) else float(row[xi]))
        ys.append(_number(row[yi]))
    trace = go.Bar if kind == "bar" else go.Scatter
    fig = go.Figure([trace(x=xs, y=ys, name=key or y) for key, (xs, ys) in groups.items()])
    fig.update_layout(
        xaxis_title=x, yaxis_title=y, barmode="group", margin={"l": 50, "r": 20, "t": 30, "b": 50},
        showlegend=si is not None,
    )
    return json.loads(fig.to_json())
