"""Forecast workflows: start a run, compute it (resumable, idempotent), export it, hand it off."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cdrweb import audit
from cdrweb.forecast import engine, selectors, webhook
from cdrweb.forecast.models import ForecastPoint, ForecastRun, ForecastSeries, HandoffTarget
from cdrweb.tasks import claim_lease, enqueue, release_lease

logger = logging.getLogger(__name__)

LEASE_SECONDS = 300
MAX_CODES = 10
MIN_LOOKBACK_DAYS = engine.MIN_HISTORY_DAYS
MAX_LOOKBACK_DAYS = 730
COST_LOOKBACK_DAYS = 30
CENT = Decimal("0.01")
PAYLOAD_SCHEMA = "cdrweb.forecast/1"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _volume(value: float) -> Decimal:
    # Predicted volumes are floats from statsmodels; go through a rounded string so the Decimal
    # product carries no binary noise.
    return Decimal(f"{float(value):.6f}")


def start_forecast_run(
    *,
    user: Any,
    wrapup_codes: list[str],
    horizon_days: int,
    confidence_pct: int,
    lookback_days: int,
    as_of: date | None = None,
) -> ForecastRun:
    """Validate the request, store a queued run and enqueue its task. History ends the day before ``as_of``."""
    errors: list[str] = []
    codes = list(dict.fromkeys(c for c in wrapup_codes if c))
    if not codes:
        errors.append("Pick at least one wrap-up code.")
    if len(codes) > MAX_CODES:
        errors.append(f"Pick at most {MAX_CODES} wrap-up codes per forecast ({len(codes)} picked).")
    for check, value in ((engine.validate_horizon, horizon_days), (engine.validate_confidence, confidence_pct)):
        try:
            check(value)
        except engine.SeriesError as exc:
            errors.append(str(exc))
    if not MIN_LOOKBACK_DAYS <= lookback_days <= MAX_LOOKBACK_DAYS:
        errors.append(
            f"The history window must be between {MIN_LOOKBACK_DAYS} and {MAX_LOOKBACK_DAYS} days."
        )
    if errors:
        raise ValidationError(errors)
    as_of = as_of or timezone.localdate()
    history_end = as_of - timedelta(days=1)  # today is not over yet: a partial day looks like a dip
    run = ForecastRun.objects.create(
        created_by=user if getattr(user, "is_authenticated", False) else None,
        wrapup_codes=codes,
        horizon_days=horizon_days,
        confidence_pct=confidence_pct,
        history_start=history_end - timedelta(days=lookback_days - 1),
        history_end=history_end,
        cost_lookback_days=COST_LOOKBACK_DAYS,
        codes_total=len(codes),
    )
    logger.info("forecast run %s queued: %d codes, %d days", run.pk, len(codes), horizon_days)
    enqueue("cdrweb.forecast.tasks.run_forecast_task", run.pk)
    return run


def execute_forecast_run(*, run_id: int) -> ForecastRun | None:
    """Compute every code of a run not yet stored; safe to run twice (codes already done are skipped).

    Returns None when another worker holds the run's lease.
    """
    if not claim_lease(ForecastRun, run_id, seconds=LEASE_SECONDS):
        logger.info("forecast run %s is leased by another worker", run_id)
        return None
    try:
        run = ForecastRun.objects.get(pk=run_id)
        if run.state == ForecastRun.State.DONE:
            return run
        ForecastRun.objects.filter(pk=run_id).update(
            state=ForecastRun.State.RUNNING, started_at=run.started_at or timezone.now(), error=""
        )
        done = set(ForecastSeries.objects.filter(run=run).values_list("wrapup_code", flat=True))
        todo = [code for code in run.wrapup_codes if code not in done]
        if todo:
            frame = selectors.daily_volume(codes=todo, start=run.history_start, end=run.history_end)
            costs = selectors.cost_per_call(
                codes=todo,
                start=max(run.history_start, run.history_end - timedelta(days=run.cost_lookback_days - 1)),
                end=run.history_end,
            )
            names = selectors.wrapup_names(codes=todo)
            for code in todo:
                history = selectors.daily_series(frame, code=code, start=run.history_start, end=run.history_end)
                _store_series(run=run, code=code, name=names[code], history=history, cost=costs.get(code))
        ForecastRun.objects.filter(pk=run_id).update(
            state=ForecastRun.State.DONE, finished_at=timezone.now(), codes_done=len(run.wrapup_codes)
        )
        logger.info("forecast run %s done (%d codes computed)", run_id, len(todo))
    except Exception as exc:
        logger.error("forecast run %s failed", run_id, exc_info=exc)
        ForecastRun.objects.filter(pk=run_id).update(
            state=ForecastRun.State.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
        )
    finally:
        release_lease(ForecastRun, run_id)
    return ForecastRun.objects.get(pk=run_id)


def _trim_leading_zeros(history: pd.Series) -> pd.Series:
    """History starts at the code's first call: days before the code existed are not zero demand."""
    nonzero = history[history > 0]
    return history.loc[nonzero.index[0]:] if len(nonzero) else history.iloc[0:0]


