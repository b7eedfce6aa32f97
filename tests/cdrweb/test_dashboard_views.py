"""The home dashboard: empty states, filters in the URL, drill-down links, masking, query count."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.explorer.factories import DiscrepancyFactory, rated_leg, week_dataset

WEEK = "?period=custom&start=2026-11-02&end=2026-11-08"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()  # the dashboard caches per filters and data version; each test starts cold
    yield
    cache.clear()


@pytest.fixture
def data(db):
    return week_dataset()


def test_a_new_administrator_is_told_to_add_a_connection(client, admin_user_role):
    client.force_login(admin_user_role)
    page = client.get("/").content.decode()
    assert "No call data yet" in page
    assert "Add a platform connection" in page
    assert "Run an extraction" in page


def test_a_new_analyst_is_told_to_upload_a_cdr_file(client, analyst):
    client.force_login(analyst)
    page = client.get("/").content.decode()
    assert "Upload a carrier CDR file" in page
    assert "Add a platform connection" not in page


def test_a_new_viewer_learns_who_must_act(client, viewer):
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "An administrator adds a connection" in page


def test_a_user_without_role_sees_no_numbers(client, no_role_user, data):
    client.force_login(no_role_user)
    response = client.get("/" + WEEK)
    assert response.status_code == 200
    assert "no role yet" in response.content.decode()
    assert "Total cost" not in response.content.decode()


@pytest.mark.parametrize("role", ["administrator", "analyst", "viewer", "auditor"])
def test_every_finance_role_sees_the_dashboard(client, role_users, data, role):
    client.force_login(role_users[role])
    response = client.get("/" + WEEK)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Total cost" in page and "7.75 USD" in page
    assert "vendor/plotly.min.js" in page and "cdn.plot.ly" not in page


def test_kpis_compare_with_the_previous_week(client, viewer, data):
    client.force_login(viewer)
    response = client.get("/" + WEEK)
    cards = {k.label: k for k in response.context["kpis"]}
    assert cards["Total cost"].value == "7.75 USD"
    assert cards["Total cost"].previous == "4.00 USD"
    assert cards["Total cost"].change == "+93.8 %"  # (7.75 - 4.00) / 4.00
    assert cards["Calls"].value == "7" and cards["Calls"].change == "+600.0 %"
    assert cards["Billed minutes"].value == "5.00"
    assert cards["Average cost per minute"].value == "1.5500 USD"
    assert cards["Unrated legs"].value == "2"
    assert cards["Open overbilled amount"].value == "1.40 USD"
    assert cards["Open overbilled amount"].previous == "0.20 USD"


def test_the_viewer_can_tell_which_carrier_cost_most_and_what_was_overbilled(client, viewer, data):
    client.force_login(viewer)
    response = client.get("/" + WEEK)
    carriers = response.context["carriers"]
    assert [c["name"] for c in carriers] == ["Carrier B", "Carrier A"]
    assert carriers[0]["cost"] == "4.00 USD" and carriers[0]["overbilled"] == "1.10 USD"
    # "on which destinations": the same dashboard narrowed to the carrier
    b = data["carriers"]["B"]
    narrowed = client.get("/" + carriers[0]["countries_url"])
    countries = narrowed.context["charts"][1]
    assert countries["id"] == "cost-by-country" and "FR" in countries["html"] and "GB" not in countries["html"]
    # "which of those calls were overbilled": the link lists them
    query = parse_qs(urlparse(carriers[0]["overbilled_url"]).query)
    assert query["carrier"] == [str(b.pk)] and query["overbilled"] == ["any"]
    listed = client.get(carriers[0]["overbilled_url"])
    assert [r.record.pk for r in listed.context["table"].page.object_list] == [data["legs"]["L3"].pk]


def test_every_chart_is_drawn_with_drill_down_urls(client, viewer, data):
    client.force_login(viewer)
    response = client.get("/" + WEEK)
    # plotly writes "/" as \u002f inside its JSON
    charts = {c["id"]: c["html"].replace("\\u002f", "/") for c in response.context["charts"]}
    assert set(charts) == {"cost-per-day", "cost-by-country", "cost-by-type", "cost-by-queue", "cost-by-wrapup",
                           "calls-heatmap", "overbilled-by-month"}
    assert all(html for html in charts.values())
    assert "/calls/?period=custom" in charts["cost-by-country"]
    assert "country=GB" in charts["cost-by-country"]
    assert "queue=__none__" in charts["cost-by-queue"]


def test_a_drill_down_link_lists_exactly_the_calls_behind_the_bar(client, viewer, data):
    client.force_login(viewer)
    response = client.get("/" + WEEK)
    legs = data["legs"]
    html = {c["id"]: c["html"] for c in response.context["charts"]}["cost-by-country"].replace("\\u002f", "/")
    start = html.index("/calls/?period=custom")
    url = html[start:html.index('"', start)].replace("\\u0026", "&")
    assert "country=GB" in url
    listed = client.get(url)
    assert sorted(r.record.pk for r in listed.context["table"].page.object_list) == sorted(
        [legs["L1"].pk, legs["L2"].pk]
    )


def test_filters_live_in_the_url(client, viewer, data):
    client.force_login(viewer)
    b = data["carriers"]["B"]
    response = client.get(f"/{WEEK}&carrier={b.pk}&direction=inbound")
    cards = {k.label: k for k in response.context["kpis"]}
    assert cards["Total cost"].value == "3.25 USD"
    assert cards["Calls"].value == "1"
    page = response.content.decode()
    assert 'value="inbound" selected' in page
    assert f"carrier={b.pk}" in response.context["explorer_url"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("?period=custom&start=2026-11-09&end=2026-11-01", "start date must be on or before"),
        ("?period=custom&start=2026-11-01", "needs both a start and an end"),
        ("?start=yesterday&end=2026-11-01", "Enter a valid date"),
        ("?period=forever", "Select a valid choice"),
        ("?carrier=abc", "Select a valid choice"),
        ("?period=custom&start=2000-01-01&end=2026-01-01", "at most 1100 days"),
    ],
)
def test_bad_filters_get_a_clear_message_not_a_500(client, viewer, data, query, message):
    client.force_login(viewer)
    response = client.get("/" + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_top_calls_mask_numbers_for_a_viewer(client, viewer, data):
    client.force_login(viewer)
    page = client.get("/" + WEEK).content.decode()
    assert "***0001" in page  # L4 to +33140000001
    assert "+33140000001" not in page


def test_another_currency_can_be_chosen(client, viewer, data):
    client.force_login(viewer)
    response = client.get("/" + WEEK)
    assert response.context["other_currencies"] == ["EUR"]
    # the page's own link keeps the filters (and only filters) and adds the currency
    link = re.search(r'href="(\?[^"]*currency=EUR)"', response.content.decode()).group(1).replace("&amp;", "&")
    assert "start=2026-11-02" in link and "end=2026-11-08" in link
    eur = client.get("/" + link)
    cards = {k.label: k for k in eur.context["kpis"]}
    assert cards["Total cost"].value == "5.00 EUR"


def test_dashboard_query_count_is_bounded(client, viewer, data, django_assert_max_num_queries):
    client.force_login(viewer)
    with django_assert_max_num_queries(25):
        response = client.get("/" + WEEK)
    assert response.status_code == 200


def test_the_page_links_to_itself_from_the_explorer_navigation(client, viewer, data):
    client.force_login(viewer)
    page = client.get("/" + WEEK).content.decode()
    assert reverse("calls:list") in page


def test_a_repeat_visit_is_served_from_the_cache(client, viewer, data, django_assert_max_num_queries):
    client.force_login(viewer)
    client.get("/" + WEEK)
    # the user, data_version() and the top calls' numbers: the session, the permissions, the
    # role and the filter bar's choice lists come from the cache, no filter form is built
    with django_assert_max_num_queries(3):
        response = client.get("/" + WEEK)
    assert {k.label: k.value for k in response.context["kpis"]}["Total cost"] == "7.75 USD"


def test_new_data_shows_at_once_despite_the_cache(client, viewer, data):
    from datetime import UTC, datetime
    from decimal import Decimal

    client.force_login(viewer)
    client.get("/" + WEEK)
    leg = rated_leg(cost="2.00", carrier=data["carriers"]["A"], started_at=datetime(2026, 11, 5, 10, tzinfo=UTC))
    cards = {k.label: k.value for k in client.get("/" + WEEK).context["kpis"]}
    assert cards["Total cost"] == "9.75 USD"
    DiscrepancyFactory(run=data["discrepancies"]["D1"].run, leg=leg, amount_at_stake=Decimal("0.25"))
    cards = {k.label: k.value for k in client.get("/" + WEEK).context["kpis"]}
    assert cards["Open overbilled amount"] == "1.65 USD"
