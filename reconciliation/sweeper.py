"""Pick up uploads and runs whose worker died (lease expired) or whose task was lost."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from cdrweb.tasks import enqueue
from reconciliation.models import CarrierUpload, ReconciliationRun


def resume_stalled_work() -> int:
    """Re-enqueue queued/importing uploads and queued/running runs that no worker holds.

    Safe to run at any time: the tasks claim a lease first, so a duplicate exits at once.
    """
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
    uploads = list(
        CarrierUpload.objects.filter(free, status__in=[CarrierUpload.Status.QUEUED, CarrierUpload.Status.IMPORTING])
        .values_list("pk", flat=True)
    )
    runs = list(
        ReconciliationRun.objects.filter(
            free, status__in=[ReconciliationRun.Status.QUEUED, ReconciliationRun.Status.RUNNING]
        ).values_list("pk", flat=True)
    )
    for pk in uploads:
        enqueue("reconciliation.tasks.import_upload_task", pk)
    for pk in runs:
        enqueue("reconciliation.tasks.reconcile_run_task", pk)
    return len(uploads) + len(runs)
