"""Chart functions: DataFrame in, figure out, with the drill-down URL on every point."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import plotly.graph_objects as go

from cdrweb import charts


def test_cost_per_day_stacks_one_trace_per_carrier():
    df = pd.DataFrame({
        "day": [date(2026, 11, 2), date(2026, 11, 2), date(2026, 11, 3)],
        "carrier": ["A", "B", "A"],
        "cost": [Decimal("1.10"), Decimal("2.20"), Decimal("3.30")],
        "url": ["/calls/?a1", "/calls/?b1", "/calls/?a2"],
    })
    fig = go.Figure(charts.cost_per_day(df, "USD"))
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["A", "B"]
    assert list(fig.data[0].customdata) == ["/calls/?a1", "/calls/?a2"]
    assert fig.data[0].hovertext[1] == "A · 2026-11-03: 3.30 USD"


def test_heatmap_places_counts_by_weekday_and_hour():
    df = pd.DataFrame({"weekday": [1, 7], "hour": [0, 23], "calls": [5, 2], "url": ["/calls/?m0", "/calls/?s23"]})
    fig = go.Figure(charts.calls_heatmap(df))
    z = fig.data[0].z
    assert z[0][0] == 5 and z[6][23] == 2 and sum(map(sum, z)) == 7
    assert fig.data[0].customdata[6][23] == "/calls/?s23"


def test_bars_label_the_none_bucket_and_render_without_plotlyjs():
    df = pd.DataFrame({"key": ["Sales", ""], "cost": [Decimal("5"), Decimal("1")], "calls": [3, 1]})
    fig = go.Figure(charts.cost_by_queue(df, "EUR"))
    assert list(fig.data[0].y) == ["Sales", "(no queue)"]
    html = charts.to_html(fig, "q")
    assert 'id="q"' in html and "<script src" not in html


def test_money_formats_decimals_exactly():
    assert charts.money(Decimal("1234.565"), "USD") == "1,234.57 USD"
    assert charts.money(None) == "0.00"


def test_a_carrier_keeps_its_colour_across_charts():
    day = pd.DataFrame({"day": [date(2026, 11, 2)], "carrier": ["Carrier B"], "cost": [Decimal("1")]})
    month = pd.DataFrame({"month": [date(2026, 11, 1)], "carrier": ["Carrier B"], "amount": [Decimal("1")]})
    assert (
        go.Figure(charts.cost_per_day(day, "USD")).data[0].marker.color
        == go.Figure(charts.overbilled_by_month(month, "USD")).data[0].marker.color
        == charts.carrier_color("Carrier B")
    )


def test_every_dashboard_spec_is_a_valid_plotly_figure():
    """The specs skip plotly's validation when drawn; here plotly checks each against its schema
    (an unknown property or a bad value raises)."""
    keyed = pd.DataFrame({"key": ["GB", ""], "cost": [Decimal("2.5"), Decimal("1")], "calls": [3, 1],
                          "url": ["/calls/?k1", "/calls/?k2"]})
    day = pd.DataFrame({"day": [date(2026, 11, 2)], "carrier": [None], "cost": [Decimal("1")], "url": ["/c"]})
    month = pd.DataFrame({"month": [date(2026, 11, 1)], "carrier": ["A"], "amount": [Decimal("0.4")], "url": ["/m"]})
    heat = pd.DataFrame({"weekday": [3], "hour": [9], "calls": [4], "url": ["/h"]})
    specs = [
        charts.cost_per_day(day, "USD"),
        charts.cost_by_country(keyed, "USD"),
        charts.cost_by_number_type(keyed, "USD"),
        charts.cost_by_queue(keyed, "USD"),
        charts.cost_by_wrapup(keyed, "USD"),
        charts.calls_heatmap(heat),
        charts.overbilled_by_month(month, "USD"),
    ]
    for spec in specs:
        fig = go.Figure(spec)  # validates
        assert fig.data and fig.layout.height == 320
    html = charts.to_html(specs[1], "country")
    assert '"y":[2.5,1' in html.replace(" ", "")  # Decimal drawn as a number
    assert go.Figure(specs[0]).data[0].name == "(no carrier)"
    assert go.Figure(specs[3]).layout.yaxis.autorange == "reversed"