@transaction.atomic
def _store_series(
    *, run: ForecastRun, code: str, name: str, history: pd.Series, cost: selectors.CostPerCall | None
) -> ForecastSeries:
    """Forecast one code and write its series and points with the progress counter, in one transaction."""
    history = _trim_leading_zeros(history)
    values: dict[str, Any] = {
        "wrapup_name": name,
        "history_days": len(history),
        "nonzero_days": int((history > 0).sum()),
    }
    points: list[ForecastPoint] = []
    try:
        result = engine.forecast_series(
            history, horizon_days=run.horizon_days, confidence_pct=run.confidence_pct, label=name
        )
    except engine.SeriesError as exc:
        series, _ = ForecastSeries.objects.update_or_create(
            run=run, wrapup_code=code,
            defaults={**values, "status": ForecastSeries.Status.INVALID, "message": str(exc)},
        )
        points = _history_points(series, history, pd.Series(False, index=history.index))
    else:
        series, _ = ForecastSeries.objects.update_or_create(
            run=run, wrapup_code=code, defaults={**values, **_series_fields(result, cost)}
        )
        points = _history_points(series, history, result.outliers)
        points += _forecast_points(series, result, cost)
    ForecastPoint.objects.filter(series=series).delete()
    ForecastPoint.objects.bulk_create(points, batch_size=500)
    ForecastRun.objects.filter(pk=run.pk).update(codes_done=ForecastSeries.objects.filter(run=run).count())
    return series


def _series_fields(result: engine.SeriesForecast, cost: selectors.CostPerCall | None) -> dict[str, Any]:
    notes = list(result.notes)
    fields: dict[str, Any] = {
        "status": ForecastSeries.Status.OK,
        "outlier_days": int(result.outliers.sum()),
        "seasonality_score": result.seasonality_score,
        "is_seasonal": result.is_seasonal,
        "method": result.method,
        "backtest_mape": result.backtest.mape if result.backtest else None,
        "backtest_smape": result.backtest.smape if result.backtest else None,
        "forecast_volume": float(result.mean.sum()),
        "forecast_volume_lower": float(result.lower.sum()),
        "forecast_volume_upper": float(result.upper.sum()),
    }
    if cost is None:
        notes.append("No rated calls in the cost window: expected cost unknown.")
        fields.update(avg_cost_per_call=None, cost_sample_calls=0, currency="",
                      expected_cost=None, expected_cost_lower=None, expected_cost_upper=None)
    else:
        if cost.other_currencies:
            notes.append(f"Cost in {cost.currency} only; calls rated in {', '.join(cost.other_currencies)} left out.")
        # The horizon band is the sum of the daily bounds: wider (more cautious) than the exact
        # interval of the total, since daily errors partly cancel out.
        fields.update(
            avg_cost_per_call=cost.average,
            cost_sample_calls=cost.calls,
            currency=cost.currency,
            expected_cost=sum((_money(_volume(v) * cost.average) for v in result.mean), Decimal("0")),
            expected_cost_lower=sum((_money(_volume(v) * cost.average) for v in result.lower), Decimal("0")),
            expected_cost_upper=sum((_money(_volume(v) * cost.average) for v in result.upper), Decimal("0")),
        )
    fields["message"] = " ".join(notes)
    return fields


