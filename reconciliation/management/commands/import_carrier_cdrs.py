"""Import a carrier CDR file in the foreground with a preset or a mapping JSON (same service as the UI)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from reconciliation.models import CarrierUpload
from reconciliation.presets import PRESETS
from reconciliation.services import import_file


class Command(BaseCommand):
    help = "Import a carrier CDR file (CSV, gzip or zip). Creates the carrier when it does not exist."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--carrier", required=True, help="carrier name")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--preset", choices=sorted(PRESETS), help="built-in column mapping")
        source.add_argument("--mapping", type=Path, help="mapping JSON file")
        parser.add_argument("--timezone", default="", help="IANA zone of local times in the file")

    def handle(self, *args, file: Path, carrier: str, preset: str | None, mapping: Path | None,
               timezone: str, **options) -> None:
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        fields = None
        if mapping is not None:
            try:
                fields = json.loads(mapping.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the mapping JSON {mapping}: {exc}") from exc
        try:
            upload, summary, created = import_file(
                path=file, carrier_name=carrier, preset=preset or "", mapping_fields=fields,
                timezone_name=timezone,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if created:
            self.stdout.write(f"created carrier {upload.carrier.name} ({upload.carrier.currency})")
        preview = upload.preview
        if preview.get("suggested_offset_minutes"):
            self.stdout.write(
                f"warning: start times look shifted by {preview['suggested_offset_minutes']:+d} min "
                "against the platform; check --timezone"
            )
        if summary is None or summary.status != CarrierUpload.Status.IMPORTED:
            errors = upload.row_errors.all()[:20]
            for error in errors:
                self.stderr.write(f"line {error.line} {error.column}: {error.reason}")
            raise CommandError(
                f"upload {upload.pk} {upload.status}: {upload.rows_error} bad rows, nothing imported"
                + (f" ({upload.error})" if upload.error and not upload.rows_error else "")
            )
        self.stdout.write(
            f"upload {upload.pk}: imported {summary.rows_imported} rows ({summary.rows_credit} credit lines, "
            f"{preview.get('duplicates', 0)} duplicates in preview) for {upload.carrier.name}"
        )
