"""Forecast runs against the database: aggregation, storage, cost, idempotency, validation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from cdrweb.forecast import selectors, services
from cdrweb.forecast.models import ForecastPoint, ForecastRun, ForecastSeries
from cdrweb.tasks import claim_lease
from tests.forecast.factories import ConnectionFactory, bulk_legs

AS_OF = date(2026, 3, 30)  # a Monday; history ends Sunday 2026-03-29
WEEKLY = [30, 36, 33, 31, 39, 12, 6]  # Mon..Sun


def weekly_counts(days: int, *, scale: float = 1.0, spikes: dict[int, int] | None = None) -> dict[date, int]:
    """Poisson counts around a known weekly pattern, ending the day before AS_OF."""
    rng = np.random.default_rng(days)
    start = AS_OF - timedelta(days=days)
    counts = {start + timedelta(days=i): int(rng.poisson(WEEKLY[(start + timedelta(days=i)).weekday()] * scale))
              for i in range(days)}
    for offset, value in (spikes or {}).items():
        counts[start + timedelta(days=offset)] = value
    return counts


@pytest.fixture
def three_codes(db):
    conn = ConnectionFactory()
    bulk_legs(connection=conn, code="c-sales", name="Sales", counts=weekly_counts(56, spikes={20: 200}),
              cost=Decimal("0.125"))
    bulk_legs(connection=conn, code="c-billing", name="Billing", counts=weekly_counts(56, scale=0.5),
              cost=Decimal("0.20"))
    bulk_legs(connection=conn, code="c-tech", name="", counts=weekly_counts(42, scale=0.7))  # never rated
    return conn


def start(user=None, **overrides) -> ForecastRun:
    kwargs = {"wrapup_codes": ["c-sales", "c-billing", "c-tech"], "horizon_days": 30,
              "confidence_pct": 90, "lookback_days": 91, "as_of": AS_OF}
    kwargs.update(overrides)
    return services.start_forecast_run(user=user, **kwargs)


@pytest.mark.django_db
def test_daily_volume_is_one_grouped_query(three_codes, django_assert_num_queries):
    with django_assert_num_queries(1):
        frame = selectors.daily_volume(codes=["c-sales", "c-billing"], start=AS_OF - timedelta(days=56),
                                       end=AS_OF - timedelta(days=1))
    assert len(frame) == 112
    sales = selectors.daily_series(
        frame, code="c-sales", start=AS_OF - timedelta(days=60), end=AS_OF - timedelta(days=1)
    )
    assert len(sales) == 60 and sales.iloc[:4].sum() == 0  # days before the first call are filled with 0
    assert sales.max() == 200


@pytest.mark.django_db
def test_cost_per_call_averages_rated_legs_in_decimal(three_codes):
    costs = selectors.cost_per_call(codes=["c-sales", "c-billing", "c-tech"], start=AS_OF - timedelta(days=30),
                                    end=AS_OF - timedelta(days=1))
    assert costs["c-sales"].average == Decimal("0.125000")
    assert costs["c-sales"].currency == "EUR"
    assert costs["c-billing"].average == Decimal("0.200000")
    assert "c-tech" not in costs


@pytest.mark.django_db
def test_a_run_forecasts_three_codes_with_bands_backtest_and_cost(three_codes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start()
    run.refresh_from_db()

    assert run.state == ForecastRun.State.DONE
    assert (run.codes_done, run.codes_total, run.percent) == (3, 3, 100)
    assert run.history_end == date(2026, 3, 29)
    sales = ForecastSeries.objects.get(run=run, wrapup_code="c-sales")
    assert sales.status == ForecastSeries.Status.OK
    assert sales.wrapup_name == "Sales"
    assert sales.history_days == 56
    assert 1 <= sales.outlier_days <= 4  # the spike, plus at most a few Poisson tails
    assert sales.is_seasonal and sales.seasonality_score > 0.5
    # Poisson noise on a Sunday mean of 6 alone gives ~30% daily errors: MAPE is honest, not small.
    assert sales.backtest_mape is not None and 0 < sales.backtest_mape < 50
    assert 0 < sales.backtest_smape < 50
    forecast = ForecastPoint.objects.filter(series=sales, kind="forecast").order_by("day")
    assert forecast.count() == 30
    assert forecast[0].day == AS_OF
    # A Monday forecast near the Monday truth (30), a Sunday one near 6.
    assert forecast[0].volume == pytest.approx(30, rel=0.15)
    assert forecast[6].volume == pytest.approx(6, abs=2.5)
    # Expected cost is volume × 0.125 per day, rounded to the cent, summed.
    expected = sum(Decimal(f"{p.volume:.6f}") * Decimal("0.125") for p in forecast)
    assert abs(sales.expected_cost - expected) <= Decimal("0.01") * 30
    assert sales.expected_cost == sum(p.cost for p in forecast)
    assert sales.expected_cost_lower <= sales.expected_cost <= sales.expected_cost_upper
    assert sales.avg_cost_per_call == Decimal("0.125")
    spike = ForecastPoint.objects.get(series=sales, kind="history", day=AS_OF - timedelta(days=36))
    assert spike.volume == 200 and spike.is_outlier

    tech = ForecastSeries.objects.get(run=run, wrapup_code="c-tech")
    assert tech.wrapup_name == "c-tech"  # no synced name: the code stands in
    assert tech.expected_cost is None
    assert "expected cost unknown" in tech.message


@pytest.mark.django_db
def test_a_code_with_too_little_history_is_reported_not_fatal(db, django_capture_on_commit_callbacks):
    conn = ConnectionFactory()
    bulk_legs(connection=conn, code="c-new", name="New product", counts=weekly_counts(10))
    bulk_legs(connection=conn, code="c-sales", name="Sales", counts=weekly_counts(35))
    with django_capture_on_commit_callbacks(execute=True):
        run = start(wrapup_codes=["c-new", "c-sales"])
    run.refresh_from_db()
    assert run.state == ForecastRun.State.DONE
    new = ForecastSeries.objects.get(run=run, wrapup_code="c-new")
    assert new.status == ForecastSeries.Status.INVALID
    assert new.message == "New product: only 10 day(s) of history; at least 14 are needed."
    assert ForecastPoint.objects.filter(series=new, kind="history").count() == 10
    assert not ForecastPoint.objects.filter(series=new, kind="forecast").exists()


@pytest.mark.django_db
def test_running_twice_changes_nothing(three_codes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start()
    points = ForecastPoint.objects.filter(series__run=run).count()
    ForecastRun.objects.filter(pk=run.pk).update(state=ForecastRun.State.RUNNING)  # as if redelivered

    services.execute_forecast_run(run_id=run.pk)

    assert ForecastSeries.objects.filter(run=run).count() == 3
    assert ForecastPoint.objects.filter(series__run=run).count() == points


@pytest.mark.django_db
def test_a_resumed_run_computes_only_the_missing_codes(three_codes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start()
    sales = ForecastSeries.objects.get(run=run, wrapup_code="c-sales")
    ForecastSeries.objects.filter(run=run).exclude(pk=sales.pk).delete()  # the worker died after code 1
    ForecastRun.objects.filter(pk=run.pk).update(state=ForecastRun.State.RUNNING, codes_done=1)

    run = services.execute_forecast_run(run_id=run.pk)

    assert run.state == ForecastRun.State.DONE and run.codes_done == 3
    assert ForecastSeries.objects.filter(run=run).count() == 3
    assert ForecastSeries.objects.get(run=run, wrapup_code="c-sales").pk == sales.pk


@pytest.mark.django_db
def test_a_leased_run_is_left_to_its_worker(three_codes):
    run = start()  # not committed: the task did not run
    assert claim_lease(ForecastRun, run.pk, seconds=300)
    assert services.execute_forecast_run(run_id=run.pk) is None
    assert not ForecastSeries.objects.filter(run=run).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"horizon_days": 91}, "The horizon must be at most 90 days (asked for 91)"),
        ({"horizon_days": 0}, "The horizon must be at least 1 day."),
        ({"wrapup_codes": []}, "Pick at least one wrap-up code."),
        ({"wrapup_codes": [f"c{i}" for i in range(11)]}, "Pick at most 10 wrap-up codes per forecast (11 picked)."),
        ({"lookback_days": 7}, "The history window must be between 14 and 730 days."),
        ({"confidence_pct": 100}, "The confidence must be between 50% and 99%."),
    ],
)
def test_bad_requests_are_refused_with_clear_messages(overrides, message):
    with pytest.raises(ValidationError) as exc:
        start(**overrides)
    assert any(m.startswith(message) for m in exc.value.messages)
    assert not ForecastRun.objects.exists()


@pytest.mark.django_db
def test_exports_carry_money_as_decimal_strings(three_codes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start()
    payload = services.forecast_payload(run=run)
    sales = next(s for s in payload["series"] if s["wrapup_code"] == "c-sales")
    assert payload["horizon_days"] == 30 and payload["confidence_pct"] == 90
    assert len(sales["days"]) == 30
    stored = ForecastSeries.objects.get(run=run, wrapup_code="c-sales")
    assert sales["expected_cost"]["mean"] == str(stored.expected_cost)
    assert (AS_OF - timedelta(days=36)).isoformat() in sales["outlier_days"]
    assert sales["backtest"]["days"] == 14
    rows = services.forecast_csv_rows(run=run)
    assert rows[0] == services.CSV_COLUMNS
    forecast_rows = [r for r in rows[1:] if r[0] == "c-sales" and r[3] == "forecast"]
    assert len(forecast_rows) == 30
    assert sum(Decimal(r[8]) for r in forecast_rows) == Decimal(sales["expected_cost"]["mean"])


@pytest.mark.django_db
def test_stalled_runs_are_re_enqueued(three_codes, django_capture_on_commit_callbacks):
    run = start()
    ForecastRun.objects.filter(pk=run.pk).update(created_at=run.created_at - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resume_stalled_runs() == 1
    run.refresh_from_db()
    assert run.state == ForecastRun.State.DONE
