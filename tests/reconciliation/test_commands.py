"""The three management commands, driven like the acceptance tests: arguments, output, exit status."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import load_workbook

from billing.models import Carrier
from reconciliation.exports import CSV_HEADER
from reconciliation.models import CarrierUpload, Discrepancy, ReconciliationRun
from tests.reconciliation.conftest import DATA, edit_sample


def run_command(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().strip().splitlines()


@pytest.mark.django_db
def test_import_with_a_preset_creates_the_carrier_and_prints_a_summary():
    lines = run_command("import_carrier_cdrs", str(DATA / "vonage_reports_voice_call.csv"),
                        "--carrier", "Vonage EU", "--preset", "vonage")

    carrier = Carrier.objects.get(name="Vonage EU")
    assert carrier.currency == "EUR"  # from the file
    assert lines[0] == "created carrier Vonage EU (EUR)"
    assert lines[-1].startswith("upload ") and "imported 10 rows" in lines[-1]


@pytest.mark.django_db
def test_import_with_a_mapping_file(tmp_path):
    mapping = {"call_id": "Call-ID", "start": "Connect Time", "duration": "Duration (sec)",
               "billed_duration": "Billed Duration (sec)", "charge": "Amount", "from": "ANI", "to": "DNIS",
               "direction": "Direction", "start_format": "iso", "timezone": "UTC", "duration_unit": "seconds",
               "currency": "=USD"}
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping))

    # Connect Time is empty on the busy C03 row: a bad row, so the upload is rejected whole.
    with pytest.raises(CommandError, match="1 bad rows, nothing imported"):
        run_command("import_carrier_cdrs", str(DATA / "generic_wholesale_cdr.csv"), "--carrier", "W",
                    "--mapping", str(path))
    mapping["start"] = "Start Time"
    path.write_text(json.dumps(mapping))
    lines = run_command("import_carrier_cdrs", str(DATA / "generic_wholesale_cdr.csv"), "--carrier", "W",
                        "--mapping", str(path))

    assert "imported 12 rows (1 credit lines" in lines[-1]
    assert CarrierUpload.objects.filter(status="imported").count() == 1


@pytest.mark.django_db
def test_import_errors_exit_non_zero(tmp_path):
    bad = tmp_path / "mapping.json"
    bad.write_text(json.dumps({"start": "Start Time", "duration": "Duration (sec)", "colour": "red"}))
    with pytest.raises(CommandError, match="unknown key 'colour'"):
        run_command("import_carrier_cdrs", str(DATA / "generic_wholesale_cdr.csv"), "--carrier", "W",
                    "--mapping", str(bad))
    with pytest.raises(CommandError, match="no such file"):
        run_command("import_carrier_cdrs", str(tmp_path / "missing.csv"), "--carrier", "W", "--preset", "twilio")
    run_command("import_carrier_cdrs", str(DATA / "twilio_trunking_call_log.csv"), "--carrier", "T",
                "--preset", "twilio")
    with pytest.raises(CommandError, match="already uploaded"):
        run_command("import_carrier_cdrs", str(DATA / "twilio_trunking_call_log.csv"), "--carrier", "T",
                    "--preset", "twilio")
    with pytest.raises(CommandError, match="not in the file header"):
        run_command("import_carrier_cdrs", str(DATA / "telnyx_cdr_report.csv"), "--carrier", "T",
                    "--preset", "twilio")


@pytest.mark.django_db
def test_reconcile_prints_run_id_last_and_refuses_unknown_carriers(wholesale, wholesale_legs):
    run_command("import_carrier_cdrs", str(DATA / "generic_wholesale_cdr.csv"), "--carrier", "Wholesale",
                "--preset", "generic_wholesale")

    lines = run_command("reconcile", "--carrier", "Wholesale", "--start", "2026-11-01", "--end", "2026-12-01")

    run = ReconciliationRun.objects.get()
    assert lines[-1] == f"run {run.pk}"
    assert "10/11 matched" in lines[-2]
    again = run_command("reconcile", "--carrier", "Wholesale", "--start", "2026-11-01T00:00:00Z",
                        "--end", "2026-12-01T00:00:00+00:00")
    assert again[-1] == f"run {run.pk}"  # same carrier and period: the run is redone in place
    with pytest.raises(CommandError, match="unknown carrier"):
        run_command("reconcile", "--carrier", "Nobody", "--start", "2026-11-01", "--end", "2026-12-01")
    with pytest.raises(CommandError, match="not an ISO"):
        run_command("reconcile", "--carrier", "Wholesale", "--start", "November", "--end", "2026-12-01")


@pytest.mark.django_db
def test_exports_have_the_documented_header_and_are_safe_from_formula_injection(
    tmp_path, wholesale, wholesale_legs,
):
    path = edit_sample(tmp_path, "generic_wholesale_cdr.csv", {}, extra_lines=[
        "=HYPERLINK(\"http://evil\")@h,2026-11-05T10:00:00+00:00,,,+13125550101,+15555550100,OUT,600,600,30/6,"
        "0.006000,0.060000,USD,200,Normal,CDR,X,T",
    ])
    run_command("import_carrier_cdrs", str(path), "--carrier", "Wholesale", "--preset", "generic_wholesale")
    run_id = run_command("reconcile", "--carrier", "Wholesale", "--start", "2026-11-01", "--end", "2026-12-01")[-1]
    run_id = run_id.split()[1]

    csv_path, xlsx_path = tmp_path / "d.csv", tmp_path / "d.xlsx"
    lines = run_command("export_discrepancies", "--run", run_id, "--format", "csv", "--out", str(csv_path))
    run_command("export_discrepancies", "--run", run_id, "--format", "xlsx", "--out", str(xlsx_path))

    assert "wrote 2 discrepancies" in lines[-1]
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == CSV_HEADER
    phantom = next(r for r in rows[1:] if r[1] == "phantom")
    assert phantom[6].startswith("'=HYPERLINK")
    assert phantom[15] == "0.060000" and phantom[16] == "USD"
    book = load_workbook(xlsx_path)
    assert book.sheetnames == ["Summary", "Detail"]
    detail = list(book["Detail"].iter_rows(values_only=True))
    assert list(detail[0][: len(CSV_HEADER)]) == CSV_HEADER
    cell = next(r for r in detail[1:] if r[1] == "phantom")
    assert cell[6].startswith("'=")  # stored as text, not a formula
    assert cell[CSV_HEADER.index("carrier_charge")] == pytest.approx(0.06)
    assert "***0100" in cell  # masked number in the evidence columns
    assert Discrepancy.objects.count() == 2


@pytest.mark.django_db
def test_export_of_an_unknown_run_fails(tmp_path):
    with pytest.raises(CommandError, match="unknown run"):
        run_command("export_discrepancies", "--run", "999", "--format", "csv", "--out", str(tmp_path / "x.csv"))


@pytest.mark.django_db
def test_a_refused_file_does_not_leave_a_new_carrier_behind():
    with pytest.raises(CommandError, match="not in the file header"):
        run_command("import_carrier_cdrs", str(DATA / "telnyx_cdr_report.csv"), "--carrier", "Fresh",
                    "--preset", "twilio")

    assert not Carrier.objects.filter(name="Fresh").exists()
