"""Reads for the forecast: daily volume per wrap-up code, recent cost per call, runs and hand-offs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from cdrweb.db import LocalDate, LocalHour
from cdrweb.forecast.models import ForecastPoint, ForecastRun, ForecastSeries, HandoffTarget
from cdrweb.models import AuditEntry
from extraction.models import CallLeg

HANDOFF_ACTION = "forecast.handoff"


@dataclass(frozen=True)
class WrapupCodeChoice:
    code: str
    name: str
    calls: int

    @property
    def label(self) -> str:
        shown = self.name if self.name and self.name != self.code else self.code
        return f"{shown} ({self.calls} calls)"


@dataclass(frozen=True)
class CostPerCall:
    average: Decimal
    calls: int
    currency: str
    other_currencies: tuple[str, ...] = ()


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the site time zone: days are local business days."""
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _legs_with_code(start: date, end: date) -> QuerySet[CallLeg]:
    low, high = _day_bounds(start, end)
    return CallLeg.objects.filter(started_at__gte=low, started_at__lt=high).exclude(wrapup_code="")


def wrapup_code_choices(*, start: date, end: date) -> list[WrapupCodeChoice]:
    """Wrap-up codes seen on legs in [start, end], busiest first; name as synced, else the code."""
    rows = (
        _legs_with_code(start, end)
        .values("wrapup_code")
        .annotate(name=Max("wrapup_name"), calls=Count("external_call_id", distinct=True))
        .order_by("-calls", "wrapup_code")
    )
    return [WrapupCodeChoice(r["wrapup_code"], r["name"] or r["wrapup_code"], r["calls"]) for r in rows]


def wrapup_names(*, codes: list[str]) -> dict[str, str]:
    """Latest known display name per code (the code itself when the platform gave none)."""
    rows = (
        CallLeg.objects.filter(wrapup_code__in=codes)
        .exclude(wrapup_name="")
        .values("wrapup_code")
        .annotate(name=Max("wrapup_name"))
    )
    names = {r["wrapup_code"]: r["name"] for r in rows}
    return {code: names.get(code, code) for code in codes}


def daily_volume(*, codes: list[str], start: date, end: date) -> pd.DataFrame:
    """Calls per local day per code in [start, end], one GROUP BY; a day with no calls has no row.

    A call is a distinct platform call id: a call whose two legs carry the same code counts once.
    """
    rows = (
        _legs_with_code(start, end)
        .filter(wrapup_code__in=codes)
        .annotate(day=LocalDate("started_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "wrapup_code")
        .annotate(calls=Count("external_call_id", distinct=True))
        .order_by()
    )
    return pd.DataFrame.from_records(list(rows), columns=["day", "wrapup_code", "calls"])


def daily_series(frame: pd.DataFrame, *, code: str, start: date, end: date) -> pd.Series:
    """One code's counts on every day of [start, end], zeros filled in."""
    index = pd.date_range(start, end, freq="D")
    mine = frame[frame["wrapup_code"] == code]
    counts = pd.Series(mine["calls"].to_numpy(), index=pd.to_datetime(mine["day"]), dtype=float)
    return counts.reindex(index, fill_value=0.0)


def cost_per_call(*, codes: list[str], start: date, end: date) -> dict[str, CostPerCall]:
    """Average rated cost per call per code over [start, end], in Decimal (one GROUP BY).

    Unrated legs are left out (their cost is unknown, not zero). With several currencies the
    busiest one is used and the others are reported.
    """
    low, high = _day_bounds(start, end)
    rows = (
        CallLeg.objects.filter(
            wrapup_code__in=codes,
            started_at__gte=low,
            started_at__lt=high,
            cost_record__status="rated",
        )
        .values("wrapup_code", "cost_record__currency")
        .annotate(total=Sum("cost_record__cost"), calls=Count("external_call_id", distinct=True))
        .order_by("wrapup_code", "-calls")
    )
    result: dict[str, CostPerCall] = {}
    extra: dict[str, list[str]] = {}
    for row in rows:  # at most a few rows per code: codes × currencies
        code = row["wrapup_code"]
        if code in result:
            extra.setdefault(code, []).append(row["cost_record__currency"])
            continue
        result[code] = CostPerCall(
            average=(Decimal(row["total"]) / row["calls"]).quantize(Decimal("0.000001")),
            calls=row["calls"],
            currency=row["cost_record__currency"],
        )
    for code, currencies in extra.items():
        c = result[code]
        result[code] = CostPerCall(c.average, c.calls, c.currency, tuple(currencies))
    return result


def recent_runs(*, limit: int = 20) -> QuerySet[ForecastRun]:
    return ForecastRun.objects.select_related("created_by")[:limit]


def run_series(*, run: ForecastRun) -> QuerySet[ForecastSeries]:
    return ForecastSeries.objects.filter(run=run).order_by("wrapup_code")


def run_points(*, run: ForecastRun) -> pd.DataFrame:
    """Every point of a run as one frame (one query), for the chart, table and exports."""
    rows = ForecastPoint.objects.filter(series__run=run).values(
        "series__wrapup_code", "series__wrapup_name", "day", "kind", "volume", "lower", "upper",
        "is_outlier", "cost", "cost_lower", "cost_upper",
    ).order_by("series__wrapup_code", "kind", "day")
    columns = ["wrapup_code", "wrapup_name", "day", "kind", "volume", "lower", "upper",
               "is_outlier", "cost", "cost_lower", "cost_upper"]
    frame = pd.DataFrame.from_records(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return frame.rename(columns={"series__wrapup_code": "wrapup_code", "series__wrapup_name": "wrapup_name"})


def active_targets() -> QuerySet[HandoffTarget]:
    return HandoffTarget.objects.filter(is_active=True)


def handoffs_for_run(*, run: ForecastRun) -> QuerySet[AuditEntry]:
    """The audit entries of every hand-off of this run, newest first."""
    return AuditEntry.objects.filter(
        action__startswith=HANDOFF_ACTION, object_type="cdrweb.forecastrun", object_id=str(run.pk)
    )


def hourly_profile(*, codes: list[str], start: date, end: date) -> dict[str, list[float]]:
    """Per code, the share of calls in each local hour of the day (24 values summing to 1)."""
    rows = (
        _legs_with_code(start, end)
        .filter(wrapup_code__in=codes)
        .annotate(hour=LocalHour("started_at", tzinfo=timezone.get_current_timezone()))
        .values("wrapup_code", "hour")
        .annotate(calls=Count("external_call_id", distinct=True))
        .order_by()
    )
    counts: dict[str, list[float]] = {}
    for row in rows:  # at most 24 rows per code
        counts.setdefault(row["wrapup_code"], [0.0] * 24)[row["hour"]] += row["calls"]
    return {code: [c / sum(hours) for c in hours] for code, hours in counts.items() if sum(hours)}


def average_talk_seconds(*, codes: list[str], start: date, end: date) -> dict[str, float]:
    """Mean agent talk time of answered legs per code, in seconds."""
    from django.db.models import Avg

    rows = (
        _legs_with_code(start, end)
        .filter(wrapup_code__in=codes, connected_at__isnull=False, talk_ms__gt=0)
        .values("wrapup_code")
        .annotate(avg_ms=Avg("talk_ms"))
        .order_by()
    )
    return {r["wrapup_code"]: float(r["avg_ms"]) / 1000 for r in rows}