def _history_points(series: ForecastSeries, history: pd.Series, outliers: pd.Series) -> list[ForecastPoint]:
    return [
        ForecastPoint(series=series, day=day.date(), kind=ForecastPoint.Kind.HISTORY,
                      volume=float(value), is_outlier=bool(outliers.loc[day]))
        for day, value in history.items()
    ]


def _forecast_points(
    series: ForecastSeries, result: engine.SeriesForecast, cost: selectors.CostPerCall | None
) -> list[ForecastPoint]:
    avg = cost.average if cost else None
    points = []
    if result.backtest is not None:
        points += [
            ForecastPoint(series=series, day=day.date(), kind=ForecastPoint.Kind.BACKTEST, volume=float(v))
            for day, v in result.backtest.predicted.items()
        ]
    for day, mean in result.mean.items():
        low, high = result.lower.loc[day], result.upper.loc[day]
        points.append(ForecastPoint(
            series=series, day=day.date(), kind=ForecastPoint.Kind.FORECAST,
            volume=float(mean), lower=float(low), upper=float(high),
            cost=_money(_volume(mean) * avg) if avg is not None else None,
            cost_lower=_money(_volume(low) * avg) if avg is not None else None,
            cost_upper=_money(_volume(high) * avg) if avg is not None else None,
        ))
    return points


def resume_stalled_runs() -> int:
    """Re-enqueue queued/running runs whose lease expired (worker killed); for a sweeper schedule."""
    stale = ForecastRun.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now()),
        state__in=[ForecastRun.State.QUEUED, ForecastRun.State.RUNNING],
        created_at__lt=timezone.now() - timedelta(seconds=LEASE_SECONDS),
    ).values_list("pk", flat=True)
    ids = list(stale)
    for run_id in ids:
        enqueue("cdrweb.forecast.tasks.run_forecast_task", run_id)
    return len(ids)


# --- export ---------------------------------------------------------------------------------


def _str_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def forecast_payload(*, run: ForecastRun) -> dict[str, Any]:
    """The run as a JSON-ready dict: money as decimal strings, days as ISO dates (2 queries)."""
    points = selectors.run_points(run=run)
    forecast = points[points["kind"] == ForecastPoint.Kind.FORECAST]
    outliers = points[(points["kind"] == ForecastPoint.Kind.HISTORY) & points["is_outlier"].astype(bool)]
    series_out = []
    for s in selectors.run_series(run=run):
        mine = forecast[forecast["wrapup_code"] == s.wrapup_code]
        series_out.append({
            "wrapup_code": s.wrapup_code,
            "wrapup_name": s.wrapup_name,
            "status": s.status,
            "message": s.message,
            "method": s.method,
            "history_days": s.history_days,
            "seasonality_score": s.seasonality_score,
            "weekly_seasonality": s.is_seasonal,
            "outlier_days": [d.isoformat() for d in outliers[outliers["wrapup_code"] == s.wrapup_code]["day"]],
            "backtest": {"days": engine.BACKTEST_DAYS, "mape_pct": s.backtest_mape, "smape_pct": s.backtest_smape},
            "avg_cost_per_call": _str_or_none(s.avg_cost_per_call),
            "currency": s.currency,
            "expected_cost": {
                "mean": _str_or_none(s.expected_cost),
                "lower": _str_or_none(s.expected_cost_lower),
                "upper": _str_or_none(s.expected_cost_upper),
            },
            "days": [
                {
                    "date": row.day.isoformat(),
                    "volume": round(row.volume, 2),
                    "lower": round(row.lower, 2),
                    "upper": round(row.upper, 2),
                    "cost": _str_or_none(row.cost),
                    "cost_lower": _str_or_none(row.cost_lower),
                    "cost_upper": _str_or_none(row.cost_upper),
                }
                for row in mine.itertuples()
            ],
        })
    return {
        "schema": PAYLOAD_SCHEMA,
        "run_id": run.pk,
        "created_at": run.created_at.isoformat(),
        "history": {"start": run.history_start.isoformat(), "end": run.history_end.isoformat()},
        "horizon_days": run.horizon_days,
        "confidence_pct": run.confidence_pct,
        "series": series_out,
    }


