"""Pages: the role × URL matrix, upload → preview → import, review workflow, masked pages and exports."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cdrweb.models import AuditEntry
from reconciliation import services
from reconciliation.models import CarrierUpload, Discrepancy, ReconciliationRun
from tests.reconciliation.conftest import DATA
from tests.reconciliation.test_services_reconcile import NOV

PAGES = ["reconciliation:upload-list", "reconciliation:run-list", "reconciliation:discrepancy-list"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(("role", "status"), [
    ("administrator", 200), ("analyst", 200), ("viewer", 200), ("auditor", 200), ("none", 403),
])
def test_list_pages_by_role(client, role_users, name, role, status):
    client.force_login(role_users[role])

    assert client.get(reverse(name)).status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "status"), [("analyst", 200), ("administrator", 200), ("viewer", 403),
                                              ("auditor", 403)])
def test_only_analysts_and_admins_upload(client, role_users, role, status):
    client.force_login(role_users[role])

    assert client.get(reverse("reconciliation:upload-create")).status_code == status


@pytest.fixture
def reconciled(wholesale, wholesale_legs, django_capture_on_commit_callbacks):
    services.import_file(path=DATA / "generic_wholesale_cdr.csv", carrier_name="Wholesale",
                         preset="generic_wholesale")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_run(carrier=wholesale, period_start=NOV[0], period_end=NOV[1])
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_analyst_uploads_previews_and_imports(client, analyst, wholesale, django_capture_on_commit_callbacks):
    client.force_login(analyst)
    with open(DATA / "generic_wholesale_cdr.csv", "rb") as handle:
        response = client.post(reverse("reconciliation:upload-create"), {
            "carrier": wholesale.pk, "period_start": "2026-11-01", "period_end": "2026-11-30",
            "file": handle, "preset": "generic_wholesale",
        })
    upload = CarrierUpload.objects.get()
    assert response.status_code == 302
    page = client.get(reverse("reconciliation:upload-detail", args=[upload.pk]))
    assert b"Data-quality preview" in page.content and b"BOM" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reconciliation:upload-confirm", args=[upload.pk]))

    upload.refresh_from_db()
    assert upload.status == "imported" and upload.rows_imported == 12
    poll = client.get(reverse("reconciliation:upload-progress", args=[upload.pk]))
    assert b"imported" in poll.content


@pytest.mark.django_db
def test_upload_form_errors_are_a_400_not_a_500(client, analyst, wholesale):
    client.force_login(analyst)
    with open(DATA / "telnyx_cdr_report.csv", "rb") as handle:
        response = client.post(reverse("reconciliation:upload-create"), {
            "carrier": wholesale.pk, "period_start": "2026-11-01", "period_end": "2026-11-30",
            "file": handle, "preset": "twilio",
        })

    assert response.status_code == 400
    assert b"not in the file header" in response.content


@pytest.mark.django_db
def test_analyst_starts_a_run_from_the_page(client, analyst, wholesale, wholesale_legs,
                                            django_capture_on_commit_callbacks):
    services.import_file(path=DATA / "generic_wholesale_cdr.csv", carrier_name="Wholesale",
                         preset="generic_wholesale")
    client.force_login(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reconciliation:run-create"), {
            "carrier": wholesale.pk, "period_start": "2026-11-01", "period_end": "2026-11-30"})

    run = ReconciliationRun.objects.get()
    assert response.status_code == 302 and run.status == "done"
    page = client.get(reverse("reconciliation:run-detail", args=[run.pk]))
    assert b"Match rate" in page.content and b"double_billed" in page.content


@pytest.mark.django_db
def test_review_workflow_is_audited_and_notes_are_masked_for_viewers(client, analyst, viewer, reconciled):
    d = Discrepancy.objects.get(run=reconciled)
    url = reverse("reconciliation:discrepancy-detail", args=[d.pk])
    client.force_login(analyst)

    response = client.post(url, {"status": "disputed", "assignee": analyst.pk,
                                 "note": "Called +1 312 555 0101 about it"})
    assert response.status_code == 302
    credited = client.post(url, {"status": "credited", "assignee": analyst.pk, "note": ""})
    invalid = client.post(url, {"status": "written_off", "assignee": analyst.pk, "note": ""})

    d.refresh_from_db()
    assert credited.status_code == 302 and d.status == "credited"
    assert invalid.status_code == 400 and b"cannot become written off" in invalid.content
    assert d.notes.get().author == analyst
    assert AuditEntry.objects.filter(action="reconciliation.discrepancy.update", object_id=str(d.pk)).count() == 2

    client.force_login(viewer)
    page = client.get(url)
    assert page.status_code == 200
    assert b"0101 about it" not in page.content and b"REDACTED" in page.content
    assert b"***0150" in page.content and b"17135550150" not in page.content  # C07 callee, masked
    assert client.post(url, {"status": "disputed", "note": ""}).status_code == 403


@pytest.mark.django_db
def test_discrepancy_list_filters_sorts_and_pages(client, viewer, reconciled):
    client.force_login(viewer)

    everything = client.get(reverse("reconciliation:discrepancy-list"), {"run": reconciled.pk, "sort": "-amount"})
    none = client.get(reverse("reconciliation:discrepancy-list"), {"type": "phantom"})
    junk = client.get(reverse("reconciliation:discrepancy-list"), {"min_amount": "lots", "start": "yesterday"})

    assert everything.status_code == 200 and len(everything.context["page"].object_list) == 1
    assert len(none.context["page"].object_list) == 0
    assert junk.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "status"), [("viewer", 200), ("auditor", 200), ("analyst", 200),
                                              ("none", 403)])
def test_exports_need_the_export_permission(client, role_users, reconciled, role, status):
    client.force_login(role_users[role])

    csv_response = client.get(reverse("reconciliation:run-export-csv", args=[reconciled.pk]))
    xlsx_response = client.get(reverse("reconciliation:run-export-xlsx", args=[reconciled.pk]))

    assert csv_response.status_code == status and xlsx_response.status_code == status
    if status == 200:
        body = b"".join(csv_response.streaming_content).decode()
        assert body.splitlines()[0].startswith("discrepancy_id,type,cause,status,carrier,")


@pytest.mark.django_db
def test_rejected_upload_page_and_error_report_scrub_values(client, analyst, viewer, wholesale,
                                                            django_capture_on_commit_callbacks):
    import io

    text = ("id,start,secs,amount\n"
            "a@h,2026-11-03T10:00:00Z,60,0.01\n"
            "b@h,call +1 312 555 0101,60,0.01\n")
    upload = services.create_upload(carrier=wholesale, stream=io.BytesIO(text.encode()), original_name="x.csv",
                                    mapping_fields={"call_id": "id", "start": "start", "duration": "secs",
                                                    "charge": "amount"})
    with django_capture_on_commit_callbacks(execute=True):
        services.confirm_upload(upload=upload)
    client.force_login(viewer)

    page = client.get(reverse("reconciliation:upload-detail", args=[upload.pk]))
    report = client.get(reverse("reconciliation:upload-errors", args=[upload.pk]))

    assert page.status_code == 200 and b"rejected" in page.content.lower()
    body = b"".join(report.streaming_content).decode()
    assert body.splitlines()[0] == "line,column,reason"
    assert body.splitlines()[1].startswith("3,start,")
    assert "555 0101" not in body and "0101" in body  # the number in the reason is masked


@pytest.mark.django_db
def test_custom_mapping_from_an_uploaded_header(client, analyst, wholesale):
    import io

    content = b"ID;When;Secs;Cost\nx;2026-11-03T10:00:00Z;1;0\n"
    upload = services.create_upload(carrier=wholesale, stream=io.BytesIO(content), original_name="odd.csv",
                                    mapping_fields={"start": "When", "duration": "Secs"})
    client.force_login(analyst)
    url = reverse("reconciliation:mapping-create") + f"?upload={upload.pk}"

    form_page = client.get(url)
    response = client.post(url, {"carrier": wholesale.pk, "name": "Odd carrier", "start_format": "iso",
                                 "timezone": "UTC", "duration_unit": "seconds", "call_id": "ID", "start": "When",
                                 "duration": "Secs", "charge": "Cost", "currency": "=EUR", "upload": upload.pk})

    assert b'<option value="When">' in form_page.content
    assert response.status_code == 302
    mapping = wholesale.column_mappings.get()
    assert mapping.fields["currency"] == "=EUR" and mapping.fields["call_id"] == "ID"
