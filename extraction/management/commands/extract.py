"""Extract a period from a connection: queue it for the worker, or run it here with --wait."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from extraction import services
from extraction.models import Connection, ExtractionRun, RunState
from extraction.selectors import run_progress


def parse_instant(value: str) -> datetime:
    """ISO date or date-time; naive values are UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError as exc:
        raise CommandError(f"Not an ISO date/time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Extract [start, end) from a connection. Without --wait the run is queued for the worker."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--connection", required=True, help="connection name")
        parser.add_argument("--start", required=True, help="ISO date/time, UTC unless an offset is given")
        parser.add_argument("--end", required=True, help="ISO date/time (exclusive)")
        parser.add_argument("--wait", action="store_true", help="run in the foreground until done")

    def handle(self, *args, connection, start, end, wait, **options) -> None:
        conn = Connection.objects.filter(name=connection).first()
        if conn is None:
            raise CommandError(f"No connection named {connection!r}")
        try:
            run = services.start_extraction(connection=conn, start=parse_instant(start), end=parse_instant(end),
                                            user="manage.py extract", enqueue_task=not wait)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if not wait:
            self.stdout.write(f"Queued run {run.pk}: {run.chunks.count()} chunks for {conn.name}")
            return
        last = [""]

        def report(r: ExtractionRun) -> None:
            line = run_progress(r).label
            if line != last[0]:
                last[0] = line
                self.stderr.write(f"run {r.pk} {r.state}: {line}")

        try:
            run = services.run_extraction(run_id=run.pk, progress=report)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        summary = (f"Run {run.pk} {run.state}: {run.conversations} conversations, {run.call_legs} call legs, "
                   f"{run.pages_fetched} pages")
        if run.state != RunState.SUCCEEDED:
            raise CommandError(f"{summary}. {run.error}")
        self.stdout.write(summary)
