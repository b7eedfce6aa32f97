"""The pure forecasting maths on synthetic series whose truth we know."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdrweb.forecast import engine

WEEKLY = np.array([100, 120, 110, 105, 130, 40, 20], dtype=float)  # Mon..Sun


def weekly_series(days: int = 84, *, noise: float = 4.0, seed: int = 7, start: str = "2026-01-05") -> pd.Series:
    index = pd.date_range(start, periods=days, freq="D")  # 2026-01-05 is a Monday
    rng = np.random.default_rng(seed)
    return pd.Series(np.round(WEEKLY[index.day_of_week] + rng.normal(0, noise, days)), index=index)


def test_injected_outliers_are_flagged_and_left_out_of_the_fit():
    series = weekly_series()
    series.iloc[[10, 40, 60]] = [600, 0, 450]  # a spike, an outage on a Wednesday, a spike

    result = engine.forecast_series(series, horizon_days=30, confidence_pct=90)

    assert list(np.flatnonzero(result.outliers.to_numpy())) == [10, 40, 60]
    # The fit used the weekday median instead of the bad values.
    thursdays = series[series.index.day_of_week == 3].drop(series.index[10])
    assert result.cleaned.iloc[10] == pytest.approx(thursdays.median())
    assert result.history.iloc[10] == 600  # the observed value is kept for the chart


def test_a_quiet_weekday_is_not_an_outlier():
    # Six busy days and a quiet Sunday: a plain IQR on the values would flag every Sunday.
    index = pd.date_range("2026-01-05", periods=56, freq="D")
    values = np.where(index.day_of_week == 6, 10.0, 100.0)
    series = pd.Series(values, index=index)
    plain = (series < series.quantile(0.25) - 1.5 * (series.quantile(0.75) - series.quantile(0.25)))
    assert plain[index.day_of_week == 6].all()

    assert not engine.iqr_outliers(series).any()


def test_weekly_seasonality_is_detected_and_scored():
    result = engine.forecast_series(weekly_series(), horizon_days=14, confidence_pct=90)
    assert result.is_seasonal
    assert result.seasonality_score > 0.8
    assert result.method == "ETS(A,Ad,A) weekly"


def test_white_noise_has_no_weekly_seasonality():
    rng = np.random.default_rng(3)
    index = pd.date_range("2026-01-05", periods=84, freq="D")
    noise = pd.Series(np.round(100 + rng.normal(0, 10, 84)), index=index)
    result = engine.forecast_series(noise, horizon_days=14, confidence_pct=90)
    assert not result.is_seasonal
    assert result.method == "ETS(A,Ad,N)"


def test_forecast_tracks_the_true_pattern_within_tolerance():
    series = weekly_series()
    series.iloc[[10, 40, 60]] = [600, 0, 450]

    result = engine.forecast_series(series, horizon_days=30, confidence_pct=90)

    truth = WEEKLY[result.mean.index.day_of_week]
    assert len(result.mean) == 30
    assert result.mean.index[0] == series.index[-1] + pd.Timedelta(days=1)
    assert np.max(np.abs(result.mean.to_numpy() - truth) / truth) < 0.15
    inside = (result.lower.to_numpy() <= truth) & (truth <= result.upper.to_numpy())
    assert inside.mean() >= 0.9
    assert (result.lower <= result.mean).all() and (result.mean <= result.upper).all()


def test_wider_confidence_gives_wider_bands():
    series = weekly_series()
    narrow = engine.forecast_series(series, horizon_days=10, confidence_pct=80)
    wide = engine.forecast_series(series, horizon_days=10, confidence_pct=95)
    assert ((wide.upper - wide.lower) > (narrow.upper - narrow.lower)).all()


def test_backtest_reports_error_on_the_last_14_days():
    result = engine.forecast_series(weekly_series(), horizon_days=30, confidence_pct=90)
    assert result.backtest is not None
    assert result.backtest.days == 14
    assert len(result.backtest.predicted) == 14
    assert 0 < result.backtest.mape < 10
    assert 0 < result.backtest.smape < 10


def test_short_history_forecasts_without_backtest_and_says_so():
    result = engine.forecast_series(weekly_series(21), horizon_days=7, confidence_pct=90)
    assert result.backtest is None
    assert "No backtest: it needs 28 days of history (21 available)." in result.notes


def test_error_measures():
    actual = pd.Series([100.0, 0.0, 50.0])
    predicted = pd.Series([110.0, 0.0, 40.0])
    mape, smape = engine.errors(actual, predicted)
    assert mape == pytest.approx((10 / 100 + 10 / 50) / 2 * 100)  # the zero day is skipped
    assert smape == pytest.approx((20 / 210 + 0 + 20 / 90) / 3 * 100)


def test_lag7_autocorrelation_of_a_pure_weekly_cycle_is_high():
    index = pd.date_range("2026-01-05", periods=56, freq="D")
    assert engine.lag7_autocorrelation(pd.Series(WEEKLY[index.day_of_week], index=index)) > 0.8
    assert engine.lag7_autocorrelation(pd.Series(5.0, index=index)) is None


@pytest.mark.parametrize(
    ("days", "message"),
    [(13, "Sales: only 13 day(s) of history; at least 14 are needed.")],
)
def test_too_little_history_is_refused_with_a_clear_message(days, message):
    with pytest.raises(engine.SeriesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.forecast_series(weekly_series(days), horizon_days=7, confidence_pct=90, label="Sales")


def test_too_few_days_with_calls_is_refused():
    series = weekly_series(60)
    series.iloc[::3] = 0
    series.iloc[1::3] = 0  # calls on 20 of 60 days
    with pytest.raises(engine.SeriesError) as exc:
        engine.forecast_series(series, horizon_days=7, confidence_pct=90, label="Billing")
    assert str(exc.value) == (
        "Billing: calls on only 20 of 60 days; at least 30 days with calls are needed for a forecast."
    )


def test_horizon_over_90_days_is_refused():
    with pytest.raises(engine.SeriesError, match="at most 90 days \\(asked for 91\\)"):
        engine.forecast_series(weekly_series(), horizon_days=91, confidence_pct=90)
    with pytest.raises(engine.SeriesError, match="at least 1 day"):
        engine.validate_horizon(0)
