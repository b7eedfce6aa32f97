"""Rate every call leg started in a period, in the foreground (same service as the background task)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing import services
from billing.management.commands._when import parse_instant
from billing.models import Carrier, CostRecord


class Command(BaseCommand):
    help = "Rate legs started in [--start, --end) (UTC); idempotent: unchanged legs are not rewritten."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", required=True)
        parser.add_argument("--end", required=True)
        parser.add_argument("--carrier", default=None, help="only legs this carrier carries")

    def handle(self, *args, **opts) -> None:
        start, end = parse_instant(opts["start"], "--start"), parse_instant(opts["end"], "--end")
        if end <= start:
            raise CommandError("--end must be after --start")
        carrier = None
        if opts["carrier"]:
            carrier = Carrier.objects.filter(name=opts["carrier"]).first()
            if carrier is None:
                raise CommandError(f"no carrier named {opts['carrier']!r}")
        try:
            run = services.rate_period(actor="command:rate", start=start, end=end, carrier=carrier)
        except Exception as exc:
            raise CommandError(f"rating failed: {exc}") from exc
        unrated = CostRecord.objects.filter(
            leg__started_at__gte=start, leg__started_at__lt=end, status=CostRecord.Status.UNRATED
        )
        if carrier:
            unrated = unrated.filter(carrier=carrier)
        self.stdout.write(
            f"Rating run {run.pk}: {run.processed_legs} legs, {run.rated_legs} rated, {run.unrated_legs} unrated"
            f" ({unrated.count()} stored unrated), {run.changed_legs} written"
        )
