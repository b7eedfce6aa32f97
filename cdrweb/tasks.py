"""Background task plumbing shared by the apps (django-q2)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

logger = logging.getLogger(__name__)


def enqueue(func: str | Callable, *args, **kwargs) -> None:
    """Queue ``func(*args)`` once the current transaction commits.

    With CDRWEB_TASKS_INLINE (tests, ``--wait`` commands) the function runs inline instead.
    Arguments must be primitives (ids), never model instances: django-q2 pickles them.
    """
    from django_q.tasks import async_task

    def _send() -> None:
        if getattr(settings, "CDRWEB_TASKS_INLINE", False):
            target = func
            if isinstance(func, str):
                module, _, name = func.rpartition(".")
                target = getattr(__import__(module, fromlist=[name]), name)
            target(*args, **kwargs)
        else:
            async_task(func, *args, **kwargs)

    transaction.on_commit(_send)


def claim_lease(model: type[Model], pk: int, *, seconds: int, field: str = "lease_until") -> bool:
    """Take a row's lease with one conditional UPDATE; False when another worker holds it.

    The lease expires by itself, so a killed worker's row is picked up again by the sweeper.
    """
    now = timezone.now()
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now})
    return bool(model.objects.filter(free, pk=pk).update(**{field: now + timedelta(seconds=seconds)}))


def release_lease(model: type[Model], pk: int, *, field: str = "lease_until") -> None:
    model.objects.filter(pk=pk).update(**{field: None})


def warm_dashboard_task() -> int:
    """Scheduled every minute: draw the common dashboard views for the current data."""
    from cdrweb.dashboard import warm_views

    return warm_views()
