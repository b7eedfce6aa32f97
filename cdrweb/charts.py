"""Plotly figures for the dashboard and the call detail page: one function per chart.

DataFrame in, figure out (the dashboard's as plain plotly specs, see ``_spec``); the caller renders
with :func:`to_html` (plotly.js is a static file, never a CDN). A frame may carry a ``url`` column:
each point's ``customdata`` is that URL, and ``static/js/dashboard.js`` opens it on click, so every
bar or cell drills down to the calls behind it.
Money stays Decimal up to here; plotly's JSON encoder turns it into a number for drawing only, and
the hover text shows the exact figure.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
NUMBER_TYPE_LABELS = {
    "fixed": "Fixed",
    "mobile": "Mobile",
    "toll_free": "Toll-free",
    "other": "Other",
    "unknown": "Unknown",
}
_LAYOUT = {
    "margin": {"l": 50, "r": 10, "t": 30, "b": 40},
    "height": 320,
    "hovermode": "closest",
    "legend": {"orientation": "h", "y": -0.2},
}


# One colour per carrier name on every chart (plotly would colour by trace order instead).
_PALETTE = ["#1f5fae", "#d1495b", "#2e933c", "#edae49", "#7b4b94", "#00798c", "#8d6a9f", "#c06c84"]


def carrier_color(name: str) -> str:
    """A stable colour for a carrier name (same name, same colour, on every page)."""
    return _PALETTE[sum(name.encode()) % len(_PALETTE)]


def money(value: Decimal | None, currency: str = "") -> str:
    """A money amount for display: two decimals, thousands separators, then the currency."""
    amount = Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # rating.md §5
    return f"{amount:,.2f} {currency}".strip()


FigureSpec = dict[str, Any]  # a plotly figure as plain data: {"data": [traces], "layout": {...}}


def to_html(fig: go.Figure | FigureSpec, div_id: str) -> str:
    """The figure as a ``<div>`` plus its inline script, without plotly.js itself."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )


def _urls(df: pd.DataFrame) -> list[str] | None:
    return list(df["url"]) if "url" in df.columns else None


def _trace(kind: str, df: pd.DataFrame, **props: Any) -> dict[str, Any]:
    """One trace; each point's ``customdata`` is its drill-down URL when the frame has them."""
    urls = _urls(df)
    return {"type": kind, **props, **({"customdata": urls} if urls is not None else {})}


def _spec(traces: list[dict[str, Any]], **layout: Any) -> FigureSpec:
    """The dashboard's figures are plain plotly specs: building ``go.Figure`` objects validated
    every attribute of every point and cost more than all of the dashboard's queries. The tests
    load each spec into ``go.Figure``, which checks it against plotly's schema."""
    return {"data": traces, "layout": {**_LAYOUT, **layout}}


def _axis_title(text: str) -> dict[str, Any]:
    return {"title": {"text": text}}


def cost_per_day(df: pd.DataFrame, currency: str) -> FigureSpec:
    """Stacked bars: cost per day, one trace per carrier. Columns: day, carrier, cost[, url]."""
    traces = []
    for carrier, part in df.groupby("carrier", sort=True, dropna=False):
        name = carrier if isinstance(carrier, str) and carrier else "(no carrier)"
        traces.append(
            _trace(
                "bar",
                part,
                x=[d.isoformat() for d in part["day"]],
                y=list(part["cost"]),
                name=name,
                marker={"color": carrier_color(name)},
                hovertext=[
                    f"{name} · {d.isoformat()}: {money(c, currency)}"
                    for d, c in zip(part["day"], part["cost"], strict=True)
                ],
                hoverinfo="text",
            )
        )
    return _spec(traces, barmode="stack", yaxis=_axis_title(currency), xaxis={"type": "date"})


def _cost_bar(df: pd.DataFrame, currency: str, labels: list[str], *, horizontal: bool) -> FigureSpec:
    hover = [
        f"{label}: {money(c, currency)} · {n} calls"
        for label, c, n in zip(labels, df["cost"], df["calls"], strict=True)
    ]
    costs = list(df["cost"])
    if horizontal:
        bar = _trace("bar", df, y=labels, x=costs, orientation="h", hovertext=hover, hoverinfo="text")
        return _spec(
            [bar],
            margin={**_LAYOUT["margin"], "l": 160},
            yaxis={"autorange": "reversed", "type": "category"},
            xaxis=_axis_title(currency),
        )
    bar = _trace("bar", df, x=labels, y=costs, hovertext=hover, hoverinfo="text")
    return _spec([bar], xaxis={"type": "category"}, yaxis=_axis_title(currency))


