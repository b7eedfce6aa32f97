"""Imports: bad rows with line/column/reason, rejection whole, same file twice, gzip/zip, resume."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import date

import pytest
from django.core.exceptions import ValidationError

from reconciliation import services
from reconciliation.models import CarrierCdr, CarrierUpload, UploadRowError
from tests.reconciliation.conftest import DATA
from tests.reconciliation.factories import CarrierFactory

HEADER = "Call-ID,Start Time,Connect Time,Disconnect Time,ANI,DNIS,Direction,Duration (sec),Billed Duration (sec)," \
         "Increment,Rate/Min,Amount,Currency,Disconnect Code,Disconnect Reason,Record Type,Destination,Trunk"


def row(call_id="a1@h", start="2026-11-03T14:05:09+00:00", duration="107", billed="108", amount="0.0108",
        direction="OUT", currency="USD") -> str:
    return (f"{call_id},{start},,,13125550101,12025550143,{direction},{duration},{billed},30/6,0.006,{amount},"
            f"{currency},200,Normal,CDR,X,T")


def upload_text(text: str | bytes, *, name="cdrs.csv", chunk_rows=20_000, **kwargs) -> CarrierUpload:
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    carrier = CarrierFactory(name="Wholesale")
    return services.create_upload(carrier=carrier, stream=io.BytesIO(data), original_name=name,
                                  preset=kwargs.pop("preset", "generic_wholesale"), chunk_rows=chunk_rows, **kwargs)


def confirm(upload, capture) -> CarrierUpload:
    with capture(execute=True):
        services.confirm_upload(upload=upload)
    upload.refresh_from_db()
    return upload


@pytest.mark.django_db
def test_bad_rows_are_reported_with_line_column_reason_and_the_upload_is_rejected_whole(
    django_capture_on_commit_callbacks,
):
    lines = [
        HEADER,
        row(call_id="good@h"),
        row(call_id="bad-date@h", start="03/11/2026 14:05"),
        row(call_id="neg@h", duration="-5"),
        row(call_id="nan@h", amount="12abc"),
        row(call_id="short@h").rsplit(",", 3)[0],  # too few fields
        row(call_id="x" * 5000),  # a huge field
        row(call_id="cur@h", currency="dollars"),
    ]
    upload = upload_text("\n".join(lines) + "\n")

    assert upload.preview["sample_error_count"] == 6
    upload = confirm(upload, django_capture_on_commit_callbacks)

    assert upload.status == CarrierUpload.Status.REJECTED
    assert upload.rows_error == 6
    assert CarrierCdr.objects.filter(upload=upload).count() == 0  # nothing half-written
    errors = {(e.line, e.column): e.reason for e in UploadRowError.objects.filter(upload=upload).order_by("-id")}
    assert "not a valid time" in errors[(3, "Start Time")]
    assert errors[(4, "Duration (sec)")] == "negative duration"
    assert "not a number" in errors[(5, "Amount")]
    assert errors[(6, "")] == "has 15 fields, the header has 18"
    assert "longer than" in errors[(7, "Call-ID")]
    assert errors[(8, "Currency")] == "longer than 3 characters"
    assert UploadRowError.objects.filter(upload=upload, line=8, reason="not a 3-letter currency code").exists()


@pytest.mark.django_db
def test_undecodable_bytes_are_a_row_error_not_a_crash(django_capture_on_commit_callbacks):
    text = (HEADER + "\n" + row(call_id="ok@h") + "\n").encode("utf-8") + row(call_id="bad@h").encode(
        "utf-8").replace(b"Normal", b"Norm\xe9l\xff") + b"\n"
    text = text + ("\n".join(row(call_id=f"c{i}@h") for i in range(3))).encode("utf-8") + b"\n"

    mapping = {"call_id": "Call-ID", "start": "Start Time", "duration": "Duration (sec)", "charge": "Amount",
               "currency": "Currency", "encoding": "utf-8"}
    upload = confirm(upload_text(text, preset="", mapping_fields=mapping), django_capture_on_commit_callbacks)

    error = UploadRowError.objects.get(upload=upload)
    assert (error.line, error.column) == (3, "Disconnect Reason")
    assert "encoding" in error.reason
    assert upload.status == CarrierUpload.Status.REJECTED


@pytest.mark.django_db
def test_a_file_that_is_not_utf8_is_read_as_windows_1252(django_capture_on_commit_callbacks):
    text = (HEADER + "\n" + row(call_id="ok@h").replace("Normal", "Réseau") + "\n").encode("cp1252")

    upload = confirm(upload_text(text), django_capture_on_commit_callbacks)

    assert upload.preview["encoding"] == "cp1252"
    assert CarrierCdr.objects.get(upload=upload).raw["Disconnect Reason"] == "Réseau"


@pytest.mark.django_db
def test_missing_mapped_columns_refuse_the_file_before_anything_is_stored():
    with pytest.raises(ValidationError) as err:
        upload_text("Call-ID,Start Time\nabc,2026-11-03T14:05:09Z\n")

    assert "'Billed Duration (sec)'" in " ".join(err.value.messages)
    assert not CarrierUpload.objects.exists()


@pytest.mark.django_db
def test_the_same_file_twice_is_refused_by_content_hash(django_capture_on_commit_callbacks):
    content = (DATA / "generic_wholesale_cdr.csv").read_bytes()
    first = confirm(upload_text(content, name="nov.csv"), django_capture_on_commit_callbacks)
    assert first.status == CarrierUpload.Status.IMPORTED

    with pytest.raises(ValidationError, match=f"upload #{first.pk}"):
        upload_text(content, name="renamed.csv")
    assert CarrierUpload.objects.count() == 1


@pytest.mark.django_db
def test_a_cancelled_preview_does_not_block_the_same_file():
    content = (DATA / "generic_wholesale_cdr.csv").read_bytes()
    upload = upload_text(content)
    services.cancel_upload(upload=upload)

    again = upload_text(content)

    assert again.status == CarrierUpload.Status.PREVIEWED


@pytest.mark.django_db
@pytest.mark.parametrize("wrapper", ["gzip", "zip"])
def test_gzip_and_zip_files_are_unwrapped(wrapper, django_capture_on_commit_callbacks):
    content = (DATA / "flowroute_cdr_export.csv").read_bytes()
    if wrapper == "gzip":
        data = gzip.compress(content)
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("export/cdrs.csv", content)
        data = buffer.getvalue()

    upload = confirm(upload_text(data, name=f"cdrs.{wrapper}", preset="flowroute"), django_capture_on_commit_callbacks)

    assert upload.preview["compression"] == wrapper
    assert upload.status == CarrierUpload.Status.IMPORTED
    assert upload.rows_imported == 11


@pytest.mark.django_db
def test_an_interrupted_import_resumes_at_its_cursor_without_duplicates():
    content = (DATA / "generic_wholesale_cdr.csv").read_bytes()  # 12 data rows
    upload = upload_text(content, chunk_rows=5)
    CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.QUEUED)

    # A zero time budget stops after one chunk, like a worker killed between chunks.
    assert services.import_upload(upload_id=upload.pk, time_budget=0) is None
    upload.refresh_from_db()
    assert (upload.status, upload.chunks_done, upload.rows_imported) == ("importing", 1, 5)
    # Staged rows are not visible to runs until the upload is imported.
    assert CarrierCdr.objects.filter(upload__status="imported").count() == 0

    summary = services.import_upload(upload_id=upload.pk, time_budget=None)
    summary_again = services.import_upload(upload_id=upload.pk, time_budget=None)  # a duplicate delivery

    assert summary.status == "imported" and summary.rows_imported == 12
    assert summary_again.rows_imported == 12
    assert CarrierCdr.objects.filter(upload=upload).count() == 12
    assert sorted(CarrierCdr.objects.filter(upload=upload).values_list("line_number", flat=True)) == list(range(2, 14))


@pytest.mark.django_db
def test_a_held_lease_makes_a_second_worker_exit():
    from cdrweb.tasks import claim_lease

    upload = upload_text((DATA / "generic_wholesale_cdr.csv").read_bytes())
    assert claim_lease(CarrierUpload, upload.pk, seconds=60)

    assert services.import_upload(upload_id=upload.pk) is None
    assert CarrierCdr.objects.count() == 0


@pytest.mark.django_db
def test_local_times_in_the_repeated_dst_hour_are_imported_and_flagged(django_capture_on_commit_callbacks):
    mapping = {"call_id": "id", "start": "start", "duration": "secs", "charge": "amount",
               "timezone": "America/New_York", "start_format": "%Y-%m-%d %H:%M:%S"}
    text = "id,start,secs,amount\nx1@h,2026-11-01 01:30:00,60,0.01\nx2@h,2026-11-01 03:30:00,60,0.01\n"
    upload = upload_text(text, preset="", mapping_fields=mapping)
    upload = confirm(upload, django_capture_on_commit_callbacks)

    ambiguous = CarrierCdr.objects.get(upload=upload, sip_call_id="x1@h")
    plain = CarrierCdr.objects.get(upload=upload, sip_call_id="x2@h")
    assert ambiguous.start_ambiguous is True
    assert ambiguous.start_utc.isoformat() == "2026-11-01T05:30:00+00:00"  # the first (EDT) reading
    assert plain.start_utc.isoformat() == "2026-11-01T08:30:00+00:00"  # EST after the change
    assert upload.preview["ambiguous_times"] == 1


@pytest.mark.django_db
def test_preview_reports_period_range_and_empty_vs_zero_durations():
    upload = upload_text((DATA / "twilio_trunking_call_log.csv").read_bytes(), preset="twilio",
                         period_start=date(2026, 11, 1), period_end=date(2026, 11, 3))
    preview = upload.preview

    assert preview["outside_period"] == 2  # C09 and C10 are on 4 November
    assert preview["empty_durations"] == 1 and preview["zero_durations"] == 0
    assert preview["duplicates"] == 1
    assert preview["first_start_utc"].startswith("2026-11-03T14:05:15")


@pytest.mark.django_db
def test_unknown_mapping_key_is_an_error():
    with pytest.raises(ValidationError, match="unknown key 'colour'"):
        upload_text("a,b\n1,2\n", preset="", mapping_fields={"start": "a", "duration": "b", "colour": "red"})


@pytest.mark.django_db
def test_backslashes_tabs_line_breaks_and_money_survive_the_bulk_write_exactly(django_capture_on_commit_callbacks):
    from decimal import Decimal

    # A quoted field may hold a tab, a line break, a backslash or the text "\N" (COPY's null marker).
    tricky = '"a\\b\tc@h",2026-11-03T14:05:09+00:00,,,13125550101,12025550143,OUT,61,66,30/6,0.006,' \
             '0.0066,USD,200,"line one\nline two \\N",CDR,X,T'
    text = "\n".join([HEADER, tricky, row(call_id="plain@h", amount="12.345678", duration="")]) + "\n"
    upload = confirm(upload_text(text), django_capture_on_commit_callbacks)

    assert upload.status == "imported" and upload.rows_imported == 2
    odd = CarrierCdr.objects.get(upload=upload, line_number=2)
    assert odd.sip_call_id == "a\\b\tc@h"
    assert odd.raw["Disconnect Reason"] == "line one\nline two \\N"
    assert (odd.charge, odd.rate_per_minute, odd.duration_seconds, odd.billed_seconds) == (
        Decimal("0.0066"), Decimal("0.006"), 61, 66)
    plain = CarrierCdr.objects.get(upload=upload, sip_call_id="plain@h")
    assert plain.line_number == 4  # the quoted line break makes the first record two lines long
    assert plain.charge == Decimal("12.345678") and plain.duration_seconds is None
    assert plain.start_utc.isoformat() == "2026-11-03T14:05:09+00:00"
