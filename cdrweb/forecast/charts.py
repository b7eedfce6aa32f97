"""The forecast chart: history, removed outliers, backtest, forecast and its band (DataFrame in, HTML out)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from django.utils.html import escape


def forecast_chart(points: pd.DataFrame, *, title: str, confidence_pct: int) -> str:
    """One code's points (columns day, kind, volume, lower, upper, is_outlier) as a plotly div."""
    history = points[points["kind"] == "history"]
    outliers = history[history["is_outlier"].astype(bool)]
    backtest = points[points["kind"] == "backtest"]
    forecast = points[points["kind"] == "forecast"]
    fig = go.Figure()
    fig.add_scatter(x=history["day"], y=history["volume"], mode="lines", name="calls (history)",
                    line={"color": "#1f77b4"})
    # Removed days stay visible: they are what the model was not fitted on.
    fig.add_scatter(x=outliers["day"], y=outliers["volume"], mode="markers", name="outliers (removed)",
                    marker={"color": "#d62728", "symbol": "x", "size": 10})
    if not backtest.empty:
        fig.add_scatter(x=backtest["day"], y=backtest["volume"], mode="lines", name="backtest",
                        line={"color": "#7f7f7f", "dash": "dot"})
    if not forecast.empty:
        fig.add_scatter(x=forecast["day"], y=forecast["upper"], mode="lines", line={"width": 0},
                        showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=forecast["day"], y=forecast["lower"], mode="lines", line={"width": 0},
                        fill="tonexty", fillcolor="rgba(255,127,14,0.2)", name=f"{confidence_pct}% band")
        fig.add_scatter(x=forecast["day"], y=forecast["volume"], mode="lines", name="forecast",
                        line={"color": "#ff7f0e"})
    # Names come from the platform: escape them, the figure is embedded as raw HTML/JS.
    fig.update_layout(title=escape(title), height=340, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      yaxis_title="calls per day", legend={"orientation": "h"})
    return fig.to_html(full_html=False, include_plotlyjs=False)
