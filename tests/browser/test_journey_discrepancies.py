"""In a real browser: an analyst reviews the discrepancies of a reconciled demo period, filters
them, disputes one with a note, and downloads the XLSX dispute package from the run page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from cdrweb import demo
from reconciliation.models import CarrierCdr, Discrepancy, DiscrepancyNote

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

END = datetime(2026, 11, 2, tzinfo=UTC)
NOTE = "Billed twice for the same call; claim a credit under the contract."
MASKED = re.compile(r"^\*\*\*\d{4}$")


def log_in_at(page, live_server, user, path: str) -> None:
    """Follow a deep link while logged out: the login page, then straight on to that page."""
    page.goto(f"{live_server.url}{path}")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-" + user.username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


@pytest.fixture
def reconciled(tmp_path):
    """Two days of sandbox traffic, extracted, rated, billed by two carriers with injected errors, reconciled."""
    summary = demo.generate_demo_data(days=2, calls_per_day=20, seed=3, end=END, port=0, workdir=tmp_path)
    assert Discrepancy.objects.filter(type="double_billed").exists(), summary.discrepancies
    return summary


def test_analyst_filters_disputes_with_a_note_and_exports_the_dispute_package(
    page, live_server, analyst, auditor, browser, reconciled, shot, tmp_path
):
    log_in_at(page, live_server, analyst, "/reconciliation/runs/")
    page.get_by_role("navigation", name="main").get_by_role("link", name="Discrepancies").click()
    page.wait_for_url("**/reconciliation/discrepancies/")
    rows = page.locator("main table tbody tr")
    total = rows.count()

    page.get_by_label("Double billed").check()
    page.get_by_label("Open").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"type=double_billed"))
    expected = Discrepancy.objects.filter(type="double_billed", status="open").count()
    assert 0 < rows.count() == expected < total
    assert set(rows.locator("td:nth-child(3)").all_inner_texts()) == {"Double billed"}
    shot(page, "discrepancies-1-filtered")

    rows.first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/reconciliation/discrepancies/\d+/$"))
    d = Discrepancy.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert page.get_by_role("heading", level=1).inner_text().startswith("Double billed")
    # the carrier's numbers are masked for an analyst (no reveal permission)
    carrier_card = page.locator(".card", has=page.get_by_role("heading", name="Carrier row")).inner_text()
    assert re.search(r"\*\*\*\d{4} → \*\*\*\d{4}", carrier_card)
    shot(page, "discrepancies-2-detail")

    page.get_by_label("Status").select_option(label="Disputed")
    page.get_by_label("Note").fill(NOTE)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Discrepancy updated.").wait_for()

    assert page.locator("main > p .badge").first.inner_text() == "Disputed"
    note = page.locator("main ul li").filter(has_text=analyst.username)
    assert note.count() == 1
    # notes are free text: masked for every role without the reveal permission, the analyst included
    assert "REDACTED" in note.inner_text() and NOTE not in page.content()
    d.refresh_from_db()
    assert d.status == "disputed"
    assert DiscrepancyNote.objects.get(discrepancy=d).text == NOTE
    shot(page, "discrepancies-3-disputed")

    page.get_by_role("link", name=f"run #{d.run_id}").click()
    page.wait_for_url(f"**/reconciliation/runs/{d.run_id}/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Dispute package (XLSX)").click()
    download = info.value
    assert download.suggested_filename.endswith(f"-run{d.run_id}.xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    shot(page, "discrepancies-4-run")

    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["Summary", "Detail"]
    detail = list(book["Detail"].iter_rows(values_only=True))
    header, body = detail[0], detail[1:]
    assert len(body) == Discrepancy.objects.filter(run_id=d.run_id).count()
    by_id = {row[header.index("discrepancy_id")]: row for row in body}
    assert by_id[d.pk][header.index("status")] == "disputed"
    for column in ("carrier_from", "carrier_to"):
        values = {row[header.index(column)] for row in body} - {None, ""}
        assert values and all(MASKED.match(v) for v in values), (column, values)
    numbers = {n.lstrip("+") for n in CarrierCdr.objects.values_list("from_raw", flat=True)} | {
        n.lstrip("+") for n in CarrierCdr.objects.values_list("to_raw", flat=True)
    }
    cells = " ".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v)
    assert not [n for n in numbers if n and n in cells]  # no full number anywhere in the package
    book.close()

    # an auditor (reveal permission) reveals the discrepancy page and reads the note in full
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        other = context.new_page()
        log_in_at(other, live_server, auditor, f"/reconciliation/discrepancies/{d.pk}/")
        assert NOTE not in other.content()
        other.get_by_label("Reason for revealing").fill("checking the dispute note")
        other.get_by_role("button", name="Reveal on this page").click()
        other.get_by_text(NOTE).wait_for()
        shot(other, "discrepancies-5-note-revealed")
    finally:
        context.close()
