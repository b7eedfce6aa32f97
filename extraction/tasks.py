"""django-q2 tasks: thin wrappers taking ids; state and resumability live in our tables."""

from __future__ import annotations

from cdrweb.tasks import enqueue
from extraction import services

# A unit stays well inside Q_CLUSTER's timeout (300 s); the run continues in the next unit.
UNIT_SECONDS = 200


def extract_run_task(run_id: int) -> None:
    """Advance one run for a bounded time; re-enqueue itself until the run finishes."""
    outcome = services.advance_run(run_id=run_id, max_seconds=UNIT_SECONDS)
    if outcome is services.Step.MORE:
        enqueue("extraction.tasks.extract_run_task", run_id)


def sweep_orphaned_runs_task() -> int:
    """Re-enqueue runs whose worker died (their lease expired)."""
    return services.sweep_orphaned_runs()


def incremental_run_task(connection_id: int) -> int | None:
    """Start a scheduled run from the connection's watermark; returns the run id (or None)."""
    run = services.start_incremental_run(connection_id=connection_id)
    return run.pk if run else None
