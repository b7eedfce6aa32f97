"""Billing pages: the role × URL matrix, the admin flows, and no 500 for bad input."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing import services
from billing.models import Carrier, CostRecord, Rate, RateCard, RatingRun
from cdrweb.models import AuditEntry
from tests.billing.factories import T0, CallLegFactory, RateCardFactory, RateFactory

HEADER = "prefix,destination,direction,rate_per_minute,connect_fee,min_billable_seconds,minimum_cost,increment\n"


@pytest.fixture
def priced(db):
    card = RateCardFactory(default_increment_first=60, default_increment_next=6)
    RateFactory(rate_card=card, prefix="1", rate_per_minute=Decimal("0.0100"))
    RateFactory(rate_card=card, prefix="1212", destination="New York", rate_per_minute=Decimal("0.0120"))
    leg = CallLegFactory(dnis="+12125550177", talk_s=61)
    other = CallLegFactory(dnis="+14155550188", talk_s=61)
    services.rate_period(actor="t", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    return card, leg, other


READ_URLS = ["billing:ratecard-list", "billing:carrier-list", "billing:run-list"]
ADMIN_URLS = ["billing:ratecard-create", "billing:ratecard-import", "billing:carrier-create", "billing:mapping-create"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "read", "admin"),
    [("administrator", 200, 200), ("analyst", 200, 403), ("viewer", 200, 403), ("auditor", 200, 403),
     ("none", 403, 403)],
)
def test_role_url_matrix(client, role_users, priced, role, read, admin):
    card, leg, _ = priced
    client.force_login(role_users[role])
    for name in READ_URLS:
        assert client.get(reverse(name)).status_code == read, name
    for url in (reverse("billing:ratecard-detail", args=[card.pk]), reverse("billing:cost-detail", args=[leg.pk]),
                reverse("billing:ratecard-export", args=[card.pk])):
        assert client.get(url).status_code == read, url
    for name in ADMIN_URLS:
        assert client.get(reverse(name)).status_code == admin, name
    assert client.post(reverse("billing:ratecard-clone", args=[card.pk]), {"kind": "correction"}).status_code in (
        (302,) if admin == 200 else (403,))


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login(client):
    response = client.get(reverse("billing:ratecard-list"))
    assert response.status_code == 302 and "login" in response.url


@pytest.mark.django_db
def test_cost_page_explains_itself_and_masks_the_number(client, viewer, priced):
    _, leg, _ = priced
    client.force_login(viewer)
    html = client.get(reverse("billing:cost-detail", args=[leg.pk])).content.decode()
    assert "0.0132 USD" in html and "1212" in html and "61 s → 66 billed s" in html
    assert "0.012/min × 66 s / 60 = 0.0132" in html
    assert "***0177" in html and "2125550177" not in html
    partial = client.get(reverse("billing:cost-detail", args=[leg.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "0.0132" in partial


@pytest.mark.django_db
def test_import_previews_errors_by_line_then_commits(client, admin_user_role):
    client.force_login(admin_user_role)
    url = reverse("billing:ratecard-import")
    fields = {"carrier": "Carrier Z", "currency": "EUR", "effective_from": "2026-10-01 00:00", "increment": "60/6",
              "action": "preview"}
    bad = SimpleUploadedFile("z.csv", (HEADER + "1,USA,outbound,abc,,,,\n44,UK,outbound,0.01,,,,9\n").encode())
    response = client.post(url, {**fields, "file": bad})
    html = response.content.decode()
    assert response.status_code == 400 and "2 errors" in html and "is not a number" in html
    assert not RateCard.objects.exists()

    good = SimpleUploadedFile("z.csv", (HEADER + "1,USA,outbound,0.01,,,,\n44,UK,outbound,0.02,,,,\n").encode())
    response = client.post(url, {**fields, "file": good})
    assert response.status_code == 200 and "2 rates ready to import" in response.content.decode()
    assert not RateCard.objects.exists()
    token = response.context["token"]
    response = client.post(url, {**fields, "action": "commit", "token": token})
    card = RateCard.objects.get()
    assert response.status_code == 302 and card.rates.count() == 2 and card.currency == "EUR"
    assert Carrier.objects.get().name == "Carrier Z"


@pytest.mark.django_db
def test_admin_edits_a_rate_by_correction_previews_and_sees_costs_change(
        client, admin_user_role, priced, django_capture_on_commit_callbacks):
    card, leg, other = priced
    client.force_login(admin_user_role)
    rate = card.rates.get(prefix="1212")
    # the used version refuses a direct edit
    response = client.post(reverse("billing:rate-edit", args=[rate.pk]),
                           {"prefix": "1212", "direction": "outbound", "rate_per_minute": "0.02", "connect_fee": "0",
                            "min_billable_seconds": "0", "minimum_cost": "0"})
    assert response.status_code == 400 and "start a correction" in response.content.decode()

    response = client.post(reverse("billing:ratecard-clone", args=[card.pk]), {"kind": "correction"})
    draft = RateCard.objects.get(corrects=card)
    draft_rate = draft.rates.get(prefix="1212")
    response = client.post(reverse("billing:rate-edit", args=[draft_rate.pk]),
                           {"prefix": "1212", "destination": "New York", "direction": "outbound",
                            "rate_per_minute": "0.0240", "connect_fee": "0", "min_billable_seconds": "0",
                            "minimum_cost": "0"})
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("billing:ratecard-preview", args=[draft.pk]))
    run = RatingRun.objects.get(kind="preview")
    page = client.get(response.url).content.decode()
    assert "Confirm correction" in page and "0.0132" in page and "0.0264" in page
    assert CostRecord.objects.get(leg=leg).cost == Decimal("0.0132")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("billing:ratecard-confirm", args=[draft.pk]), {"reason": "wrong NY rate"})
    assert response.status_code == 302
    assert CostRecord.objects.get(leg=leg).cost == Decimal("0.0264")
    assert CostRecord.objects.get(leg=other).cost == Decimal("0.0110")
    assert run.rate_card == draft
    progress = client.get(reverse("billing:run-progress", args=[RatingRun.objects.get(kind="rate",
                                                                                      rate_card=None,
                                                                                      reason__startswith="corr").pk]))
    assert "100%" in progress.content.decode()
    assert AuditEntry.objects.filter(action="billing.ratecard.supersede", reason="wrong NY rate").exists()


@pytest.mark.django_db
def test_new_version_draft_flow_and_retire(client, admin_user_role, priced):
    card, _, _ = priced
    client.force_login(admin_user_role)
    response = client.post(reverse("billing:ratecard-clone", args=[card.pk]),
                           {"kind": "version", "effective_from": "2027-01-01 00:00"})
    draft = RateCard.objects.get(status="draft")
    assert response.status_code == 302 and draft.rates.count() == 2
    response = client.post(reverse("billing:rate-create", args=[draft.pk]),
                           {"prefix": "+44", "destination": "UK", "direction": "outbound", "rate_per_minute": "0.03",
                            "connect_fee": "0", "min_billable_seconds": "0", "minimum_cost": "0"})
    assert response.status_code == 302 and draft.rates.filter(prefix="44").exists()
    client.post(reverse("billing:ratecard-activate", args=[draft.pk]))
    assert RateCard.objects.get(pk=draft.pk).status == "active"
    client.post(reverse("billing:ratecard-retire", args=[draft.pk]), {"effective_to": "2027-06-01 00:00"})
    assert RateCard.objects.get(pk=draft.pk).status == "retired"


@pytest.mark.django_db
def test_rate_search_by_prefix_and_destination(client, viewer, priced):
    card, _, _ = priced
    client.force_login(viewer)
    url = reverse("billing:ratecard-detail", args=[card.pk])
    assert "1 rates" in client.get(url, {"q": "+1212"}).content.decode()
    assert "1 rates" in client.get(url, {"q": "york"}).content.decode()


@pytest.mark.django_db
def test_bad_input_never_500s(client, admin_user_role, priced):
    card, _, _ = priced
    client.force_login(admin_user_role)
    cases = [
        ("post", reverse("billing:ratecard-create"), {"carrier": "x", "effective_from": "nope"}),
        ("post", reverse("billing:ratecard-import"), {"carrier": "", "action": "commit", "token": "../../etc"}),
        ("post", reverse("billing:rate-create", args=[card.pk]), {"prefix": "12ab", "rate_per_minute": "-1"}),
        ("post", reverse("billing:run-create"), {"start": "2026-11-03", "end": "2026-11-02"}),
        ("post", reverse("billing:ratecard-retire", args=[card.pk]), {"effective_to": "x"}),
        ("post", reverse("billing:ratecard-confirm", args=[card.pk]), {"reason": "because"}),
        ("post", reverse("billing:ratecard-preview", args=[card.pk]), {}),
        ("get", reverse("billing:ratecard-detail", args=[card.pk]), {"page": "zz", "direction": "up"}),
        ("get", reverse("billing:ratecard-list"), {"status": "nope"}),
        ("get", reverse("billing:cost-detail", args=[999999]), {}),
    ]
    for method, url, data in cases:
        response = getattr(client, method)(url, data)
        assert response.status_code in (200, 302, 400, 404), (url, response.status_code)
    assert Rate.objects.filter(rate_card=card).count() == 2


@pytest.mark.django_db
def test_rate_period_from_the_ui_runs_and_shows_progress(client, admin_user_role, priced,
                                                        django_capture_on_commit_callbacks):
    client.force_login(admin_user_role)
    CallLegFactory(dnis="+14155550100", talk_s=5)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("billing:run-create"), {"start": "2026-11-02 00:00", "end": "2026-11-03 00:00"})
    run = RatingRun.objects.order_by("-pk").first()
    assert response.url == reverse("billing:run-detail", args=[run.pk])
    assert (run.state, run.processed_legs, run.changed_legs) == ("done", 3, 1)
    assert "100%" in client.get(response.url).content.decode()


@pytest.mark.django_db
def test_carrier_form_moves_the_default_flag_and_audits(client, admin_user_role):
    client.force_login(admin_user_role)
    Carrier.objects.create(name="Old default", is_default=True)
    response = client.post(reverse("billing:carrier-create"), {
        "name": "New default", "currency": "usd", "default_region": "gb", "callid_match": "full",
        "default_increment_first": 60, "default_increment_next": 6, "is_default": "on",
        "duration_tolerance_seconds": 1, "cost_tolerance": "0.0001", "fuzzy_window_seconds": 120})
    assert response.status_code == 302, response.context["form"].errors
    assert list(Carrier.objects.filter(is_default=True).values_list("name", "currency", "default_region")) == [
        ("New default", "USD", "GB")]
    new = Carrier.objects.get(name="New default")
    response = client.post(reverse("billing:carrier-edit", args=[new.pk]), {
        "name": "New default", "currency": "USD", "default_region": "GB", "callid_match": "local_part",
        "default_increment_first": 30, "default_increment_next": 6, "is_default": "on",
        "duration_tolerance_seconds": 1, "cost_tolerance": "0.0001", "fuzzy_window_seconds": 120})
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(action="billing.carrier.update").get()
    assert entry.changes["default_increment_first"] == {"before": 60, "after": 30}


@pytest.mark.django_db
def test_the_decimal_fallback_gives_the_same_costs(priced, monkeypatch):
    from billing import vector

    card, leg, other = priced
    before = dict(CostRecord.objects.values_list("leg_id", "cost"))
    monkeypatch.setattr(vector, "SAFE_SCALED", -1)  # every batch "overflows"
    CostRecord.objects.all().delete()
    services.rate_period(actor="t", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    assert dict(CostRecord.objects.values_list("leg_id", "cost")) == before


@pytest.mark.django_db
def test_create_and_edit_a_draft_card_then_refuse_editing_a_used_one(client, admin_user_role, priced):
    card, _, _ = priced
    client.force_login(admin_user_role)
    fields = {"carrier": card.carrier_id, "name": "Winter deck", "currency": "usd",
              "effective_from": "2027-01-01 00:00", "default_increment_first": 30, "default_increment_next": 6,
              "rounding": "half_up", "seconds_rule": "ceil", "money_decimals": 4, "timezone": "Europe/London"}
    response = client.post(reverse("billing:ratecard-create"), fields)
    draft = RateCard.objects.get(name="Winter deck")
    assert response.status_code == 302
    assert (draft.status, draft.currency, draft.version) == ("draft", "USD", card.version + 1)
    response = client.post(reverse("billing:ratecard-edit", args=[draft.pk]), {**fields, "money_decimals": 6})
    assert response.status_code == 302 and RateCard.objects.get(pk=draft.pk).money_decimals == 6
    response = client.post(reverse("billing:ratecard-edit", args=[card.pk]), {**fields, "name": "Renamed",
                                                                               "effective_from": "2026-10-01 00:00"})
    assert response.status_code == 400 and RateCard.objects.get(pk=card.pk).name != "Renamed"
    response = client.post(reverse("billing:ratecard-create"), {**fields, "money_decimals": 9})
    assert response.status_code == 400
