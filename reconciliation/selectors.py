"""Reads for views, exports and dashboards. They return QuerySets and never format PII."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from reconciliation.models import (
    CarrierCdr,
    CarrierUpload,
    CdrMatch,
    Discrepancy,
    ReconciliationRun,
    UploadRowError,
)


def uploads_for_list() -> QuerySet[CarrierUpload]:
    return CarrierUpload.objects.select_related("carrier", "uploaded_by").order_by("-created_at")


def upload_errors(upload: CarrierUpload) -> QuerySet[UploadRowError]:
    return UploadRowError.objects.filter(upload=upload).order_by("line", "id")


def runs_for_list() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.select_related("carrier").order_by("-created_at")


def discrepancies_for_review(
    *, run_id: int | None = None, types: list[str] | None = None, statuses: list[str] | None = None,
    min_amount: Decimal | None = None, start: date | None = None, end: date | None = None,
    include_superseded: bool = False,
) -> QuerySet[Discrepancy]:
    """Discrepancies with both sides loaded, filtered like the review list."""
    qs = Discrepancy.objects.select_related(
        "run__carrier", "carrier_cdr__upload", "leg__conversation", "assignee"
    )
    if not include_superseded:
        qs = qs.filter(superseded=False)
    if run_id:
        qs = qs.filter(run_id=run_id)
    if types:
        qs = qs.filter(type__in=types)
    if statuses:
        qs = qs.filter(status__in=statuses)
    if min_amount is not None:
        qs = qs.filter(amount_at_stake__gte=min_amount)
    if start:
        qs = qs.filter(start_utc__date__gte=start)
    if end:
        qs = qs.filter(start_utc__date__lte=end)
    return qs


def discrepancy_totals(run: ReconciliationRun) -> list[dict]:
    """Count and amount at stake per type for one run (current results only)."""
    return list(
        Discrepancy.objects.filter(run=run, superseded=False)
        .values("type").annotate(count=Count("id"), amount=Sum("amount_at_stake")).order_by("type")
    )


def match_for_cdr(cdr: CarrierCdr, run: ReconciliationRun) -> CdrMatch | None:
    return CdrMatch.objects.filter(run=run, carrier_cdr=cdr).select_related("leg").first()
