"""Aggregates for the finance dashboard, computed in the database (GROUP BY), returned as DataFrames.

Every selector takes the legs already narrowed by the URL filters (without the period) and the
period, so the same code serves the current and the previous period. Money sums only count cost
records in one currency: adding euros to dollars is never right.

The three leg aggregates (daily_totals, cost_breakdown, calls_by_hour_weekday) also accept
``rollup``: the same filters as keyword arguments on the rollup tables (``cdrweb.rollup``). They then
sum the daily/hourly rollup rows instead of scanning the legs, with identical results.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from django.db import connection
from django.db.models import Count, DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import (
    Coalesce,
    ExtractIsoWeekDay,
    TruncMonth,
)
from django.utils import timezone

from billing.models import Carrier, CostRecord
from cdrweb.db import LocalDate, LocalHour
from cdrweb.explorer.periods import Period, months_back
from cdrweb.explorer.selectors import OPEN_STATUSES, overbilled_discrepancies
from cdrweb.models import DailyLegRollup, HourlyLegRollup, RollupState
from extraction.models import CallLeg
from reconciliation.models import CarrierCdr, Discrepancy

ZERO = Decimal("0")
_MONEY = DecimalField(max_digits=24, decimal_places=6)
TOP_CALLS = 20
OVERBILLED_MONTHS = 6


def in_period(legs: QuerySet[CallLeg], period: Period) -> QuerySet[CallLeg]:
    """Legs that started within the period (local calendar days)."""
    return legs.filter(started_at__gte=period.start_at, started_at__lt=period.end_at)


def _in_currency(currency: str) -> Q:
    return Q(cost_record__currency=currency, cost_record__status=CostRecord.Status.RATED)


@dataclass(frozen=True)
class Kpis:
    """The headline numbers of one period; money in ``currency`` (Decimal)."""

    total_cost: Decimal
    calls: int
    billed_seconds: int
    unrated_legs: int
    overbilled_open: Decimal

    @property
    def billed_minutes(self) -> Decimal:
        return (Decimal(self.billed_seconds) / 60).quantize(Decimal("0.01"))

    @property
    def cost_per_minute(self) -> Decimal | None:
        if not self.billed_seconds:
            return None
        return (self.total_cost * 60 / Decimal(self.billed_seconds)).quantize(Decimal("0.0001"))


# --- one GROUP BY per day, carrier, currency and rating status ---------------------------------
# The KPIs (this period and the previous one), cost per day, the carrier table and the currency
# list are all cut from this small frame, so the legs are scanned once instead of five times.

_TOTALS = ["day", "carrier_id", "carrier", "currency", "status", "calls", "billed_seconds", "cost"]


def _rolled_days(model, period: Period, rollup: dict[str, Any]) -> QuerySet:
    return model.objects.filter(day__gte=period.start, day__lte=period.end, **rollup)


def daily_totals(legs: QuerySet[CallLeg], period: Period, *, rollup: dict[str, Any] | None = None) -> pd.DataFrame:
    """Columns day, carrier_id, carrier, currency, status ('' = no cost record yet), calls,
    billed_seconds, cost (Decimal): one row per day, carrier, currency and rating status."""
    tz = timezone.get_current_timezone()
    if rollup is not None:
        rows = (
            _rolled_days(DailyLegRollup, period, rollup)
            .values("day", "carrier_id", "carrier__name", "currency", "status")
            .annotate(n_calls=Sum("calls"), n_billed=Sum("billed_seconds"), n_cost=Sum("cost"))
            .order_by()
            .values_list("day", "carrier_id", "carrier__name", "currency", "status", "n_calls", "n_billed", "n_cost")
        )
    else:
        rows = (
            in_period(legs, period)
            .annotate(day=LocalDate("started_at", tzinfo=tz))
            .values(
                "day",
                "cost_record__carrier_id",
                "cost_record__carrier__name",
                "cost_record__currency",
                "cost_record__status",
            )
            .annotate(calls=Count("pk"), billed=Sum("cost_record__billable_seconds"), cost=Sum("cost_record__cost"))
            .order_by()
            .values_list(
                "day",
                "cost_record__carrier_id",
                "cost_record__carrier__name",
                "cost_record__currency",
                "cost_record__status",
                "calls",
                "billed",
                "cost",
            )
        )
    frame = _frame(rows, _TOTALS)
    frame["currency"] = frame["currency"].fillna("")
    frame["status"] = frame["status"].fillna("")
    frame["billed_seconds"] = frame["billed_seconds"].fillna(0).astype(int)
    frame["cost"] = frame["cost"].map(lambda v: ZERO if v is None or pd.isna(v) else v)
    return frame


def _days(totals: pd.DataFrame, period: Period) -> pd.DataFrame:
    if totals.empty:
        return totals
    return totals[(totals["day"] >= period.start) & (totals["day"] <= period.end)]


def _rated_in(totals: pd.DataFrame, currency: str) -> pd.DataFrame:
    return totals[(totals["status"] == CostRecord.Status.RATED) & (totals["currency"] == currency)]


def _decimal_sum(values) -> Decimal:
    return sum(values, ZERO)


def currencies(totals: pd.DataFrame, period: Period) -> list[str]:
    """Currencies of the rated legs in the period, the most used first."""
    rated = _days(totals, period)
    rated = rated[(rated["status"] == CostRecord.Status.RATED) & (rated["currency"] != "")]
    if rated.empty:
        return []
    counts = rated.groupby("currency")["calls"].sum().reset_index()
    counts = counts.sort_values(["calls", "currency"], ascending=[False, True])
    return list(counts["currency"])


def kpis(totals: pd.DataFrame, period: Period, *, currency: str, overbilled_open: Decimal) -> Kpis:
    """Total cost, calls, billed seconds and unrated legs of the period, from ``daily_totals``."""
    days = _days(totals, period)
    rated = _rated_in(days, currency)
    unrated = days[days["status"] != CostRecord.Status.RATED]
    return Kpis(
        total_cost=_decimal_sum(rated["cost"]),
        calls=int(days["calls"].sum()),
        billed_seconds=int(rated["billed_seconds"].sum()),
        unrated_legs=int(unrated["calls"].sum()),
        overbilled_open=overbilled_open,
    )


def cost_per_day(totals: pd.DataFrame, period: Period, *, currency: str) -> pd.DataFrame:
    """Columns day, carrier_id, carrier, cost (Decimal), calls: one row per day and carrier."""
    rated = _rated_in(_days(totals, period), currency)
    if rated.empty:
        return pd.DataFrame(columns=["day", "carrier_id", "carrier", "cost", "calls"])
    grouped = (
        rated.groupby(["day", "carrier_id", "carrier"], dropna=False)
        .agg(cost=("cost", _decimal_sum), calls=("calls", "sum"))
        .reset_index()
        .sort_values(["day", "carrier"])
        .reset_index(drop=True)
    )
    return grouped[["day", "carrier_id", "carrier", "cost", "calls"]]


def overbilled_open(discrepancies: QuerySet[Discrepancy], period: Period, *, currency: str) -> Decimal:
    """Overbilled money still open or disputed in the period."""
    row = (
        overbilled_in_period(discrepancies, period)
        .filter(status__in=OPEN_STATUSES, currency=currency)
        .aggregate(total=Coalesce(Sum("amount_at_stake"), Value(ZERO), output_field=_MONEY))
    )
    return row["total"]


def scoped_discrepancies(
    legs: QuerySet[CallLeg], *, carrier: Carrier | None, leg_filters: bool
) -> QuerySet[Discrepancy]:
    """Overbilled discrepancies under the dashboard filters, annotated with ``happened_at``.

    A phantom charge has no leg of ours, so it is only shown while no leg attribute is filtered;
    its time is the discrepancy's start, else the leg's, else the carrier row's.
    """
    # Subqueries, not joins: COALESCE runs them only for rows without a start of their own, where
    # a LEFT JOIN made PostgreSQL hash the whole leg table for a few thousand discrepancies.
    leg_start = CallLeg.objects.filter(pk=OuterRef("leg_id")).values("started_at")[:1]
    cdr_start = CarrierCdr.objects.filter(pk=OuterRef("carrier_cdr_id")).values("start_utc")[:1]
    found = overbilled_discrepancies().annotate(
        happened_at=Coalesce("start_utc", Subquery(leg_start), Subquery(cdr_start))
    )
    if carrier is not None:
        found = found.filter(run__carrier=carrier)
    if leg_filters:
        found = found.filter(leg__in=legs)
    return found


def overbilled_in_period(discrepancies: QuerySet[Discrepancy], period: Period) -> QuerySet[Discrepancy]:
    return discrepancies.filter(happened_at__gte=period.start_at, happened_at__lt=period.end_at)


def _frame(rows, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=columns)


# --- one GROUP BY per destination country, number type, queue and wrap-up ----------------------
# The four breakdown charts are cut from it. Its size is bounded by the distinct combinations
# actually called (hundreds to a few thousand), not by the number of legs.


def cost_breakdown(
    legs: QuerySet[CallLeg], period: Period, *, currency: str, rollup: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Columns country, number_type, queue, wrapup, cost (Decimal), calls; rated legs in ``currency``."""
    if rollup is not None:
        rows = (
            _rolled_days(DailyLegRollup, period, rollup)
            .filter(currency=currency, status=CostRecord.Status.RATED)
            .values("country", "number_type", "queue_name", "wrapup_name")
            .annotate(n_cost=Sum("cost"), n_calls=Sum("calls"))
            .order_by()
            .values_list("country", "number_type", "queue_name", "wrapup_name", "n_cost", "n_calls")
        )
        return _frame(rows, ["country", "number_type", "queue", "wrapup", "cost", "calls"])
    rows = (
        in_period(legs, period)
        .filter(_in_currency(currency))
        .values("cost_record__country", "cost_record__number_type", "queue_name", "wrapup_name")
        .annotate(cost=Sum("cost_record__cost"), calls=Count("pk"))
        .order_by()
        .values_list("cost_record__country", "cost_record__number_type", "queue_name", "wrapup_name", "cost", "calls")
    )
    return _frame(rows, ["country", "number_type", "queue", "wrapup", "cost", "calls"])


