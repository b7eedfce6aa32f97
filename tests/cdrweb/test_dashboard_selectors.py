"""Each dashboard aggregate against the hand-computed week in tests.explorer.factories.week_dataset."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cdrweb import dashboard_selectors as sel
from cdrweb.explorer.periods import Period
from extraction.models import CallLeg
from tests.explorer.factories import week_dataset

WEEK = Period(date(2026, 11, 2), date(2026, 11, 8))


@pytest.fixture
def data(db):
    return week_dataset()


def _all_legs():
    return CallLeg.objects.all()


def _discrepancies(legs=None, *, carrier=None, leg_filters=False):
    legs = _all_legs() if legs is None else legs
    return sel.scoped_discrepancies(legs, carrier=carrier, leg_filters=leg_filters)


def _money(frame, key_col="key", value_col="cost"):
    return {row[key_col]: row[value_col] for row in frame.to_dict("records")}


def _totals(legs=None):
    legs = _all_legs() if legs is None else legs
    return sel.daily_totals(legs, Period(WEEK.previous().start, WEEK.end))


def test_kpis_for_the_week_and_the_week_before(data, django_assert_num_queries):
    with django_assert_num_queries(2):
        totals = _totals()
        open_now = sel.overbilled_open(_discrepancies(), WEEK, currency="USD")
    now = sel.kpis(totals, WEEK, currency="USD", overbilled_open=open_now)
    assert now.total_cost == Decimal("7.75")
    assert now.calls == 7  # L1-L6 and the EUR leg L9
    assert now.billed_seconds == 300
    assert now.billed_minutes == Decimal("5.00")
    assert now.cost_per_minute == Decimal("1.5500")
    assert now.unrated_legs == 2
    assert now.overbilled_open == Decimal("1.40")  # D1 open 0.40 + D3 disputed 1.00
    before = sel.kpis(totals, WEEK.previous(), currency="USD", overbilled_open=Decimal("0"))
    assert (before.total_cost, before.calls, before.billed_seconds) == (Decimal("4.00"), 1, 60)
    assert sel.overbilled_open(_discrepancies(), WEEK.previous(), currency="USD") == Decimal("0.20")


def test_kpis_in_another_currency_count_only_that_currency(data):
    eur = sel.kpis(_totals(), WEEK, currency="EUR", overbilled_open=Decimal("0"))
    assert eur.total_cost == Decimal("5.00")
    assert sel.overbilled_open(_discrepancies(), WEEK, currency="EUR") == Decimal("0")
    assert sel.currencies(_totals(), WEEK) == ["USD", "EUR"]


def test_cost_per_day_is_stacked_by_carrier(data):
    frame = sel.cost_per_day(_totals(), WEEK, currency="USD")
    rows = [(r["day"], r["carrier"], r["cost"], r["calls"]) for r in frame.to_dict("records")]
    assert rows == [
        (date(2026, 11, 2), "Carrier A", Decimal("3.75"), 2),
        (date(2026, 11, 3), "Carrier B", Decimal("0.75"), 1),
        (date(2026, 11, 8), "Carrier B", Decimal("3.25"), 1),
    ]


def _breakdown():
    return sel.cost_breakdown(_all_legs(), WEEK, currency="USD")


def test_cost_by_country_and_number_type(data, django_assert_num_queries):
    with django_assert_num_queries(1):
        breakdown = _breakdown()
    by_country = sel.cost_by_country(breakdown)
    assert list(by_country["key"]) == ["GB", "FR", "US"]
    assert _money(by_country) == {"GB": Decimal("3.75"), "FR": Decimal("3.25"), "US": Decimal("0.75")}
    assert _money(sel.cost_by_number_type(breakdown)) == {"mobile": Decimal("5.75"), "fixed": Decimal("2.00")}


def test_cost_by_queue_and_wrapup_keep_the_none_bucket(data):
    by_queue = sel.cost_by_queue(_breakdown())
    assert list(by_queue["key"]) == ["Sales", "", "Support"]
    assert _money(by_queue) == {"Sales": Decimal("3.75"), "": Decimal("3.25"), "Support": Decimal("0.75")}
    by_wrapup = sel.cost_by_wrapup(_breakdown())
    assert _money(by_wrapup) == {"Refund": Decimal("3.25"), "": Decimal("2.50"), "Sale": Decimal("2.00")}


def test_calls_by_hour_and_weekday_count_every_leg(data):
    frame = sel.calls_by_hour_weekday(_all_legs(), WEEK)
    cells = {(r["weekday"], r["hour"]): r["calls"] for r in frame.to_dict("records")}
    assert cells == {(1, 15): 2, (2, 9): 1, (2, 10): 1, (3, 12): 2, (7, 23): 1}


def test_overbilled_by_month_covers_six_months_by_carrier(data):
    frame = sel.overbilled_by_month(_discrepancies(), WEEK, currency="USD")
    rows = [(r["month"], r["carrier"], r["amount"]) for r in frame.to_dict("records")]
    assert rows == [
        (date(2026, 10, 1), "Carrier A", Decimal("0.60")),
        (date(2026, 11, 1), "Carrier A", Decimal("0.60")),  # D1 0.40 + D6 0.20 (Nov 1st)
        (date(2026, 11, 1), "Carrier B", Decimal("1.10")),  # D2 credited 0.10 + phantom D3 1.00
    ]


def test_carrier_summary_answers_which_carrier_cost_most(data):
    over = sel.overbilled_by_carrier(_discrepancies(), WEEK, currency="USD")
    frame = sel.carrier_summary(_totals(), over, WEEK, currency="USD")
    rows = [
        (r["carrier"], r["cost"], r["calls"], r["billed_seconds"], r["overbilled"], r["overbilled_open"])
        for r in frame.to_dict("records")
    ]
    assert rows == [
        ("Carrier B", Decimal("4.00"), 2, 120, Decimal("1.10"), Decimal("1.00")),
        ("Carrier A", Decimal("3.75"), 2, 180, Decimal("0.40"), Decimal("0.40")),
    ]


def test_top_costly_calls_with_their_overbilled_amount(data, django_assert_num_queries):
    with django_assert_num_queries(2):
        top = sel.top_costly_calls(_all_legs(), WEEK, currency="USD")
    legs = data["legs"]
    assert [leg.pk for leg in top] == [legs[k].pk for k in ("L4", "L2", "L1", "L3")]
    # L3 was overbilled too, though that one is already credited (D2)
    assert [leg.overbilled for leg in top] == [None, Decimal("0.40"), None, Decimal("0.10")]


def test_carrier_filter_narrows_costs_and_discrepancies(data):
    b = data["carriers"]["B"]
    legs = _all_legs().filter(cost_record__carrier=b)
    open_b = sel.overbilled_open(_discrepancies(carrier=b), WEEK, currency="USD")
    now = sel.kpis(_totals(legs), WEEK, currency="USD", overbilled_open=open_b)
    assert (now.total_cost, now.calls, now.overbilled_open) == (Decimal("4.00"), 2, Decimal("1.00"))


def test_leg_filters_leave_out_phantom_charges(data):
    inbound = _all_legs().filter(direction="inbound")
    open_in = sel.overbilled_open(_discrepancies(inbound, leg_filters=True), WEEK, currency="USD")
    now = sel.kpis(_totals(inbound), WEEK, currency="USD", overbilled_open=open_in)
    assert (now.total_cost, now.calls, now.overbilled_open) == (Decimal("3.25"), 1, Decimal("0"))


def test_empty_period_gives_zeros_and_empty_frames(data):
    empty = Period(date(2025, 1, 1), date(2025, 1, 7))
    totals = sel.daily_totals(_all_legs(), empty)
    now = sel.kpis(totals, empty, currency="USD", overbilled_open=Decimal("0"))
    assert (now.total_cost, now.calls, now.cost_per_minute) == (Decimal("0"), 0, None)
    assert sel.cost_per_day(totals, empty, currency="USD").empty
    assert sel.cost_by_country(sel.cost_breakdown(_all_legs(), empty, currency="USD")).empty
    over = sel.overbilled_by_carrier(_discrepancies(), empty, currency="USD")
    assert sel.carrier_summary(totals, over, empty, currency="USD").empty
