"""In a real browser: a viewer sees masked numbers (***dddd) in the call explorer and on a call's
page; an auditor reveals that page with a reason, sees the full numbers there (and only there),
and finds the reveal in the audit log."""

from __future__ import annotations

import re

import pytest

from cdrweb.models import AuditEntry
from tests.explorer.factories import ConversationFactory, ParticipantFactory, at, rated_leg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CALLER, CALLED, CUSTOMER = "+14155550100", "+442079460188", "Jane Customer"
WEEK = "/calls/?period=custom&start=2026-11-02&end=2026-11-08"
REASON = "customer disputes this call on the invoice"


def log_in_at(page, live_server, user, path: str) -> None:
    """Follow a deep link while logged out: the login page, then straight on to that page."""
    page.goto(f"{live_server.url}{path}")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-" + user.username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


@pytest.fixture
def call(db):
    conversation = ConversationFactory()
    ParticipantFactory(conversation=conversation, participant_name=CUSTOMER)
    leg = rated_leg(
        cost="1.25",
        conversation=conversation,
        external_call_id=conversation.conversation_id,
        ani=CALLER,
        dnis=CALLED,
        started_at=at(3, 9, 30),
    )
    rated_leg(cost="0.40", ani=CALLER, dnis="+12125550177", started_at=at(4, 11))
    return leg


def _assert_masked(text: str) -> None:
    assert "***0100" in text and "***0188" in text
    for secret in (CALLER, CALLED, CALLER[1:], CALLED[1:], CUSTOMER):
        assert secret not in text


def test_viewer_sees_masked_numbers_in_the_explorer_and_on_the_call_page(page, live_server, viewer, call, shot):
    log_in_at(page, live_server, viewer, WEEK)
    table = page.locator("table.calls")
    assert table.locator("tbody tr").count() == 2
    _assert_masked(table.inner_text())
    assert re.fullmatch(r"\*\*\*\d{4}", table.locator("tbody tr td").nth(2).inner_text())
    assert page.locator("#reveal-bar").count() == 0  # a viewer may not reveal
    shot(page, "masking-1-viewer-explorer")

    table.get_by_role("link", name="2026-11-03 09:30:00").click()
    page.wait_for_url(f"**/calls/{call.pk}/")
    _assert_masked(page.locator("main").inner_text())
    _assert_masked(page.content())  # not in the HTML either (titles, attributes, scripts)
    assert "REDACTED" in page.locator("section", has_text="Participants").inner_text()
    shot(page, "masking-2-viewer-call")


def test_auditor_reveals_a_call_page_and_the_reveal_is_in_the_audit_log(page, live_server, auditor, call, shot):
    detail = f"/calls/{call.pk}/"
    log_in_at(page, live_server, auditor, detail)
    _assert_masked(page.locator("main").inner_text())
    bar = page.locator("#reveal-bar")
    assert "Personal data is masked." in bar.inner_text()
    shot(page, "masking-3-auditor-before-reveal")

    bar.get_by_label("Reason for revealing").fill(REASON)
    bar.get_by_role("button", name="Reveal on this page").click()
    page.get_by_text("Personal data is shown on this page.").wait_for()

    assert page.url == f"{live_server.url}{detail}"
    facts = page.locator("section", has_text="Call").first.inner_text()
    assert CALLER in facts and CALLED in facts
    assert CUSTOMER in page.locator("section", has_text="Participants").inner_text()
    shot(page, "masking-4-auditor-revealed")

    # the reveal is scoped to that page: the explorer list stays masked
    page.goto(f"{live_server.url}{WEEK}")
    _assert_masked(page.locator("table.calls").inner_text())

    page.get_by_role("navigation", name="main").get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/audit/")
    entry = page.locator("tbody tr", has_text="pii.reveal")
    assert entry.count() == 1
    text = entry.inner_text()
    assert auditor.username in text and f"Revealed personal data on {detail}" in text and REASON in text
    assert AuditEntry.objects.filter(action="pii.reveal", reason=REASON, actor_name=auditor.username).count() == 1
    shot(page, "masking-5-audit-log")
