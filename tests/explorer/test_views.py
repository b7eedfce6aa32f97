"""The call explorer: list with filters in the URL, detail page, masking and query counts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from tests.explorer.factories import (
    T0,
    CallLegFactory,
    CarrierCdrFactory,
    CdrMatchFactory,
    ConversationFactory,
    CostRecordFactory,
    DiscrepancyFactory,
    SegmentFactory,
    SessionFactory,
    SessionMetricFactory,
    at,
    rated_leg,
    week_dataset,
)

LIST = "/calls/"
WEEK = "?period=custom&start=2026-11-02&end=2026-11-08"


@pytest.fixture
def data(db):
    return week_dataset()


def _listed(response) -> list[int]:
    return [row.record.pk for row in response.context["table"].page.object_list]


def _reveal(client, path: str) -> None:
    client.post(reverse("pii-reveal"), {"next": path, "reason": "checking a disputed call"})


@pytest.mark.parametrize("role, status", [
    ("administrator", 200), ("analyst", 200), ("viewer", 200), ("auditor", 200), ("none", 403),
])
def test_who_may_open_the_call_list(client, role_users, role, status):
    client.force_login(role_users[role])
    assert client.get(LIST).status_code == status


def test_the_list_shows_the_period_newest_first(client, viewer, data):
    client.force_login(viewer)
    legs = data["legs"]
    response = client.get(LIST + WEEK)
    assert response.status_code == 200
    assert _listed(response) == [legs[k].pk for k in ("L4", "L9", "L6", "L5", "L3", "L2", "L1")]


@time_machine.travel(T0 + timedelta(days=7), tick=False)  # Mon 2026-11-09
def test_the_default_period_is_the_last_30_days(client, viewer, data):
    client.force_login(viewer)
    response = client.get(LIST)
    assert response.context["period"].start == date(2026, 10, 11)
    assert data["legs"]["L10"].pk not in _listed(response)  # 2026-10-10
    assert data["legs"]["L7"].pk in _listed(response)


@time_machine.travel(T0 + timedelta(days=7), tick=False)
def test_last_week_preset(client, viewer, data):
    client.force_login(viewer)
    response = client.get(LIST + "?period=last_week")
    assert (response.context["period"].start, response.context["period"].end) == (date(2026, 11, 2), date(2026, 11, 8))
    assert len(_listed(response)) == 7


@pytest.mark.parametrize("query, expected", [
    ("&direction=inbound", ["L4"]),
    ("&queue=Support", ["L6", "L5", "L3"]),
    ("&queue=__none__", ["L4"]),
    ("&wrapup=__none__", ["L2"]),
    ("&country=fr", ["L4"]),
    ("&number_type=mobile", ["L4", "L2"]),
    ("&rating=unrated", ["L6", "L5"]),
    ("&hour=15&weekday=1", ["L2", "L1"]),
    ("&overbilled=open", ["L2"]),
    ("&overbilled=any", ["L3", "L2"]),
    ("&recon=discrepancy", ["L3", "L2", "L1"]),  # L4's is superseded
    ("&currency=EUR", ["L9"]),
])
def test_filters_live_in_the_url(client, viewer, data, query, expected):
    client.force_login(viewer)
    legs = data["legs"]
    assert _listed(client.get(LIST + WEEK + query)) == [legs[k].pk for k in expected]


def test_carrier_and_call_id_filters(client, viewer, data):
    client.force_login(viewer)
    legs = data["legs"]
    a = data["carriers"]["A"]
    assert _listed(client.get(f"{LIST}{WEEK}&carrier={a.pk}")) == [legs["L2"].pk, legs["L1"].pk]
    assert _listed(client.get(f"{LIST}{WEEK}&call_id={legs['L3'].leg_id}")) == [legs["L3"].pk]


def test_sorting_by_cost(client, viewer, data):
    client.force_login(viewer)
    legs = data["legs"]
    response = client.get(LIST + WEEK + "&currency=USD&sort=-cost")
    assert _listed(response) == [legs[k].pk for k in ("L4", "L2", "L1", "L3")]


@pytest.mark.parametrize("query", [
    "?period=custom&start=2026-11-09&end=2026-11-01",
    "?start=31/31/2026",
    "?hour=99",
    "?carrier=abc",
    "?connection=999999",
    "?overbilled=maybe",
    "?currency=DOLLARS",
])
def test_bad_filter_values_give_a_clear_400(client, viewer, data, query):
    client.force_login(viewer)
    response = client.get(LIST + query)
    assert response.status_code == 400
    assert "could not be applied" in response.content.decode()


def test_numbers_are_masked_for_a_viewer(client, viewer, data):
    client.force_login(viewer)
    page = client.get(LIST + WEEK).content.decode()
    assert "***0188" in page
    assert "+442079460188" not in page and "2079460188" not in page


def test_an_auditor_who_revealed_sees_the_numbers(client, auditor, data):
    client.force_login(auditor)
    assert "+442079460188" not in client.get(LIST + WEEK).content.decode()
    _reveal(client, LIST + WEEK)
    assert "+442079460188" in client.get(LIST + WEEK).content.decode()


def test_the_list_query_count_does_not_grow_with_rows(client, viewer, django_assert_max_num_queries):
    for i in range(60):
        rated_leg(cost="1.00", started_at=at(3, 8) + timedelta(minutes=i))
    client.force_login(viewer)
    with django_assert_max_num_queries(12):
        response = client.get(LIST + WEEK)
    assert len(_listed(response)) == 50


def _detailed_leg():
    conversation = ConversationFactory()
    leg = CallLegFactory(conversation=conversation, external_call_id=conversation.conversation_id)
    CostRecordFactory(leg=leg, cost=Decimal("1.250000"))
    session = SessionFactory(participant__conversation=conversation, participant__participant_name="Jane Customer")
    SegmentFactory(session=session, segment_type="dialing", segment_start=T0,
                   segment_end=T0 + timedelta(seconds=5), wrap_up_note="call back on +442079460188")
    SegmentFactory(session=session, segment_type="interact", segment_start=T0 + timedelta(seconds=5))
    SessionMetricFactory(session=session)
    cdr = CarrierCdrFactory(record_id="CARRIER-ROW-7", charge=Decimal("1.750000"))
    match = CdrMatchFactory(leg=leg, carrier_cdr=cdr)
    DiscrepancyFactory(run=match.run, leg=leg, carrier_cdr=cdr, type="cost_mismatch",
                       amount_at_stake=Decimal("0.500000"))
    return leg


@pytest.mark.django_db
def test_the_detail_page_tells_the_whole_story_masked(client, viewer, django_assert_max_num_queries):
    leg = _detailed_leg()
    client.force_login(viewer)
    with django_assert_max_num_queries(15):
        response = client.get(reverse("calls:detail", args=[leg.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "CARRIER-ROW-7" in page  # the matched carrier row
    assert "Cost mismatch" in page and "0.500000" in page  # the discrepancy
    assert "Rate card version" in page and "Rated at" in page  # billing's cost explanation
    assert "segment-timeline" in page and "tTalk" in page
    assert "***0188" in page and "+442079460188" not in page
    assert "Jane Customer" not in page and "REDACTED" in page
    assert "call back on" not in page


@pytest.mark.django_db
def test_the_detail_page_reveals_for_an_auditor_who_asked(client, auditor):
    leg = _detailed_leg()
    client.force_login(auditor)
    path = reverse("calls:detail", args=[leg.pk])
    _reveal(client, path)
    page = client.get(path).content.decode()
    assert "+442079460188" in page and "Jane Customer" in page


@pytest.mark.django_db
def test_a_leg_without_cost_or_conversation_still_renders(client, viewer):
    leg = CallLegFactory()
    client.force_login(viewer)
    page = client.get(reverse("calls:detail", args=[leg.pk])).content.decode()
    assert "Not rated yet" in page
    assert "No carrier CDR row has been matched" in page


@pytest.mark.django_db
def test_an_unknown_leg_is_a_404(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("calls:detail", args=[999999])).status_code == 404


def test_the_filter_form_has_readable_labels(client, viewer, data):
    client.force_login(viewer)
    page = client.get(LIST + WEEK).content.decode()
    assert "invalid name" not in page
    assert ">Period</label>" in page and ">From</label>" in page and ">Carrier</label>" in page
