"""Lighter carrier rows (issue 5): the raw record as text, and no indexes that no query needs.

- ``raw`` (jsonb of the whole record) becomes ``raw_line``, the record's text in the file's own
  delimiter; ``CarrierCdr.raw`` reads it back with the upload's header. Existing rows are converted.
- ``carriercdr_sip_call_id`` goes: nothing filters carrier rows by the full Call-ID (matching joins
  on ``sip_call_id_local``). The single-column ``upload_id`` and ``carrier_id`` indexes go too: the
  unique (upload, line_number) and (carrier, start_utc) indexes lead with those columns.
- ``carrier_id`` loses its foreign-key constraint: it is the upload's carrier, copied for the
  (carrier, start_utc) index, and a per-row check of it cost about a quarter of the COPY time.
"""

import csv
import io

import django.db.models.deletion
from django.db import migrations, models

BATCH = 2000


def _delimiter(upload) -> str:
    value = (upload.preview or {}).get("delimiter", ",")
    return "\t" if value == "tab" else value


def raw_to_line(apps, schema_editor):
    CarrierCdr = apps.get_model("reconciliation", "CarrierCdr")
    CarrierUpload = apps.get_model("reconciliation", "CarrierUpload")
    for upload in CarrierUpload.objects.filter(cdrs__isnull=False).distinct().iterator():
        header = (upload.preview or {}).get("header") or []
        delimiter = _delimiter(upload)
        batch = []
        for pk, raw in CarrierCdr.objects.filter(upload=upload).values_list("pk", "raw").iterator(chunk_size=BATCH):
            raw = raw or {}
            names = header or list(raw)
            text = io.StringIO()
            csv.writer(text, delimiter=delimiter, lineterminator="").writerow([raw.get(n, "") for n in names])
            batch.append(CarrierCdr(pk=pk, raw_line=text.getvalue()))
            if len(batch) >= BATCH:
                CarrierCdr.objects.bulk_update(batch, ["raw_line"])
                batch = []
        CarrierCdr.objects.bulk_update(batch, ["raw_line"])


def line_to_raw(apps, schema_editor):
    CarrierCdr = apps.get_model("reconciliation", "CarrierCdr")
    CarrierUpload = apps.get_model("reconciliation", "CarrierUpload")
    for upload in CarrierUpload.objects.filter(cdrs__isnull=False).distinct().iterator():
        header = (upload.preview or {}).get("header") or []
        delimiter = _delimiter(upload)
        batch = []
        for pk, line in CarrierCdr.objects.filter(upload=upload).values_list("pk", "raw_line").iterator(
            chunk_size=BATCH
        ):
            row = next(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter), [])
            batch.append(CarrierCdr(pk=pk, raw=dict(zip(header, row, strict=False))))
            if len(batch) >= BATCH:
                CarrierCdr.objects.bulk_update(batch, ["raw"])
                batch = []
        CarrierCdr.objects.bulk_update(batch, ["raw"])


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0001_initial"),
        ("reconciliation", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="carriercdr",
            name="raw_line",
            field=models.TextField(blank=True, editable=False, help_text="the record as written in the file"),
        ),
        migrations.RunPython(raw_to_line, line_to_raw, elidable=True),
        migrations.RemoveField(
            model_name="carriercdr",
            name="raw",
        ),
        migrations.RemoveIndex(
            model_name="carriercdr",
            name="carriercdr_sip_call_id",
        ),
        migrations.AlterField(
            model_name="carriercdr",
            name="carrier",
            field=models.ForeignKey(
                db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="cdrs",
                to="billing.carrier",
            ),
        ),
        migrations.AlterField(
            model_name="carriercdr",
            name="upload",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="cdrs",
                to="reconciliation.carrierupload",
            ),
        ),
    ]
