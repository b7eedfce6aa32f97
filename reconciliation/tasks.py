"""django-q2 tasks: thin wrappers taking ids; state and resume cursors live on our rows."""

from __future__ import annotations

from reconciliation import services


def import_upload_task(upload_id: int) -> None:
    """Import the next chunks of an upload; re-enqueues itself until done (lease-guarded)."""
    services.import_upload(upload_id=upload_id)


def reconcile_run_task(run_id: int) -> None:
    """Match and flag one reconciliation run, replacing its previous results."""
    services.reconcile_run(run_id=run_id)


def resume_stalled_work_task() -> int:
    """Sweeper schedule: re-enqueue uploads and runs that lost their worker."""
    from reconciliation.sweeper import resume_stalled_work

    return resume_stalled_work()