def _cost_by(breakdown: pd.DataFrame, column: str, limit: int | None) -> pd.DataFrame:
    if breakdown.empty:
        return pd.DataFrame(columns=["key", "cost", "calls"])
    grouped = (
        breakdown.groupby(column)
        .agg(cost=("cost", _decimal_sum), calls=("calls", "sum"))
        .reset_index()
        .rename(columns={column: "key"})
    )
    # costliest first; ties by name so the order is stable
    grouped = grouped.sort_values(["cost", "key"], ascending=[False, True]).reset_index(drop=True)
    return grouped.head(limit) if limit else grouped


def cost_by_country(breakdown: pd.DataFrame) -> pd.DataFrame:
    """Columns key (ISO country, '' when unknown), cost, calls; the 25 costliest."""
    return _cost_by(breakdown, "country", 25)


def cost_by_number_type(breakdown: pd.DataFrame) -> pd.DataFrame:
    """Columns key (fixed/mobile/toll_free/other/unknown), cost, calls."""
    return _cost_by(breakdown, "number_type", None)


def cost_by_queue(breakdown: pd.DataFrame) -> pd.DataFrame:
    """Columns key (queue name, '' for none), cost, calls; the 20 costliest."""
    return _cost_by(breakdown, "queue", 20)


def cost_by_wrapup(breakdown: pd.DataFrame) -> pd.DataFrame:
    """Columns key (wrap-up name, '' for none), cost, calls; the 20 costliest."""
    return _cost_by(breakdown, "wrapup", 20)


