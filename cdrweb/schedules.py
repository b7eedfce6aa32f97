"""Every django-q2 schedule of the product, created idempotently (``manage.py setup_schedules``).

Schedules are rows with a dotted ``func``; ``update_or_create(name=...)`` makes this safe to run
on every start (``make run`` does). Sweepers re-enqueue work whose worker died: the tasks claim
a lease first, so a duplicate delivery exits at once.
"""

from __future__ import annotations

SWEEPERS = {
    "billing-sweeper": "billing.tasks.sweep_rating_runs_task",
    "reconciliation-sweeper": "reconciliation.tasks.resume_stalled_work_task",
    "forecast-sweeper": "cdrweb.forecast.tasks.resume_stalled_forecasts_task",
}

WARMER = "cdrweb.tasks.warm_dashboard_task"


def setup_all(minutes: int = 5) -> int:
    """Create/update the extraction schedules and every app's sweeper; returns how many exist."""
    from django_q.models import Schedule

    from extraction import services as extraction_services

    count = extraction_services.setup_schedules()
    for name, func in SWEEPERS.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
    # the dashboard's common views are drawn for new data before anyone asks (cdrweb.dashboard)
    Schedule.objects.update_or_create(
        name="dashboard-warmer",
        defaults={"func": WARMER, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    return count + len(SWEEPERS) + 1


def sweep_now() -> None:
    """Run every sweeper once (``serve`` does this before starting the worker), so work left by a
    killed worker resumes as soon as the worker is back instead of after the next schedule tick."""
    from django.utils.module_loading import import_string

    from cdrweb import rollup
    from cdrweb.tasks import enqueue
    from extraction import services as extraction_services

    extraction_services.sweep_orphaned_runs()
    rollup.ensure_ready()
    for func in SWEEPERS.values():
        import_string(func)()
    enqueue(WARMER)  # in the worker: a big dashboard takes seconds to draw, serve starts now
