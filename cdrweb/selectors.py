from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from cdrweb.models import AuditEntry


def audit_entries(
    *, user=None, action: str = "", start: dt.date | None = None, end: dt.date | None = None
) -> QuerySet[AuditEntry]:
    """Audit entries newest first, filtered by user, action and an inclusive date range."""
    qs = AuditEntry.objects.select_related("actor")
    if user is not None:
        qs = qs.filter(actor=user)
    if action:
        qs = qs.filter(action=action)
    if start:
        qs = qs.filter(at__date__gte=start)
    if end:
        qs = qs.filter(at__date__lte=end)
    return qs
