"""SQL console models (saved queries, history). Imported by cdrweb.models."""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = ["SavedQuery", "QueryHistory"]


class SavedQuery(models.Model):
    """A named query an analyst kept for later; names are unique per owner."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    sql = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "cdrweb"
        ordering = ["name"]
        verbose_name_plural = "saved queries"
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedquery_name_unique_per_owner")
        ]

    def __str__(self) -> str:
        return self.name


class QueryHistory(models.Model):
    """One console query a user ran (or that waits for an extraction to finish first)."""

    class Status(models.TextChoices):
        OK = "ok", "Ran"
        REFUSED = "refused", "Refused by validation"
        ERROR = "error", "Failed"
        TIMEOUT = "timeout", "Timed out"
        WAITING = "waiting", "Waiting for extraction"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sql = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices)
    error = models.TextField(blank=True)
    row_count = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False, help_text="the row cap cut the result")
    elapsed_ms = models.PositiveIntegerField(default=0)
    revealed = models.BooleanField(default=False, help_text="ran over unmasked tables")
    extraction_run_ids = models.JSONField(
        default=list, blank=True, help_text="extraction runs this query waits for"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        app_label = "cdrweb"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "query history"

    def __str__(self) -> str:
        return f"{self.user_id} {self.created_at:%Y-%m-%d %H:%M} {self.status}"