def cost_by_country(df: pd.DataFrame, currency: str) -> FigureSpec:
    """Bars: cost per destination country (ISO code). Columns: key, cost, calls[, url]."""
    return _cost_bar(df, currency, [k or "(unknown)" for k in df["key"]], horizontal=False)


def cost_by_number_type(df: pd.DataFrame, currency: str) -> FigureSpec:
    """Bars: cost per number type (fixed, mobile, toll-free...). Columns: key, cost, calls[, url]."""
    return _cost_bar(df, currency, [NUMBER_TYPE_LABELS.get(k, k or "(unknown)") for k in df["key"]], horizontal=False)


def cost_by_queue(df: pd.DataFrame, currency: str) -> FigureSpec:
    """Horizontal bars: cost per queue. Columns: key, cost, calls[, url]."""
    return _cost_bar(df, currency, [k or "(no queue)" for k in df["key"]], horizontal=True)


def cost_by_wrapup(df: pd.DataFrame, currency: str) -> FigureSpec:
    """Horizontal bars: cost per wrap-up code. Columns: key, cost, calls[, url]."""
    return _cost_bar(df, currency, [k or "(no wrap-up)" for k in df["key"]], horizontal=True)


def calls_heatmap(df: pd.DataFrame) -> FigureSpec:
    """Heatmap of calls by weekday (rows) and hour of day (columns). Columns: weekday, hour, calls[, url]."""
    z = [[0] * 24 for _ in range(7)]
    links: list[list[str | None]] = [[None] * 24 for _ in range(7)]
    urls = _urls(df)
    for i, (weekday, hour, calls) in enumerate(zip(df["weekday"], df["hour"], df["calls"], strict=True)):
        z[int(weekday) - 1][int(hour)] = int(calls)
        if urls:
            links[int(weekday) - 1][int(hour)] = urls[i]
    heatmap = {
        "type": "heatmap",
        "z": z,
        "x": [f"{h:02d}" for h in range(24)],
        "y": WEEKDAY_NAMES,
        "customdata": links,
        "colorscale": "Blues",
        "hovertemplate": "%{y} %{x}:00 · %{z} calls<extra></extra>",
    }
    return _spec([heatmap], yaxis={"autorange": "reversed"})


def overbilled_by_month(df: pd.DataFrame, currency: str) -> FigureSpec:
    """Grouped bars: overbilled amount per month, one trace per carrier. Columns: month, carrier, amount[, url]."""
    traces = []
    for carrier, part in df.groupby("carrier", sort=True, dropna=False):
        name = carrier if isinstance(carrier, str) and carrier else "(no carrier)"
        months = [m.strftime("%Y-%m") for m in part["month"]]
        traces.append(
            _trace(
                "bar",
                part,
                x=months,
                y=list(part["amount"]),
                name=name,
                marker={"color": carrier_color(name)},
                hovertext=[
                    f"{name} · {m}: {money(a, currency)} overbilled"
                    for m, a in zip(months, part["amount"], strict=True)
                ],
                hoverinfo="text",
            )
        )
    return _spec(traces, barmode="group", yaxis=_axis_title(currency), xaxis={"type": "category"})


def segment_timeline(df: pd.DataFrame) -> go.Figure:
    """Timeline of a conversation's segments. Columns: lane (who), segment_type, start, end."""
    fig = go.Figure()
    for segment_type, part in df.groupby("segment_type", sort=True, dropna=False):
        starts = pd.to_datetime(part["start"], utc=True)
        ends = pd.to_datetime(part["end"], utc=True)
        widths = [(e - s).total_seconds() * 1000 for s, e in zip(starts, ends, strict=True)]
        fig.add_bar(
            base=[s.isoformat() for s in starts],
            x=widths,
            y=list(part["lane"]),
            orientation="h",
            name=segment_type or "(none)",
            hovertext=[
                f"{segment_type}: {s:%H:%M:%S} – {e:%H:%M:%S} ({w / 1000:.0f} s)"
                for s, e, w in zip(starts, ends, widths, strict=True)
            ],
            hoverinfo="text",
        )
    fig.update_layout(
        barmode="overlay", xaxis_type="date", **{**_LAYOUT, "height": 120 + 40 * max(1, df["lane"].nunique())}
    )
    fig.update_yaxes(type="category", autorange="reversed")
    return fig
