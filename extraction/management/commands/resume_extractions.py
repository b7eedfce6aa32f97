"""Resume interrupted and failed extraction runs in the foreground (what the sweeper does, plus retries)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from extraction import services
from extraction.models import ExtractionRun, RunState


class Command(BaseCommand):
    help = "Finish runs whose worker died (lease expired) and retry failed runs; non-zero if any still fails."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--no-failed", action="store_true", help="leave failed runs alone")

    def handle(self, *args, no_failed, **options) -> None:
        ids = services.orphaned_runs()
        if not no_failed:
            for run_id in ExtractionRun.objects.filter(state=RunState.FAILED).values_list("pk", flat=True):
                services.resume_run(run_id=run_id, user="manage.py resume_extractions", enqueue_task=False)
                ids.append(run_id)
        outcomes: dict[str, int] = {}
        for run_id in sorted(set(ids)):
            run = services.run_extraction(run_id=run_id)
            outcomes[run.state] = outcomes.get(run.state, 0) + 1
        summary = f"Resumed {len(set(ids))} runs: " + (
            ", ".join(f"{n} {state}" for state, n in sorted(outcomes.items())) or "nothing to do")
        if outcomes.get(RunState.FAILED):
            raise CommandError(summary)
        self.stdout.write(summary)
