"""Carriers, effective-dated rate cards, rates, trunk-to-carrier mapping and per-leg cost records."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from extraction.models import CallLeg, Direction


class Rounding(models.TextChoices):
    HALF_UP = "half_up", "Half up (ties away from zero)"
    UP = "up", "Up (ceiling)"
    HALF_EVEN = "half_even", "Half even (banker's)"
    DOWN = "down", "Down (truncate)"


class SecondsRule(models.TextChoices):
    CEIL = "ceil", "Round milliseconds up"
    FLOOR = "floor", "Round milliseconds down"
    HALF_UP = "half_up", "Round milliseconds half up"


class CallIdMatch(models.TextChoices):
    FULL = "full", "Whole Call-ID (host kept)"
    LOCAL_PART = "local_part", "Part before @ only"


class Carrier(models.Model):
    name = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3, default="USD")
    default_region = models.CharField(
        max_length=2, default="US", help_text="country for numbers in national format"
    )
    callid_match = models.CharField(max_length=16, choices=CallIdMatch.choices, default=CallIdMatch.FULL)
    default_increment_first = models.PositiveIntegerField(default=60)
    default_increment_next = models.PositiveIntegerField(default=6)
    is_default = models.BooleanField(
        default=False, help_text="carries every leg that no trunk mapping claims"
    )
    # Reconciliation tolerances (platforms-and-carriers.md §3.3, rating.md §9).
    duration_tolerance_seconds = models.PositiveIntegerField(default=1)
    cost_tolerance = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0.0001"))
    fuzzy_window_seconds = models.PositiveIntegerField(default=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="carrier_single_default"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CarrierTrunkMapping(models.Model):
    """Which carrier carries a leg, by the leg's trunk/edge/provider (and optionally direction)."""

    class MatchField(models.TextChoices):
        TRUNK = "trunk", "Trunk"
        EDGE = "edge_id", "Edge"
        PROVIDER = "provider", "Provider"
        CONNECTION = "connection", "Connection name"

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="trunk_mappings")
    match_field = models.CharField(max_length=16, choices=MatchField.choices, default=MatchField.TRUNK)
    match_value = models.CharField(max_length=200)
    direction = models.CharField(max_length=16, choices=Direction.choices, blank=True)
    priority = models.IntegerField(default=100, help_text="lower wins when several mappings match")

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["match_field", "match_value", "direction"], name="trunk_mapping_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.match_field}={self.match_value} → {self.carrier}"


