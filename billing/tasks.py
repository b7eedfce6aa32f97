"""django-q2 tasks for billing: thin wrappers taking ids."""

from __future__ import annotations

from billing import services
from billing.models import RatingRun
from cdrweb.tasks import enqueue


def process_rating_run_task(run_id: int) -> None:
    """Rate (or preview) one run's legs from its stored cursor; re-queues itself when out of time."""
    services.process_rating_run(run_id=run_id)


def sweep_rating_runs_task() -> int:
    """Re-queue unfinished runs whose lease expired (a killed worker); returns how many."""
    run_ids = list(RatingRun.objects.filter(services.claimable_runs()).values_list("pk", flat=True))
    for run_id in run_ids:
        enqueue("billing.tasks.process_rating_run_task", run_id)
    return len(run_ids)
