"""In a real browser: an administrator corrects a wrong rate (correct → edit the rate → re-rate
preview with the calls affected and the money difference → confirm) and sees re-rating finish
and the call's cost change."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from billing import services
from billing.models import CostRecord, RateCard, RatingRun
from tests.billing.factories import T0, CallLegFactory, RateCardFactory, RateFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in_at(page, live_server, user, path: str) -> None:
    """Follow a deep link while logged out: the login page, then straight on to that page."""
    page.goto(f"{live_server.url}{path}")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-" + user.username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


def _shown_cost(page) -> tuple[Decimal, str]:
    amount, currency = page.locator(".cost-explanation h2").inner_text().split()
    return Decimal(amount), currency


@pytest.fixture
def priced(db):
    """A 60/6 card (USA 0.0100, New York 0.0120 per minute) that priced two 61 s calls."""
    card = RateCardFactory(default_increment_first=60, default_increment_next=6)
    RateFactory(rate_card=card, prefix="1", rate_per_minute=Decimal("0.0100"))
    RateFactory(rate_card=card, prefix="1212", destination="New York", rate_per_minute=Decimal("0.0120"))
    new_york = CallLegFactory(dnis="+12125550177", talk_s=61)
    elsewhere = CallLegFactory(dnis="+14155550188", talk_s=61)
    services.rate_period(actor="test", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    return card, new_york, elsewhere


def test_admin_corrects_a_rate_previews_the_re_rate_confirms_and_sees_the_cost_change(
    page, live_server, admin_user_role, priced, shot
):
    card, new_york, elsewhere = priced
    # 61 s under 60/6 bills 66 s: 0.0120 × 66 / 60 = 0.0132 (rating.md §3)
    log_in_at(page, live_server, admin_user_role, f"/billing/costs/{new_york.pk}/")
    assert _shown_cost(page) == (Decimal("0.0132"), "USD")
    shot(page, "rate-1-cost-before")

    page.get_by_role("link", name=f"Rate card v{card.version}").click()
    page.wait_for_url(f"**/billing/cards/{card.pk}/")
    page.get_by_role("button", name="Start a correction").click()
    page.get_by_text("Correction draft").wait_for()
    draft = RateCard.objects.get(corrects=card)
    assert page.url.endswith(f"/billing/cards/{draft.pk}/")

    page.locator("tbody tr", has_text="New York").get_by_role("link", name="Edit").click()
    page.get_by_label("Rate per minute").fill("0.0240")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Rate saved.").wait_for()
    assert "0.024" in page.locator("tbody tr", has_text="New York").inner_text()
    shot(page, "rate-2-draft-edited")

    page.get_by_role("button", name="Preview re-rate").click()
    page.wait_for_url(re.compile(r"/billing/runs/\d+/$"))
    page.get_by_role("button", name="Confirm correction and re-rate").wait_for()
    kpi = page.locator(".kpi", has_text="Calls whose cost changes").locator("strong")
    assert kpi.inner_text() == "1"
    carrier_row = page.locator("tbody tr", has_text=card.carrier.name).first.locator("td")
    # calls changed, cost before, cost after, difference (money to the cent, and beyond)
    assert [Decimal(carrier_row.nth(i).inner_text()) for i in (1, 2, 3, 4)] == [
        Decimal("1"),
        Decimal("0.0132"),
        Decimal("0.0264"),
        Decimal("0.0132"),
    ]
    assert CostRecord.objects.get(leg=new_york).cost == Decimal("0.0132")  # a preview changes nothing
    shot(page, "rate-3-preview")

    page.get_by_label("Reason", exact=True).fill("New York rate keyed as 0.012, contract says 0.024")
    page.get_by_role("button", name="Confirm correction and re-rate").click()
    page.get_by_text("re-rating the calls it covers").wait_for()
    page.locator(".progress-block:not([hx-get])").wait_for()
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "100"
    assert page.locator(".progress-block .badge").inner_text() == "done"
    rerun = RatingRun.objects.exclude(kind=RatingRun.Kind.PREVIEW).latest("pk")
    assert page.url.endswith(f"/billing/runs/{rerun.pk}/")
    shot(page, "rate-4-rerated")

    page.goto(f"{live_server.url}/billing/costs/{new_york.pk}/")
    assert _shown_cost(page) == (Decimal("0.0264"), "USD")
    assert page.get_by_role("link", name=f"Rate card v{draft.version}").is_visible()
    shot(page, "rate-5-cost-after")
    assert CostRecord.objects.get(leg=new_york).cost == Decimal("0.0264")
    assert CostRecord.objects.get(leg=elsewhere).cost == Decimal("0.0110")  # USA rate untouched