class RateCard(models.Model):
    """One version of a carrier's price list, valid from ``effective_from`` (inclusive, UTC)
    until ``effective_to`` (exclusive) or the next version's start."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (not used for rating yet)"
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded by a correction"
        RETIRED = "retired", "Retired"

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="rate_cards")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    currency = models.CharField(max_length=3)
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    default_increment_first = models.PositiveIntegerField(default=60)
    default_increment_next = models.PositiveIntegerField(default=6)
    rounding = models.CharField(max_length=16, choices=Rounding.choices, default=Rounding.HALF_UP)
    seconds_rule = models.CharField(max_length=16, choices=SecondsRule.choices, default=SecondsRule.CEIL)
    money_decimals = models.PositiveSmallIntegerField(default=4)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA zone for time bands")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="corrections",
        help_text="for a correction draft: the version it will supersede (rating.md §7)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["carrier__name", "-effective_from", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "version"], name="ratecard_version_unique"),
            # Two live versions of one carrier may not start at the same instant; the full
            # interval check (explicit effective_to) is in services.check_overlap, as SQLite has
            # no exclusion constraints.
            models.UniqueConstraint(
                fields=["carrier", "effective_from"],
                condition=models.Q(status__in=["active", "retired"]),
                name="ratecard_live_start_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} · {self.name} v{self.version}"

    @property
    def is_live(self) -> bool:
        """Used for rating (active, or retired but still covering its past period)."""
        return self.status in (self.Status.ACTIVE, self.Status.RETIRED)


class Rate(models.Model):
    """One priced prefix of a card version; the empty prefix is the catch-all."""

    rate_card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rates")
    prefix = models.CharField(max_length=16, blank=True, help_text="E.164 digits without +")
    destination = models.CharField(max_length=200, blank=True)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.OUTBOUND)
    rate_per_minute = models.DecimalField(max_digits=14, decimal_places=8)
    connect_fee = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    min_billable_seconds = models.PositiveIntegerField(default=0, help_text="shorter calls cost nothing")
    minimum_cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    increment_first = models.PositiveIntegerField(null=True, blank=True, help_text="empty: card default")
    increment_next = models.PositiveIntegerField(null=True, blank=True)
    band = models.CharField(max_length=64, blank=True, help_text="time band name; empty = all times")
    band_weekdays = models.CharField(max_length=20, blank=True, help_text="e.g. 0-4 for Mon-Fri")
    band_start = models.TimeField(null=True, blank=True)
    band_end = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["rate_card", "direction", "prefix"]
        constraints = [
            models.UniqueConstraint(
                fields=["rate_card", "direction", "prefix", "band"], name="rate_prefix_unique_per_card"
            )
        ]
        indexes = [models.Index(fields=["rate_card", "direction", "prefix"], name="rate_lookup")]

    def __str__(self) -> str:
        return f"{self.prefix or '*'} {self.destination} {self.rate_per_minute}/min"


class CostRecord(models.Model):
    """What one call leg cost by our rate cards: one row per CallLeg, rated or unrated with a reason."""

    class Status(models.TextChoices):
        RATED = "rated", "Rated"
        UNRATED = "unrated", "Unrated"

    class NumberType(models.TextChoices):
        FIXED = "fixed", "Fixed"
        MOBILE = "mobile", "Mobile"
        TOLL_FREE = "toll_free", "Toll-free"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    leg = models.OneToOneField(CallLeg, on_delete=models.CASCADE, related_name="cost_record")
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rate_card = models.ForeignKey(
        RateCard, null=True, blank=True, on_delete=models.PROTECT, related_name="cost_records"
    )
    rate = models.ForeignKey(Rate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    matched_prefix = models.CharField(max_length=16, blank=True)
    destination = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 of the rated number")
    number_type = models.CharField(max_length=16, choices=NumberType.choices, default=NumberType.UNKNOWN)
    band = models.CharField(max_length=64, blank=True)
    talk_seconds = models.PositiveIntegerField(default=0, help_text="whole seconds after the card's rule")
    billable_seconds = models.PositiveIntegerField(default=0)
    exact_cost = models.DecimalField(max_digits=24, decimal_places=12, default=Decimal("0"))
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.CharField(max_length=200, blank=True, help_text="why a leg is unrated")
    input_hash = models.CharField(max_length=64, blank=True)
    engine_version = models.CharField(max_length=16, default="1")
    rated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["carrier", "status"], name="cost_carrier_status"),
            # the dashboard's costliest calls: read in cost order, stop after the first few
            models.Index(fields=["status", "currency", "-cost"], name="cost_status_currency_cost"),
        ]

    def __str__(self) -> str:
        return f"{self.leg_id}: {self.cost} {self.currency} ({self.status})"


class CostRecordHistory(models.Model):
    """A CostRecord result replaced by re-rating (rating.md §8: previous results kept as history)."""

    leg = models.ForeignKey(CallLeg, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("RatingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rate_card = models.ForeignKey(RateCard, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    carrier_id_was = models.BigIntegerField(null=True, blank=True)
    matched_prefix = models.CharField(max_length=16, blank=True)
    billable_seconds = models.PositiveIntegerField(default=0)
    exact_cost = models.DecimalField(max_digits=24, decimal_places=12, default=Decimal("0"))
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=200, blank=True)
    input_hash = models.CharField(max_length=64, blank=True)
    rated_at = models.DateTimeField()
    superseded_at = models.DateTimeField()

    class Meta:
        ordering = ["-superseded_at"]

    def __str__(self) -> str:
        return f"{self.leg_id}: {self.cost} {self.currency} (until {self.superseded_at:%Y-%m-%d %H:%M})"


class RatingRun(models.Model):
    """One rating job over a period (or a correction preview), with counters for progress.

    Resumable: legs are processed in id order from ``cursor_leg_id``; each batch commits its
    cost records together with the cursor and counters, so a killed worker resumes where it stopped.
    """

    class Kind(models.TextChoices):
        RATE = "rate", "Rate period"
        PREVIEW = "preview", "Re-rate preview of a correction"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RATE)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    connection = models.ForeignKey(
        "extraction.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rate_card = models.ForeignKey(
        RateCard, null=True, blank=True, on_delete=models.SET_NULL, related_name="rating_runs",
        help_text="the draft correction a preview prices with",
    )
    reason = models.CharField(max_length=200, blank=True)
    total_legs = models.PositiveIntegerField(default=0)
    processed_legs = models.PositiveIntegerField(default=0)
    rated_legs = models.PositiveIntegerField(default=0)
    unrated_legs = models.PositiveIntegerField(default=0)
    changed_legs = models.PositiveIntegerField(default=0)
    cursor_leg_id = models.BigIntegerField(default=0)
    preview = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.total_legs:
            return 0
        return min(100, int(self.processed_legs * 100 / self.total_legs))
