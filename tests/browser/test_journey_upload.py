"""In a real browser: an analyst uploads a carrier CSV, checks the data-quality preview, confirms
the import and watches its progress to the end (imported, or rejected with each bad row listed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciliation import services
from reconciliation.models import CarrierCdr, CarrierUpload
from tests.browser_fixtures import login
from tests.reconciliation.factories import CarrierFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The reference sample (reference/carrier-samples/generic_wholesale_cdr.csv, copied for the
# reconciliation tests): 12 data rows with a BOM, one exact duplicate and one credit line.
SAMPLE = Path(__file__).resolve().parents[1] / "reconciliation" / "data" / "generic_wholesale_cdr.csv"
HEADER = (
    "Call-ID,Start Time,Connect Time,Disconnect Time,ANI,DNIS,Direction,Duration (sec),"
    "Billed Duration (sec),Increment,Rate/Min,Amount,Currency,Disconnect Code,Disconnect Reason,"
    "Record Type,Destination,Trunk"
)


def _row(call_id: str, start: str = "2026-11-03T14:05:09+00:00", duration: str = "107") -> str:
    return (
        f"{call_id},{start},,,13125550101,12025550143,OUT,{duration},108,30/6,0.006,0.0108,USD,200,"
        "Normal,CDR,US-INTERSTATE,T"
    )


def _upload_through_the_form(page, live_server, *, carrier: str, path: Path) -> None:
    page.goto(f"{live_server.url}/reconciliation/uploads/")
    page.get_by_role("link", name="Upload a carrier file").click()
    page.wait_for_url("**/reconciliation/uploads/new/")
    page.get_by_label("Carrier", exact=True).select_option(label=carrier)
    page.get_by_label("Period start", exact=True).fill("2026-11-01")
    page.get_by_label("Period end", exact=True).fill("2026-11-30")
    page.get_by_label("File", exact=True).set_input_files(str(path))
    page.get_by_label("Preset", exact=True).select_option(label="Generic wholesale (DIDWW-style)")
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/reconciliation/uploads/*/")


def _confirm_and_wait(page) -> None:
    page.get_by_role("button", name="Confirm and import").click()
    bar = page.get_by_role("progressbar")
    # the partial stops polling (no hx-get) once the import has finished
    page.locator(".progress-block:not([hx-get])").wait_for()
    assert bar.get_attribute("aria-valuenow") == "100"


def test_analyst_uploads_previews_confirms_and_sees_the_import_finish(page, live_server, analyst, shot):
    CarrierFactory(name="Wholesale Voice Ltd")
    login(page, live_server, analyst.username, "pw-" + analyst.username)

    _upload_through_the_form(page, live_server, carrier="Wholesale Voice Ltd", path=SAMPLE)

    assert page.get_by_role("heading", name="Data-quality preview").is_visible()
    kpis = page.locator(".grid").inner_text()
    assert "BOM" in kpis  # the sample starts with a UTF-8 byte-order mark
    assert page.locator(".kpi", has_text="Duplicates").locator("strong").inner_text() == "1"
    assert page.locator(".kpi", has_text="Credit lines").locator("strong").inner_text() == "1"
    assert page.locator(".kpi", has_text="Rows (estimate)").locator("strong").inner_text() == "12"
    assert "previewed" in page.locator(".progress-block").inner_text()
    assert not CarrierCdr.objects.exists()  # nothing imported before the confirmation
    shot(page, "upload-1-preview")

    _confirm_and_wait(page)

    assert "imported" in page.locator(".progress-block .badge").inner_text()
    assert "12 rows imported · 0 bad rows · 1 credit lines" in page.locator("main").inner_text()
    upload = CarrierUpload.objects.get()
    assert (upload.status, upload.rows_imported, upload.rows_error) == ("imported", 12, 0)
    assert CarrierCdr.objects.filter(upload=upload).count() == 12
    assert page.get_by_role("button", name="Confirm and import").count() == 0
    shot(page, "upload-2-imported")


def test_a_file_with_bad_rows_is_rejected_whole_with_line_column_and_reason(page, live_server, analyst, shot, tmp_path):
    CarrierFactory(name="Wholesale Voice Ltd")
    bad = tmp_path / "november.csv"
    bad.write_text(
        "\n".join(
            [
                HEADER,
                _row("good-1@192.0.2.10"),
                _row("bad-date@192.0.2.10", start="03/11/2026 14:05"),
                _row("good-2@192.0.2.10", start="2026-11-04T10:00:00+00:00"),
                _row("negative@192.0.2.10", duration="-5"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    login(page, live_server, analyst.username, "pw-" + analyst.username)

    _upload_through_the_form(page, live_server, carrier="Wholesale Voice Ltd", path=bad)

    preview_errors = page.locator("h3", has_text="Bad rows in the preview")
    assert preview_errors.is_visible()
    shot(page, "upload-3-preview-with-bad-rows")

    _confirm_and_wait(page)

    main = page.locator("main").inner_text()
    assert "rejected" in page.locator(".progress-block .badge").inner_text()
    assert "0 rows imported · 2 bad rows" in main
    errors = page.locator("table", has=page.locator("th", has_text="Reason")).last.locator("tbody tr")
    assert errors.count() == 2
    first, second = errors.nth(0).locator("td"), errors.nth(1).locator("td")
    assert first.nth(0).inner_text() == "3" and second.nth(0).inner_text() == "5"  # file lines, header is 1
    assert page.get_by_role("link", name="Download the error report (CSV)").is_visible()
    assert not CarrierCdr.objects.exists()  # rejected whole: nothing half-imported
    shot(page, "upload-4-rejected")


def test_a_rejected_upload_is_not_badged_as_a_success(page, live_server, analyst, shot):
    carrier = CarrierFactory(name="Wholesale Voice Ltd")
    text = "\n".join([HEADER, _row("bad@192.0.2.10", duration="-5")]) + "\n"
    upload = services.create_upload(
        carrier=carrier, stream=io.BytesIO(text.encode()), original_name="bad.csv", preset="generic_wholesale"
    )
    services.confirm_upload(upload=upload)  # tasks run inline in tests
    assert CarrierUpload.objects.get(pk=upload.pk).status == "rejected"
    login(page, live_server, analyst.username, "pw-" + analyst.username)
    page.goto(f"{live_server.url}/reconciliation/uploads/{upload.pk}/")
    badge = page.locator(".progress-block .badge")
    assert badge.inner_text() == "rejected"
    assert "ok" not in badge.get_attribute("class").split()
