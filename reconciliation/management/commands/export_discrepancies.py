"""Write a run's discrepancies as CSV or as the XLSX dispute package (masked: no reveal from a command)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cdrweb.masking import masker_for_user
from reconciliation import exports
from reconciliation.models import ReconciliationRun


class Command(BaseCommand):
    help = "Export a reconciliation run's discrepancies (csv or xlsx)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--format", choices=["csv", "xlsx"], required=True)
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, run: int, format: str, out: Path, **options) -> None:
        found = ReconciliationRun.objects.select_related("carrier").filter(pk=run).first()
        if found is None:
            raise CommandError(f"unknown run {run}")
        if found.status != ReconciliationRun.Status.DONE:
            raise CommandError(f"run {run} is {found.status}, not done")
        try:
            if format == "csv":
                with open(out, "w", encoding="utf-8", newline="") as handle:
                    count = exports.write_csv(found, handle)
            else:
                count = exports.write_xlsx(found, str(out), masker_for_user(None))
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc}") from exc
        self.stdout.write(f"run {found.pk}: wrote {count} discrepancies to {out} ({format})")
