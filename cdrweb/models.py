"""Cross-cutting models: the append-only audit log and the product-wide permissions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002
        raise PermissionError("the audit log is append-only")

    def delete(self):
        raise PermissionError("the audit log is append-only")


class AuditEntry(models.Model):
    """Who did what, when, to which object, and why. Never updated, never deleted."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="username at the time")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        permissions = [
            ("reveal_pii", "Can reveal personal data (with a reason, audited)"),
            ("view_dashboard", "Can view cost dashboards"),
            ("export_data", "Can export reports (masked by role)"),
            ("use_sql_console", "Can use the SQL console"),
            ("manage_users", "Can manage users and roles"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit log is append-only")


class LegRollup(models.Model):
    """What both rollups share: the local day, the dashboard's filter dimensions and a call count.

    The id columns are plain (no foreign-key constraint): a row only mirrors legs that exist.
    """

    day = models.DateField(help_text="local calendar day (TIME_ZONE) of the leg's start")
    connection = models.ForeignKey(
        "extraction.Connection", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    platform = models.CharField(max_length=20)
    direction = models.CharField(max_length=20)
    queue_name = models.CharField(max_length=255)
    carrier = models.ForeignKey(
        "billing.Carrier", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    calls = models.IntegerField()

    class Meta:
        abstract = True


class DailyLegRollup(LegRollup):
    """Call legs summed per local day and dashboard dimension (one row per combination), so the
    dashboard reads thousands of rows instead of millions of legs. Derived data: ``cdrweb.rollup``
    recomputes whole days from the legs and cost records, and ``rebuild_rollup`` rebuilds it all.

    NULL in the cost columns means "no cost record yet", exactly as in the leg-level aggregate.
    """

    wrapup_name = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, null=True)
    status = models.CharField(max_length=20, null=True)
    country = models.CharField(max_length=8, null=True)
    number_type = models.CharField(max_length=20, null=True)
    billed_seconds = models.BigIntegerField(null=True)
    cost = models.DecimalField(max_digits=24, decimal_places=6, null=True)
    max_cost = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, help_text="the costliest leg's cost (bounds the top calls)"
    )

    class Meta:
        indexes = [models.Index(fields=["day"], name="dailylegrollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.calls} calls"


class HourlyLegRollup(LegRollup):
    """Call legs counted per local day, hour and the dashboard's filter dimensions (the heatmap)."""

    hour = models.SmallIntegerField(help_text="0-23, local time")

    class Meta:
        indexes = [models.Index(fields=["day"], name="hourlylegrollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.hour:02d}h {self.calls} calls"


class RollupState(models.Model):
    """One row once the rollups were built from scratch, with the time zone their days are in;
    the dashboard reads the rollups only while this row matches the current time zone.
    ``refreshed_at`` moves with every write to the rollups, so the dashboard cache sees it."""

    time_zone = models.CharField(max_length=64)
    built_at = models.DateTimeField()
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rollup built {self.built_at:%Y-%m-%d %H:%M} ({self.time_zone})"


# Models of the cdrweb sub-packages live beside their code; importing them here registers them.
from cdrweb.console.models import *  # noqa: E402, F403
from cdrweb.forecast.models import *  # noqa: E402, F403
