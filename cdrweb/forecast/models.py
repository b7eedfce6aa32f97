"""Forecast models: runs, per-code series and daily points, hand-off targets. Imported by cdrweb.models."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from cdrweb.fields import EncryptedTextField

__all__ = [
    "ForecastRun",
    "ForecastSeries",
    "ForecastPoint",
    "HandoffTarget",
    "PlanningGroupMapping",
]

MAX_HORIZON_DAYS = 90
MIN_HISTORY_DAYS = 14


class ForecastRun(models.Model):
    """One forecast request: which wrap-up codes, how far ahead, at what confidence; state and progress."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    wrapup_codes = models.JSONField(default=list, help_text="platform wrap-up code ids")
    horizon_days = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_HORIZON_DAYS)]
    )
    confidence_pct = models.PositiveSmallIntegerField(
        default=90, validators=[MinValueValidator(50), MaxValueValidator(99)]
    )
    # The window is fixed when the run is created, so a rerun (or a resumed run) sees the same data.
    history_start = models.DateField()
    history_end = models.DateField(help_text="last day of history (inclusive)")
    cost_lookback_days = models.PositiveSmallIntegerField(default=30)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    codes_done = models.PositiveIntegerField(default=0)
    codes_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "cdrweb"
        ordering = ["-created_at", "-id"]
        permissions = [("run_forecast", "Can run volume and cost forecasts and send them")]

    def __str__(self) -> str:
        return f"Forecast #{self.pk} ({self.horizon_days} days, {len(self.wrapup_codes)} codes)"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.codes_total:
            return 0
        return min(100, int(100 * self.codes_done / self.codes_total))


class ForecastSeries(models.Model):
    """The forecast for one wrap-up code in a run, with its diagnostics and expected cost."""

    class Status(models.TextChoices):
        OK = "ok", "Forecast"
        INVALID = "invalid", "Not enough data"

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="series")
    wrapup_code = models.CharField(max_length=100)
    wrapup_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    message = models.TextField(blank=True, help_text="why no forecast, or caveats")
    history_days = models.PositiveIntegerField(default=0)
    nonzero_days = models.PositiveIntegerField(default=0)
    outlier_days = models.PositiveIntegerField(default=0)
    seasonality_score = models.FloatField(null=True, blank=True, help_text="lag-7 autocorrelation")
    is_seasonal = models.BooleanField(default=False)
    method = models.CharField(max_length=100, blank=True)
    backtest_mape = models.FloatField(null=True, blank=True, help_text="percent")
    backtest_smape = models.FloatField(null=True, blank=True, help_text="percent")
    forecast_volume = models.FloatField(default=0, help_text="sum over the horizon")
    forecast_volume_lower = models.FloatField(default=0)
    forecast_volume_upper = models.FloatField(default=0)
    avg_cost_per_call = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    cost_sample_calls = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    expected_cost = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    expected_cost_lower = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    expected_cost_upper = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)

    class Meta:
        app_label = "cdrweb"
        ordering = ["run", "wrapup_code"]
        constraints = [
            models.UniqueConstraint(fields=["run", "wrapup_code"], name="forecastseries_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.wrapup_name or self.wrapup_code}"

    @property
    def label(self) -> str:
        return self.wrapup_name or self.wrapup_code


class ForecastPoint(models.Model):
    """One day of a series: observed history (with its outlier flag), backtest or forecast."""

    class Kind(models.TextChoices):
        HISTORY = "history", "History"
        BACKTEST = "backtest", "Backtest"
        FORECAST = "forecast", "Forecast"

    series = models.ForeignKey(ForecastSeries, on_delete=models.CASCADE, related_name="points")
    day = models.DateField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    volume = models.FloatField(help_text="calls: observed (history) or predicted mean")
    lower = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    is_outlier = models.BooleanField(default=False)
    cost = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cost_lower = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cost_upper = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)

    class Meta:
        app_label = "cdrweb"
        ordering = ["series", "kind", "day"]
        constraints = [
            models.UniqueConstraint(fields=["series", "kind", "day"], name="forecastpoint_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.series_id} {self.kind} {self.day}: {self.volume}"


class HandoffTarget(models.Model):
    """Where an administrator lets planners send forecasts: a signed webhook or Genesys WFM."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (HMAC-signed JSON POST)"
        GENESYS_WFM = "genesys_wfm", "Genesys Cloud WFM short-term forecast import"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(blank=True, help_text="webhook URL (webhook targets)")
    secret = EncryptedTextField(blank=True, help_text="HMAC-SHA256 key (webhook targets)")
    timeout_seconds = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    max_attempts = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    backoff_seconds = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("2"),
        help_text="first retry delay; doubles on each retry",
    )
    # Genesys WFM targets: credentials and API host come from an extraction connection.
    connection = models.ForeignKey(
        "extraction.Connection", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    business_unit_id = models.CharField(max_length=64, blank=True)
    week_start_day = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(6)],
        help_text="the business unit's first day of week (0 = Monday … 6 = Sunday)",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "cdrweb"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlanningGroupMapping(models.Model):
    """Admin-edited map from a wrap-up code to a Genesys WFM planning group (several codes may share one)."""

    target = models.ForeignKey(HandoffTarget, on_delete=models.CASCADE, related_name="mappings")
    wrapup_code = models.CharField(max_length=100)
    planning_group_id = models.CharField(max_length=64)

    class Meta:
        app_label = "cdrweb"
        ordering = ["target", "wrapup_code"]
        constraints = [
            models.UniqueConstraint(fields=["target", "wrapup_code"], name="planninggroup_unique_code")
        ]

    def __str__(self) -> str:
        return f"{self.wrapup_code} → {self.planning_group_id}"
