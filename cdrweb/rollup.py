"""Daily and hourly rollups of the call legs for the finance dashboard, kept current set-based.

A rollup day is recomputed whole: one DELETE and one ``INSERT … SELECT … GROUP BY`` per table over
that day's legs and cost records, never row by row. Recomputing is idempotent, so a task delivered
twice, or a batch retried after a crash, leaves the same rows. Who calls it:

- rating, when a run that changed cost records finishes: the days of its period, once, in the
  transaction that marks the run done (``billing.services.process_rating_run``);
- extraction, when a run finishes (the days of the legs it stored, ``extraction.services``);
- reference-data sync, when it renames legs' queues or wrap-up codes (a full rebuild);
- ``manage.py rebuild_rollup``, which rebuilds everything and marks the rollups as usable, and
  ``schedules.sweep_now`` (run by ``serve`` on start), which builds them once if never built.

The dashboard reads the rollups only after a full build in the current time zone (``is_ready``);
until then it aggregates the legs as before, which is slower but gives the same numbers. Writes the
hooks do not see (rows edited by hand) show after the next rebuild; run ``rebuild_rollup`` after
such changes. Changing ``TIME_ZONE`` makes the rollups unusable until they are rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from cdrweb.db import LocalDate, LocalHour, advisory_xact_lock
from cdrweb.models import DailyLegRollup, HourlyLegRollup, RollupState
from extraction.models import CallLeg

logger = logging.getLogger(__name__)
_LOCK_KEY = 0x726F6C6C  # pg_advisory_xact_lock key of the rollup refreshes ("roll")

# rollup column -> expression over the legs (cost record columns are NULL for unrated legs)
_DAILY = {
    "day": "day",
    "connection_id": "connection_id",
    "platform": "platform",
    "direction": "direction",
    "queue_name": "queue_name",
    "wrapup_name": "wrapup_name",
    "carrier_id": "cost_record__carrier_id",
    "currency": "cost_record__currency",
    "status": "cost_record__status",
    "country": "cost_record__country",
    "number_type": "cost_record__number_type",
}
_HOURLY = {
    "day": "day",
    "hour": "hour",
    "connection_id": "connection_id",
    "platform": "platform",
    "direction": "direction",
    "queue_name": "queue_name",
    "carrier_id": "cost_record__carrier_id",
}
# dashboard filter -> rollup column; any other filter in the URL makes the dashboard read the legs
FILTER_COLUMNS = {
    "connection": "connection",
    "platform": "platform",
    "carrier": "carrier",
    "direction": "direction",
    "queue": "queue_name",
}


def _tz():
    return timezone.get_default_timezone()


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=_tz())


def _legs_on(days: set[date] | None) -> QuerySet[CallLeg]:
    legs = CallLeg.objects.annotate(day=LocalDate("started_at", tzinfo=_tz()))
    if days is None:
        return legs
    legs = legs.filter(started_at__gte=_local_midnight(min(days)),
                       started_at__lt=_local_midnight(max(days) + timedelta(days=1)))
    return legs.filter(day__in=sorted(days))


def _insert_select(table: str, columns: dict[str, str], measures: dict[str, str], source: QuerySet) -> None:
    """INSERT INTO table SELECT … FROM (the grouped queryset): one statement, in the database."""
    sql, params = source.query.sql_with_params()
    names = [*columns, *measures]
    picked = [*(f'src."{alias}"' for alias in columns.values()), *(f'src."{alias}"' for alias in measures.values())]
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ({", ".join(names)}) SELECT {", ".join(picked)} FROM ({sql}) src', params
        )


def _fill(days: set[date] | None) -> None:
    legs = _legs_on(days)
    daily = (
        legs.values(*_DAILY.values())
        .annotate(
            n_calls=Count("pk"),
            n_billed=Sum("cost_record__billable_seconds"),
            n_cost=Sum("cost_record__cost"),
            n_max=Max("cost_record__cost"),
        )
        .order_by()
    )
    _insert_select(
        DailyLegRollup._meta.db_table,
        _DAILY,
        {"calls": "n_calls", "billed_seconds": "n_billed", "cost": "n_cost", "max_cost": "n_max"},
        daily,
    )
    hourly = (
        legs.annotate(hour=LocalHour("started_at", tzinfo=_tz()))
        .values(*_HOURLY.values())
        .annotate(n_calls=Count("pk"))
        .order_by()
    )
    _insert_select(HourlyLegRollup._meta.db_table, _HOURLY, {"calls": "n_calls"}, hourly)


def _serialise() -> None:
    """Refreshes run one at a time (until the enclosing transaction ends): two concurrent ones
    would each delete the day's old rows, not see the other's new rows, and both insert."""
    advisory_xact_lock(_LOCK_KEY)


def refresh_days(days: Iterable[date]) -> int:
    """Recompute the rollup rows of these local days from the legs; returns how many days."""
    wanted = set(days)
    if not wanted:
        return 0
    with transaction.atomic():
        _serialise()
        DailyLegRollup.objects.filter(day__in=sorted(wanted)).delete()
        HourlyLegRollup.objects.filter(day__in=sorted(wanted)).delete()
        _fill(wanted)
        RollupState.objects.update(refreshed_at=timezone.now())  # a new dashboard data_version
    return len(wanted)


def days_between(start: datetime, end: datetime) -> set[date]:
    """The local calendar days that the half-open period [start, end) touches."""
    if not (start and end and end > start):
        return set()
    first = timezone.localtime(start, _tz()).date()
    last = timezone.localtime(end - timedelta(microseconds=1), _tz()).date()
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def refresh_period(start: datetime, end: datetime) -> int:
    """After a rating run changed cost records of legs started in [start, end): recompute those
    days once. (Refreshing after every batch instead re-read every day a batch touched, and
    batches in leg order touch most days of the period: quadratic at a million legs.)"""
    return refresh_days(days_between(start, end))


def refresh_after_extraction(run: Any) -> int:
    """After an extraction run: recompute the days of the legs it stored (upserted legs carry a
    fresh ``extracted_at``) plus the days of its period, where legs may have been removed."""
    since = getattr(run, "started_at", None) or run.created_at
    stored = (
        CallLeg.objects.filter(connection_id=run.connection_id, extracted_at__gte=since)
        .annotate(day=LocalDate("started_at", tzinfo=_tz()))
        .values_list("day", flat=True)
        .distinct()
        .order_by()
    )
    return refresh_days(set(stored) | days_between(run.start, run.end))


def rebuild() -> tuple[int, int]:
    """Rebuild both rollups from every leg and mark them usable; returns (daily rows, hourly rows)."""
    with transaction.atomic():
        _serialise()
        DailyLegRollup.objects.all().delete()
        HourlyLegRollup.objects.all().delete()
        _fill(None)
        RollupState.objects.all().delete()
        now = timezone.now()
        RollupState.objects.create(time_zone=timezone.get_default_timezone_name(), built_at=now, refreshed_at=now)
    counts = (DailyLegRollup.objects.count(), HourlyLegRollup.objects.count())
    logger.info("rollup rebuilt: %s daily rows, %s hourly rows", *counts)
    return counts


def ensure_ready() -> bool:
    """Build the rollups when they were never built in this time zone (``serve`` calls this through
    ``schedules.sweep_now`` before starting, so a new or upgraded database gets them without a
    manual step); returns True when it had to build."""
    if is_ready():
        return False
    rebuild()
    return True


def rebuild_if_ready() -> None:
    """Rebuild after writes the day-by-day hooks cannot place (e.g. a queue renamed on legs of
    any day); a database whose rollups were never built has nothing to keep current."""
    if is_ready():
        rebuild()


def is_ready() -> bool:
    """True when the rollups were built in the time zone the dashboard is using now."""
    state = RollupState.objects.order_by("-built_at").values_list("time_zone", flat=True).first()
    return state is not None and state == timezone.get_current_timezone_name()


def filters_for(data: dict[str, Any]) -> dict[str, Any] | None:
    """The dashboard's cleaned filters as keyword filters on the rollup tables, or None when a
    filter is set that the rollups cannot answer (the dashboard then reads the legs)."""
    from cdrweb.explorer.filters import NONE

    free = {"period", "start", "end", "currency", *FILTER_COLUMNS}
    if any(value not in (None, "") for name, value in data.items() if name not in free):
        return None
    found: dict[str, Any] = {}
    for name, column in FILTER_COLUMNS.items():
        value = data.get(name)
        if value in (None, ""):
            continue
        if name == "queue":
            value = "" if value == NONE else value
        found[column] = value
    return found
