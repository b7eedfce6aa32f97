"""The forecast chart shows removed outliers and the band, and cannot carry markup from platform names."""

from __future__ import annotations

import pandas as pd

from cdrweb.forecast import charts


def _points() -> pd.DataFrame:
    rows = [
        {"day": pd.Timestamp("2026-03-01"), "kind": "history", "volume": 10.0, "lower": None, "upper": None,
         "is_outlier": False},
        {"day": pd.Timestamp("2026-03-02"), "kind": "history", "volume": 90.0, "lower": None, "upper": None,
         "is_outlier": True},
        {"day": pd.Timestamp("2026-03-03"), "kind": "forecast", "volume": 11.0, "lower": 8.0, "upper": 14.0,
         "is_outlier": False},
    ]
    return pd.DataFrame(rows)


def test_chart_has_history_outliers_forecast_and_band():
    html = charts.forecast_chart(_points(), title="Sales", confidence_pct=95)
    for trace in ("calls (history)", "outliers (removed)", "forecast", "95% band"):
        assert trace in html


def test_chart_title_from_the_platform_is_escaped():
    html = charts.forecast_chart(_points(), title="</script><script>alert(1)</script>", confidence_pct=90)
    assert "<script>alert(1)" not in html
    assert "</script><script>" not in html
