"""The dashboard rollups (cdrweb.rollup) equal the leg-level aggregates they replace: after a rebuild,
after rating, after re-rating a changed rate, after extracting the same legs twice, under filters."""

from __future__ import annotations

import numbers
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from billing.models import Rate
from cdrweb import dashboard_selectors as sel
from cdrweb import rollup
from cdrweb.explorer.periods import Period
from cdrweb.models import DailyLegRollup, HourlyLegRollup
from extraction import services as extraction
from extraction.models import CallLeg
from extraction.platforms.genesys.client import _TOKENS
from extraction.platforms.genesys.sandbox import start_sandbox
from tests.billing.factories import CallLegFactory, CarrierFactory, RateCardFactory, RateFactory
from tests.explorer.factories import week_dataset

D = Decimal
WEEK = Period(date(2026, 11, 2), date(2026, 11, 8))
WIDE = Period(date(2026, 1, 1), date(2026, 12, 31))


def _sorted(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples in a stable order; ints and Decimals compared by value, NaN as None."""

    def clean(value):
        if value is None or (not isinstance(value, str | date) and pd.isna(value)):
            return None
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else value.normalize()
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return int(value)
        return value

    return sorted((tuple(clean(v) for v in row) for row in frame.itertuples(index=False)), key=repr)


def assert_rollup_matches(period: Period, *, legs=None, rolled: dict | None = None, currency: str = "USD") -> None:
    """Every selector that can read the rollup gives the same rows from the rollup as from the legs."""
    legs = legs if legs is not None else CallLeg.objects.all()
    rolled = rolled or {}
    assert _sorted(sel.daily_totals(legs, period, rollup=rolled)) == _sorted(sel.daily_totals(legs, period))
    assert _sorted(sel.cost_breakdown(legs, period, currency=currency, rollup=rolled)) == _sorted(
        sel.cost_breakdown(legs, period, currency=currency)
    )
    assert _sorted(sel.calls_by_hour_weekday(legs, period, rollup=rolled)) == _sorted(
        sel.calls_by_hour_weekday(legs, period)
    )
    top_rolled = sel.top_costly_calls(legs, period, currency=currency, rollup=rolled)
    assert [leg.pk for leg in top_rolled] == [leg.pk for leg in sel.top_costly_calls(legs, period, currency=currency)]


def _local_days(moments) -> set[date]:
    """The local calendar days (TIME_ZONE) of some aware datetimes."""
    return {timezone.localtime(moment).date() for moment in moments}


def _legs_in_rollup() -> tuple[int, int]:
    daily = sum(DailyLegRollup.objects.values_list("calls", flat=True))
    hourly = sum(HourlyLegRollup.objects.values_list("calls", flat=True))
    return daily, hourly


# --- the hand-computed week ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_rebuild_equals_the_leg_level_aggregates_of_the_week():
    week_dataset()
    call_command("rebuild_rollup")
    assert rollup.is_ready()
    assert _legs_in_rollup() == (CallLeg.objects.count(),) * 2
    for period in (WEEK, WEEK.previous(), WIDE):
        assert_rollup_matches(period)
    assert_rollup_matches(WEEK, currency="EUR")
    totals = sel.daily_totals(CallLeg.objects.all(), WEEK, rollup={})
    kpis = sel.kpis(totals, WEEK, currency="USD", overbilled_open=D("0"))
    assert (kpis.total_cost, kpis.calls, kpis.billed_seconds, kpis.unrated_legs) == (D("7.75"), 7, 300, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, expected",
    [
        ({"carrier": "A"}, {"carrier": "A"}),
        ({"direction": "inbound"}, {"direction": "inbound"}),
        ({"queue": "Support"}, {"queue_name": "Support"}),
        ({"queue": "__none__"}, {"queue_name": ""}),
        ({"platform": "genesys"}, {"platform": "genesys"}),
    ],
)
def test_dashboard_filters_read_the_same_numbers_from_the_rollup(query, expected):
    data = week_dataset()
    call_command("rebuild_rollup")
    if "carrier" in query:
        query = {"carrier": data["carriers"][query["carrier"]]}
        expected = {"carrier": query["carrier"]}
    legs = CallLeg.objects.all()
    if "carrier" in query:
        legs = legs.filter(cost_record__carrier=query["carrier"])
    elif "queue" in query:
        legs = legs.filter(queue_name=expected["queue_name"])
    else:
        legs = legs.filter(**query)
    assert rollup.filters_for(query) == expected
    assert_rollup_matches(WEEK, legs=legs, rolled=expected)


def test_drill_down_filters_the_rollup_cannot_answer_fall_back_to_the_legs():
    assert rollup.filters_for({"period": "last30", "currency": "EUR", "queue": ""}) == {}
    assert rollup.filters_for({"country": "GB"}) is None
    assert rollup.filters_for({"hour": "15", "carrier": None}) is None


@pytest.mark.django_db
def test_the_dashboard_page_shows_the_same_figures_with_and_without_the_rollup(client, viewer):
    week_dataset()
    client.force_login(viewer)
    url = reverse("home") + "?period=custom&start=2026-11-02&end=2026-11-08"
    cache.clear()
    from_legs = client.get(url).context
    call_command("rebuild_rollup")
    cache.clear()
    from_rollup = client.get(url).context
    cache.clear()
    assert from_rollup["kpis"] == from_legs["kpis"]
    assert from_rollup["carriers"] == from_legs["carriers"]
    assert [c["html"] for c in from_rollup["charts"]] == [c["html"] for c in from_legs["charts"]]
    assert [leg.pk for leg in from_rollup["top_calls"]] == [leg.pk for leg in from_legs["top_calls"]]


@pytest.mark.django_db
def test_local_days_follow_the_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    week_dataset()  # L4 starts Sun 23:59 UTC: Sunday 18:59 in New York, L8 Sun 23:59:59 UTC likewise
    call_command("rebuild_rollup")
    assert rollup.is_ready()
    for period in (WEEK, WEEK.previous(), WIDE):
        assert_rollup_matches(period)
    settings.TIME_ZONE = "UTC"
    assert not rollup.is_ready()  # built for another zone: the dashboard reads the legs until rebuilt


# --- kept current by rating ---------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
START, END = T0 - timedelta(days=3), T0 + timedelta(days=3)


@pytest.fixture
def card(db):
    card = RateCardFactory(default_increment_first=60, default_increment_next=6)
    RateFactory(rate_card=card, prefix="1", destination="USA", rate_per_minute=D("0.0100"))
    RateFactory(rate_card=card, prefix="1212", destination="USA New York", rate_per_minute=D("0.0080"))
    return card


def _some_legs() -> None:
    for n in range(30):
        CallLegFactory(
            dnis=f"+1212555{n:04d}" if n % 3 else f"+1415555{n:04d}",
            talk_s=7 * n,
            started_at=T0 + timedelta(hours=4 * n - 60),
            queue_name=f"Queue {n % 4}",
            direction="inbound" if n % 5 == 0 else "outbound",
        )


@pytest.mark.django_db
def test_rating_and_re_rating_keep_the_rollup_equal_to_the_legs(card):
    rollup.rebuild()  # empty: marks the rollup usable before any leg exists
    _some_legs()
    rollup.refresh_days(_local_days(CallLeg.objects.values_list("started_at", flat=True)))
    assert_rollup_matches(WIDE)  # all legs still without cost records

    run = billing.rate_period(actor="test", start=START, end=END)
    assert run.changed_legs == 30
    assert DailyLegRollup.objects.filter(status="rated").exists()
    assert_rollup_matches(WIDE)

    Rate.objects.filter(rate_card=card, prefix="1212").update(rate_per_minute=D("0.0250"))
    again = billing.rate_period(actor="test", start=START, end=END)
    assert again.changed_legs > 0  # the legs priced by the changed rate
    assert_rollup_matches(WIDE)
    assert _legs_in_rollup() == (30, 30)

    costs = sel.daily_totals(CallLeg.objects.all(), WIDE, rollup={})
    assert sum(costs["cost"], D("0")) > 0


@pytest.mark.django_db
def test_a_rating_run_refreshes_its_days_once_not_per_batch(card, monkeypatch):
    """Batches in leg order touch most days of the period: refreshing after each would re-read
    the whole period once per batch (quadratic at a million legs)."""
    rollup.rebuild()
    _some_legs()
    monkeypatch.setattr(billing, "BATCH_SIZE", 4)  # 30 legs: 8 batches
    refreshed = []
    real = rollup.refresh_days
    monkeypatch.setattr(rollup, "refresh_days", lambda days: refreshed.append(set(days)) or real(days))

    run = billing.rate_period(actor="test", start=START, end=END)

    assert run.changed_legs == 30
    assert refreshed == [rollup.days_between(START, END)]
    assert_rollup_matches(WIDE)
    billing.rate_period(actor="test", start=START, end=END)  # nothing changed: nothing to refresh
    assert len(refreshed) == 1


@pytest.mark.django_db
def test_refreshing_a_day_twice_is_harmless(card):
    rollup.rebuild()
    _some_legs()
    billing.rate_period(actor="test", start=START, end=END)
    before = sorted(DailyLegRollup.objects.values_list("day", "queue_name", "calls", "cost"), key=repr)
    days = _local_days(CallLeg.objects.values_list("started_at", flat=True))
    assert rollup.refresh_days(days) == len(days)
    assert rollup.refresh_days(days) == len(days)
    assert sorted(DailyLegRollup.objects.values_list("day", "queue_name", "calls", "cost"), key=repr) == before


# --- kept current by extraction -----------------------------------------------------------------

SANDBOX_NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
X_START, X_END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)


@pytest.fixture
def sandbox_connection(db):
    from tests.extraction.factories import ConnectionFactory

    handle = start_sandbox(port=0, seed=11, calls_per_day=20, now=SANDBOX_NOW, retry_after=0,
                           page_size_default=25, max_interval_days=4)
    _TOKENS.clear()
    yield ConnectionFactory(name="sandbox", region="", base_url=handle.base_url)
    handle.stop()
    _TOKENS.clear()


def _extract(connection):
    run = extraction.start_extraction(connection=connection, start=X_START, end=X_END, enqueue_task=False)
    return extraction.run_extraction(run_id=run.pk)


@pytest.mark.django_db
def test_extracting_the_same_legs_twice_keeps_the_rollup_equal_to_the_legs(sandbox_connection):
    rollup.rebuild()
    first = _extract(sandbox_connection)
    assert first.call_legs > 0
    assert _legs_in_rollup() == (CallLeg.objects.count(),) * 2
    march = Period(date(2026, 2, 25), date(2026, 3, 10))
    assert_rollup_matches(march)

    card = RateCardFactory(carrier=CarrierFactory(is_default=True), effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    for prefix in "123456789":
        RateFactory(rate_card=card, prefix=prefix, rate_per_minute=D("0.0100"))
        RateFactory(rate_card=card, prefix=prefix, direction="inbound", rate_per_minute=D("0.0020"))
    billing.rate_period(actor="test", start=X_START - timedelta(days=2), end=X_END + timedelta(days=2))
    assert_rollup_matches(march)

    assert DailyLegRollup.objects.filter(status="rated").exists()

    # a leg renamed behind the rollup's back is put right by the next extraction of the same legs
    leg = CallLeg.objects.order_by("pk").first()
    CallLeg.objects.filter(pk=leg.pk).update(queue_name="stale")
    rollup.refresh_days(_local_days([leg.started_at]))
    assert DailyLegRollup.objects.filter(queue_name="stale").exists()
    second = _extract(sandbox_connection)
    assert second.call_legs == first.call_legs
    assert _legs_in_rollup() == (CallLeg.objects.count(),) * 2
    assert not DailyLegRollup.objects.filter(queue_name="stale").exists()
    assert_rollup_matches(march)


# --- building without a manual step -------------------------------------------------------------


@pytest.mark.django_db
def test_sweep_now_builds_the_rollup_once_when_it_was_never_built():
    from cdrweb import schedules

    week_dataset()
    assert not rollup.is_ready()
    schedules.sweep_now()
    assert rollup.is_ready()
    assert _legs_in_rollup() == (CallLeg.objects.count(),) * 2
    assert rollup.ensure_ready() is False  # already built: nothing to do


@pytest.mark.django_db
def test_a_queue_renamed_by_reference_sync_is_rebuilt_into_the_rollup():
    week_dataset()
    rollup.rebuild()
    leg = CallLeg.objects.exclude(queue_name="").order_by("pk").first()
    CallLeg.objects.filter(pk=leg.pk).update(queue_id="q-support")

    class Listings:
        def sync_reference_data(self):
            return {}, {"q-support": "Customer Care"}

    extraction.sync_reference_data(connection=leg.connection, adapter=Listings())
    assert DailyLegRollup.objects.filter(queue_name="Customer Care").exists()
    assert_rollup_matches(WIDE)
