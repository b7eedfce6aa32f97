"""The dashboard cache: it holds aggregates and pre-drawn blocks but never a phone number, numbers
are masked per request, and a rating run shows at once even when the last view came from it."""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.http import QueryDict
from django.urls import reverse

from billing import services as billing
from billing.models import Rate
from cdrweb import dashboard, rollup
from cdrweb import dashboard_selectors as sel
from extraction.models import CallLeg
from tests.billing.factories import CallLegFactory, RateCardFactory, RateFactory
from tests.explorer.factories import week_dataset

WEEK = "?period=custom&start=2026-11-02&end=2026-11-08"
# distinctive digits of the week's numbers (L1..L4), raw or masked (***dddd keeps the last four)
NUMBER_DIGITS = ("2079460188", "7700900123", "2125550177", "140000001")


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def _cards(response) -> dict[str, str]:
    return {k.label: k.value for k in response.context["kpis"]}


def _cached_entry(query: str) -> dict:
    key = dashboard._cache_key(QueryDict(query.lstrip("?")), sel.data_version())
    entry = cache.get(key)
    assert entry is not None, "the view was not cached under the key the dashboard computes"
    return entry


def _without_tokens(html: bytes) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+', r"\1", html.decode())


@pytest.mark.django_db
def test_the_cache_holds_no_phone_number_raw_or_masked(client, viewer):
    week_dataset()
    client.force_login(viewer)
    page = client.get("/" + WEEK).content.decode()
    assert "***0001" in page  # L4's number, masked, is on the page

    entry = _cached_entry(WEEK)
    stored = pickle.dumps(entry)
    for digits in NUMBER_DIGITS:
        assert digits.encode() not in stored
    assert b"***" not in stored
    # the top calls are kept as leg ids with the non-personal cells around the number
    assert [row[0] for row in entry["top_calls"]] == [leg.pk for leg in client.get("/" + WEEK).context["top_calls"]]
    assert "Total cost" in entry["body_head"] and "cost-per-day" in entry["body_head"]  # drawn once, cached


@pytest.mark.django_db
def test_a_cached_view_masks_numbers_per_request(client, viewer, auditor):
    week_dataset()
    client.force_login(auditor)
    client.post(reverse("pii-reveal"), {"next": "/" + WEEK, "reason": "checking a disputed call"})
    assert "+33140000001" in client.get("/" + WEEK).content.decode()  # computes and caches the view

    client.force_login(viewer)
    page = client.get("/" + WEEK).content.decode()  # the same entry, served from the cache
    assert "***0001" in page
    assert "+33140000001" not in page


@pytest.mark.django_db
def test_a_cached_page_is_drawn_exactly_like_the_first(client, viewer):
    week_dataset()
    client.force_login(viewer)
    first = client.get("/" + WEEK)
    again = client.get("/" + WEEK)
    assert again.context["computed_at"] == first.context["computed_at"]  # served from the cache
    assert _without_tokens(again.content) == _without_tokens(first.content)
    assert 'href="/calls/?period=custom' in again.content.decode()  # KPI and chart links are kept


T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.mark.django_db
@pytest.mark.parametrize("rolled", [False, True], ids=["legs", "rollup"])
def test_a_rating_run_shows_at_once_on_a_cached_dashboard(client, viewer, rolled):
    if rolled:
        rollup.rebuild()  # the dashboard then reads the rollups, which rating keeps current
    card = RateCardFactory(default_increment_first=60, default_increment_next=6)
    RateFactory(rate_card=card, prefix="1", destination="USA", rate_per_minute=Decimal("0.0100"))
    for n in range(3):
        CallLegFactory(talk_s=120, started_at=T0 + timedelta(hours=n))
    window = {"actor": "test", "start": T0 - timedelta(days=1), "end": T0 + timedelta(days=1)}
    billing.rate_period(**window)

    client.force_login(viewer)
    first = client.get("/" + WEEK)
    assert _cards(first)["Total cost"] == "0.06 USD"  # 3 legs x 2 minutes x 0.0100
    assert client.get("/" + WEEK).context["computed_at"] == first.context["computed_at"]  # cached

    Rate.objects.filter(rate_card=card).update(rate_per_minute=Decimal("0.0300"))
    assert billing.rate_period(**window).changed_legs == 3
    again = client.get("/" + WEEK)
    assert _cards(again)["Total cost"] == "0.18 USD"
    assert _cards(again)["Average cost per minute"] == "0.0300 USD"
    assert "0.0600" in again.content.decode()  # the top calls table shows the new cost per leg


@pytest.mark.django_db
def test_a_rollup_refresh_alone_invalidates_a_cached_view(client, viewer):
    """Rating and extraction refresh the rollups when a run finishes, after the legs and progress
    counters that data_version also reads have stopped changing: the refresh itself must count."""
    week_dataset()
    rollup.rebuild()
    client.force_login(viewer)
    first = client.get("/" + WEEK)
    assert _cards(first)["Total cost"] == "7.75 USD"

    leg = CallLeg.objects.get(cost_record__cost=Decimal("1.25"))
    leg.cost_record.__class__.objects.filter(pk=leg.cost_record.pk).update(cost=Decimal("2.25"))
    rollup.refresh_days({leg.started_at.date()})

    assert _cards(client.get("/" + WEEK))["Total cost"] == "8.75 USD"


@pytest.mark.django_db
def test_the_warmer_draws_every_preset_once_per_data_version(client, viewer, monkeypatch):
    week_dataset()
    assert dashboard.warm_views() == len(dashboard.WARM_QUERIES)
    assert dashboard.warm_views() == 0  # all there for this data

    def no_build(*args, **kwargs):
        raise AssertionError("a warmed view was drawn again")

    monkeypatch.setattr(dashboard, "build_dashboard", no_build)
    client.force_login(viewer)
    assert client.get("/").status_code == 200
    assert client.get("/?period=last7").status_code == 200
    monkeypatch.undo()

    CallLegFactory(started_at=T0)  # new data: a new version, drawn again
    assert dashboard.warm_views() == len(dashboard.WARM_QUERIES)


@pytest.mark.django_db
def test_the_warmer_does_nothing_without_calls():
    assert dashboard.warm_views() == 0


@pytest.mark.django_db
def test_a_new_carrier_is_offered_in_the_filter_bar_at_once(client, viewer):
    from tests.reconciliation.factories import CarrierFactory

    week_dataset()
    client.force_login(viewer)
    assert "Carrier Z" not in client.get("/" + WEEK).content.decode()
    CarrierFactory(name="Carrier Z")
    assert "Carrier Z" in client.get("/" + WEEK).content.decode()


@pytest.mark.django_db
def test_parameters_the_filters_ignore_share_the_cached_view(client, viewer, monkeypatch):
    week_dataset()
    client.force_login(viewer)
    first = client.get("/" + WEEK)

    def no_build(*args, **kwargs):
        raise AssertionError("drawn again for a parameter no filter reads")

    monkeypatch.setattr(dashboard, "build_dashboard", no_build)
    again = client.get("/" + WEEK + "&utm_source=mail&x=1")
    assert again.status_code == 200
    assert again.context["computed_at"] == first.context["computed_at"]