def forecast_json(*, run: ForecastRun) -> bytes:
    return json.dumps(forecast_payload(run=run), sort_keys=True, separators=(",", ":")).encode()


CSV_COLUMNS = [
    "wrapup_code", "wrapup_name", "date", "kind", "volume", "lower", "upper", "is_outlier",
    "cost", "cost_lower", "cost_upper", "currency",
]


def forecast_csv_rows(*, run: ForecastRun) -> list[list[Any]]:
    """Header plus one row per point (history, backtest, forecast), money as exact decimal strings."""
    points = selectors.run_points(run=run)
    currency = dict(selectors.run_series(run=run).values_list("wrapup_code", "currency"))

    def fmt(value: Any) -> str:
        return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)

    rows: list[list[Any]] = [CSV_COLUMNS]
    for p in points.itertuples():
        rows.append([
            p.wrapup_code, p.wrapup_name, p.day.isoformat(), p.kind, round(p.volume, 2),
            fmt(None if p.lower is None or pd.isna(p.lower) else round(p.lower, 2)),
            fmt(None if p.upper is None or pd.isna(p.upper) else round(p.upper, 2)),
            "yes" if p.is_outlier else "", fmt(p.cost), fmt(p.cost_lower), fmt(p.cost_upper),
            currency.get(p.wrapup_code, "") if p.kind == ForecastPoint.Kind.FORECAST else "",
        ])
    return rows


# --- hand-off -------------------------------------------------------------------------------


def request_handoff(*, run: ForecastRun, target: HandoffTarget, user: Any) -> None:
    """Check that the run can be sent to the target, then queue the send."""
    if run.state != ForecastRun.State.DONE:
        raise ValidationError("Only a finished forecast can be sent.")
    if not target.is_active:
        raise ValidationError(f"The target “{target}” is disabled.")
    if not run.series.filter(status=ForecastSeries.Status.OK).exists():
        raise ValidationError("This forecast has no wrap-up code with a forecast to send.")
    enqueue("cdrweb.forecast.tasks.send_forecast_task", run.pk, target.pk, getattr(user, "pk", None))


def send_forecast(*, run: ForecastRun, target: HandoffTarget, actor: Any) -> webhook.Delivery:
    """Deliver a run to a target and write one audit entry with its status, attempts and latency."""
    if target.kind == HandoffTarget.Kind.GENESYS_WFM:
        from cdrweb.forecast import genesys_wfm

        delivery = genesys_wfm.import_forecast(run=run, target=target)
    else:
        delivery = webhook.post_signed(
            target.url, forecast_json(run=run), secret=target.secret,
            timeout_seconds=target.timeout_seconds, max_attempts=target.max_attempts,
            backoff_seconds=target.backoff_seconds,
        )
    outcome = "delivered" if delivery.ok else "FAILED"
    audit.record(
        actor=actor,
        action=f"{selectors.HANDOFF_ACTION}.{target.kind}",
        obj=run,
        summary=(
            f"Forecast #{run.pk} to “{target.name}”: {outcome}, HTTP {delivery.status or '-'}, "
            f"{len(delivery.attempts)} attempt(s), {delivery.latency_ms} ms"
        ),
        changes={"target_id": target.pk, "target": target.name, "kind": target.kind, **delivery.as_audit()},
    )
    logger.info("forecast run %s hand-off to target %s: %s (%s)", run.pk, target.pk, outcome, delivery.status)
    return delivery
