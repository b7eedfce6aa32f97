"""Reconcile one carrier and period in the foreground; the last output line is ``run <ID>``."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing.models import Carrier
from reconciliation import services
from reconciliation.models import ReconciliationRun


def parse_instant(text: str, name: str) -> datetime:
    """An ISO date or datetime; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--{name} is not an ISO date/time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Match a carrier's imported CDRs against platform legs for [start, end) and flag discrepancies."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--carrier", required=True)
        parser.add_argument("--start", required=True, help="ISO date/time, inclusive (UTC if naive)")
        parser.add_argument("--end", required=True, help="ISO date/time, exclusive (UTC if naive)")

    def handle(self, *args, carrier: str, start: str, end: str, **options) -> None:
        found = Carrier.objects.filter(name=carrier).first()
        if found is None:
            raise CommandError(f"unknown carrier {carrier!r}")
        period_start, period_end = parse_instant(start, "start"), parse_instant(end, "end")
        try:
            run = services.start_run(carrier=found, period_start=period_start, period_end=period_end,
                                     background=False)
            services.reconcile_run(run_id=run.pk)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except Exception as exc:
            raise CommandError(f"reconciliation failed: {exc}") from exc
        run.refresh_from_db()
        if run.status != ReconciliationRun.Status.DONE:
            raise CommandError(f"run {run.pk} ended {run.status}: {run.error}")
        summary = run.summary
        self.stdout.write(
            f"{run.carrier.name} {period_start:%Y-%m-%d}..{period_end:%Y-%m-%d}: {run.matched}/{run.carrier_rows} "
            f"matched ({run.match_rate:.1f}%), {run.discrepancy_count} discrepancies, overbilled "
            f"{summary.get('overbilled_total', '0')} {run.carrier.currency}"
        )
        self.stdout.write(f"run {run.pk}")