def calls_by_hour_weekday(
    legs: QuerySet[CallLeg], period: Period, *, rollup: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Columns weekday (1 = Monday), hour (0-23, site time zone), calls; all legs, rated or not."""
    tz = timezone.get_current_timezone()
    if rollup is not None:
        rows = (
            _rolled_days(HourlyLegRollup, period, rollup)
            .annotate(weekday=ExtractIsoWeekDay("day"))
            .values("weekday", "hour")
            .annotate(n_calls=Sum("calls"))
            .order_by("weekday", "hour")
            .values_list("weekday", "hour", "n_calls")
        )
        return _frame(rows, ["weekday", "hour", "calls"])
    rows = (
        in_period(legs, period)
        .annotate(weekday=ExtractIsoWeekDay("started_at", tzinfo=tz), hour=LocalHour("started_at", tzinfo=tz))
        .values("weekday", "hour")
        .annotate(calls=Count("pk"))
        .order_by("weekday", "hour")
        .values_list("weekday", "hour", "calls")
    )
    return _frame(rows, ["weekday", "hour", "calls"])


def overbilled_by_month(discrepancies: QuerySet[Discrepancy], period: Period, *, currency: str) -> pd.DataFrame:
    """Columns month (first day), carrier_id, carrier, amount: all overbilled discrepancies (any
    status) of the six months ending with the period's last month, for the trend."""
    tz = timezone.get_current_timezone()
    window = Period(months_back(period.end, OVERBILLED_MONTHS), period.end)
    rows = (
        overbilled_in_period(discrepancies, window)
        .filter(currency=currency)
        .annotate(month=TruncMonth("happened_at", tzinfo=tz))
        .values("month", "run__carrier_id", "run__carrier__name")
        .annotate(amount=Sum("amount_at_stake"))
        .order_by("month", "run__carrier__name")
        .values_list("month", "run__carrier_id", "run__carrier__name", "amount")
    )
    frame = _frame(rows, ["month", "carrier_id", "carrier", "amount"])
    if not frame.empty:
        # TruncMonth gives a datetime on PostgreSQL and SQLite alike; the chart wants the date
        frame["month"] = frame["month"].map(lambda m: timezone.localtime(m).date() if hasattr(m, "hour") else m)
    return frame


def overbilled_by_carrier(discrepancies: QuerySet[Discrepancy], period: Period, *, currency: str) -> pd.DataFrame:
    """Columns carrier_id, carrier, overbilled (any status), overbilled_open (open or disputed)."""
    rows = (
        overbilled_in_period(discrepancies, period)
        .filter(currency=currency)
        .values("run__carrier_id", "run__carrier__name")
        .annotate(amount=Sum("amount_at_stake"), open=Sum("amount_at_stake", filter=Q(status__in=OPEN_STATUSES)))
        .order_by()
        .values_list("run__carrier_id", "run__carrier__name", "amount", "open")
    )
    frame = _frame(rows, ["carrier_id", "carrier", "overbilled", "overbilled_open"])
    frame["overbilled_open"] = frame["overbilled_open"].map(lambda v: ZERO if v is None or pd.isna(v) else v)
    return frame


def carrier_summary(totals: pd.DataFrame, overbilled: pd.DataFrame, period: Period, *, currency: str) -> pd.DataFrame:
    """Columns carrier_id, carrier, cost, calls, billed_seconds, overbilled, overbilled_open;
    the costliest carrier first. ``totals`` from daily_totals, ``overbilled`` from overbilled_by_carrier."""
    rated = _rated_in(_days(totals, period), currency)
    if rated.empty:
        costs = pd.DataFrame(columns=["carrier_id", "carrier", "cost", "calls", "billed_seconds"])
    else:
        costs = (
            rated.groupby(["carrier_id", "carrier"], dropna=False)
            .agg(cost=("cost", _decimal_sum), calls=("calls", "sum"), billed_seconds=("billed_seconds", "sum"))
            .reset_index()
        )
    over = overbilled.rename(columns={"carrier": "carrier_o"})
    merged = costs.merge(over, on="carrier_id", how="outer")
    if merged.empty:
        return merged.reindex(columns=[*costs.columns, "overbilled", "overbilled_open"])
    merged["carrier"] = merged["carrier"].fillna(merged["carrier_o"])
    merged = merged.drop(columns=["carrier_o"])
    for column in ("cost", "overbilled", "overbilled_open"):
        merged[column] = merged[column].map(lambda v: ZERO if v is None or pd.isna(v) else v)
    for column in ("calls", "billed_seconds"):
        merged[column] = merged[column].fillna(0).astype(int)
    return merged.sort_values(["cost", "carrier"], ascending=[False, True]).reset_index(drop=True)


def _top_cost_floor(period: Period, *, currency: str, rollup: dict[str, Any]) -> Decimal | None:
    """A cost the 20 costliest legs reach for sure: the 20th largest rollup-row maximum (20 rows,
    so 20 distinct legs, cost at least that much). None when fewer rows: no bound then."""
    maxima = (
        _rolled_days(DailyLegRollup, period, rollup)
        .filter(currency=currency, status=CostRecord.Status.RATED, max_cost__isnull=False)
        .order_by("-max_cost")
        .values_list("max_cost", flat=True)[TOP_CALLS - 1 : TOP_CALLS]
    )
    return next(iter(maxima), None)


def top_costly_calls(
    legs: QuerySet[CallLeg], period: Period, *, currency: str, rollup: dict[str, Any] | None = None
) -> list[CallLeg]:
    """The 20 costliest legs of the period with cost record and carrier, each with ``overbilled``
    (its overbilled amount, None if none): two queries, the second only for those 20 legs. With
    ``rollup`` (see daily_totals) one more tiny query bounds the cost, so few legs are sorted."""
    found = in_period(legs, period).filter(_in_currency(currency))
    floor = _top_cost_floor(period, currency=currency, rollup=rollup) if rollup is not None else None
    if floor is not None:
        found = found.filter(cost_record__cost__gte=floor)
    top = list(
        found.select_related("cost_record", "cost_record__carrier").order_by("-cost_record__cost", "-started_at", "pk")[
            :TOP_CALLS
        ]
    )
    amounts = (
        dict(
            overbilled_discrepancies()
            .filter(leg__in=[leg.pk for leg in top])
            .order_by()
            .values("leg")
            .annotate(total=Sum("amount_at_stake"))
            .values_list("leg", "total")
        )
        if top
        else {}
    )
    for leg in top:
        leg.overbilled = amounts.get(leg.pk)
    return top


def data_version() -> str:
    """A cheap fingerprint of the data behind the dashboard: it changes when legs arrive, a rating
    run makes progress, the rollups are refreshed (a rating or extraction run finishing) or a
    discrepancy is found or changes status. One round trip of eight scalar subqueries (each a
    MAX/SUM/COUNT over a primary key or a small table). It starts with "None:" exactly when there
    are no legs at all."""
    from billing.models import RatingRun

    legs, runs, found, state = (
        connection.ops.quote_name(m._meta.db_table) for m in (CallLeg, RatingRun, Discrepancy, RollupState)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(id) FROM {legs}), (SELECT MAX(id) FROM {runs}),"  # noqa: S608 - table names
            f" (SELECT SUM(processed_legs) FROM {runs}), (SELECT COUNT(*) FROM {runs}),"
            f" (SELECT MAX(id) FROM {found}), (SELECT MAX(updated_at) FROM {found}), (SELECT COUNT(*) FROM {found}),"
            f" (SELECT MAX(refreshed_at) FROM {state})"
        )
        row = cursor.fetchone()
    return ":".join(str(value) for value in row)


def has_legs(version: str) -> bool:
    """Whether any leg exists, read from a data_version (its first part is the largest leg id)."""
    return not version.startswith("None:")
