"""Carrier CDR uploads, imported carrier rows, reconciliation runs, matches and discrepancies."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.models import Carrier
from cdrweb.masking import PiiKind
from extraction.models import CallLeg
from reconciliation.reader import delimiter_from_name, parse_record


class ColumnMapping(models.Model):
    """A saved custom column mapping for one carrier (the built-in presets live in ``presets.py``)."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="column_mappings")
    name = models.CharField(max_length=100)
    fields = models.JSONField(help_text="mapping object, same keys as the mapping JSON file")
    based_on_preset = models.CharField(max_length=32, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["carrier__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "name"], name="columnmapping_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} · {self.name}"


class CarrierUpload(models.Model):
    """One carrier CDR file: previewed, then imported in chunks with a resumable cursor."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed (waiting for confirmation)"
        QUEUED = "queued", "Queued"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        REJECTED = "rejected", "Rejected (bad rows)"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # A file may be uploaded again only after its earlier upload was rejected, failed or cancelled.
    ACTIVE_STATUSES = (Status.PREVIEWED, Status.QUEUED, Status.IMPORTING, Status.IMPORTED)

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="uploads")
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="inclusive")
    original_name = models.CharField(max_length=255)
    file = models.FileField(upload_to="reconciliation/uploads/%Y/%m/")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    preset = models.CharField(max_length=32, blank=True)
    mapping = models.ForeignKey(ColumnMapping, null=True, blank=True, on_delete=models.SET_NULL)
    mapping_used = models.JSONField(default=dict, help_text="the resolved mapping, frozen at upload")
    timezone = models.CharField(max_length=64, blank=True, help_text="override of the mapping's zone")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    preview = models.JSONField(default=dict, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_error = models.PositiveIntegerField(default=0)
    rows_credit = models.PositiveIntegerField(default=0)
    rows_total_estimate = models.PositiveIntegerField(default=0)
    chunk_rows = models.PositiveIntegerField(default=20_000, help_text="rows per chunk, fixed for the cursor")
    chunks_done = models.PositiveIntegerField(default=0, help_text="resume cursor")
    first_start_utc = models.DateTimeField(null=True, blank=True)
    last_start_utc = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "sha256"],
                condition=models.Q(status__in=["previewed", "queued", "importing", "imported"]),
                name="carrierupload_same_file_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} · {self.original_name}"

    @property
    def percent(self) -> int:
        if self.status in (self.Status.IMPORTED, self.Status.REJECTED):
            return 100
        if not self.rows_total_estimate:
            return 0
        return min(99, int(100 * self.rows_read / self.rows_total_estimate))


class CarrierCdr(models.Model):
    """One imported carrier row, normalised: UTC start, seconds, Decimal charge (cost we pay ≥ 0)."""

    pii_fields = {
        "from_raw": PiiKind.PHONE,
        "to_raw": PiiKind.PHONE,
        "from_e164": PiiKind.PHONE,
        "to_e164": PiiKind.PHONE,
    }

    # No single-column indexes on the keys: carriercdr_unique_line leads with upload and
    # carriercdr_carrier_start with carrier, and each index costs every imported row. ``carrier`` is
    # the upload's carrier, copied for that index, so the database does not check it row by row
    # (a foreign-key check per row costs an import about a quarter of its COPY time); the upload
    # key it comes from keeps its constraint, and deletes still cascade through Django.
    upload = models.ForeignKey(CarrierUpload, on_delete=models.CASCADE, related_name="cdrs", db_index=False)
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="cdrs", db_index=False,
                                db_constraint=False)
    line_number = models.PositiveIntegerField(help_text="physical line in the file (header = 1)")
    record_id = models.CharField(max_length=128, blank=True, help_text="the carrier's own id")
    raw_call_id = models.CharField(max_length=512, blank=True)
    sip_call_id = models.CharField(max_length=255, blank=True)
    sip_call_id_local = models.CharField(max_length=255, blank=True)
    start_utc = models.DateTimeField()
    start_original = models.CharField(max_length=64, blank=True)
    start_ambiguous = models.BooleanField(default=False, help_text="local time in the repeated DST hour")
    duration_seconds = models.IntegerField(null=True, blank=True, help_text="empty in the file = null")
    duration_ms = models.BigIntegerField(null=True, blank=True)
    billed_seconds = models.IntegerField(null=True, blank=True)
    charge = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    rate_per_minute = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    from_raw = models.CharField(max_length=255, blank=True)
    to_raw = models.CharField(max_length=255, blank=True)
    from_e164 = models.CharField(max_length=20, blank=True)
    to_e164 = models.CharField(max_length=20, blank=True)
    direction = models.CharField(max_length=16, blank=True, help_text="inbound / outbound / empty")
    direction_raw = models.CharField(max_length=32, blank=True)
    is_forwarded = models.BooleanField(default=False)
    is_credit = models.BooleanField(default=False)
    raw_line = models.TextField(blank=True, editable=False, help_text="the record as written in the file")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upload", "line_number"], name="carriercdr_unique_line"),
        ]
        indexes = [
            models.Index(fields=["carrier", "start_utc"], name="carriercdr_carrier_start"),
            models.Index(fields=["sip_call_id_local"], name="carriercdr_sip_local"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_id}:{self.upload_id}:{self.line_number}"

    @property
    def raw(self) -> dict[str, str]:
        """The file's record as {column: value}, read from ``raw_line`` with the upload's header."""
        if not self.raw_line:
            return {}
        preview = self.upload.preview or {}
        delimiter = delimiter_from_name(preview.get("delimiter", ","))
        return parse_record(self.raw_line, preview.get("header", []), delimiter)


class UploadRowError(models.Model):
    """A row the import could not accept, with the file's line number, the column and why."""

    upload = models.ForeignKey(CarrierUpload, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    column = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["line", "id"]
        indexes = [models.Index(fields=["upload", "line"], name="uploadrowerror_line")]

    def __str__(self) -> str:
        return f"line {self.line} {self.column}: {self.reason}"


class ReconciliationRun(models.Model):
    """Carrier rows vs platform legs for one carrier and period; re-running replaces its results."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="reconciliation_runs")
    period_start = models.DateTimeField(help_text="inclusive, UTC")
    period_end = models.DateTimeField(help_text="exclusive, UTC")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_label = models.CharField(max_length=200, blank=True)
    carrier_rows = models.PositiveIntegerField(default=0)
    platform_legs = models.PositiveIntegerField(default=0)
    matched_exact = models.PositiveIntegerField(default=0)
    matched_local_part = models.PositiveIntegerField(default=0)
    matched_fuzzy = models.PositiveIntegerField(default=0)
    discrepancy_count = models.PositiveIntegerField(default=0)
    billed_total = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    expected_total = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    credits_total = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "carrier__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "period_start", "period_end"], name="reconciliationrun_one_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"

    @property
    def matched(self) -> int:
        return self.matched_exact + self.matched_local_part + self.matched_fuzzy

    @property
    def match_rate(self) -> float:
        return (100.0 * self.matched / self.carrier_rows) if self.carrier_rows else 0.0


class MatchMethod(models.TextChoices):
    EXACT = "exact", "Exact SIP Call-ID"
    LOCAL_PART = "local_part", "Call-ID local part"
    FUZZY = "fuzzy", "Numbers + time + duration"


class CdrMatch(models.Model):
    """One carrier row paired with one platform leg (each side at most once per run)."""

    # no index of its own: both unique constraints below lead with the run
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="matches", db_index=False)
    carrier_cdr = models.ForeignKey(CarrierCdr, on_delete=models.CASCADE, related_name="matches")
    leg = models.ForeignKey(CallLeg, on_delete=models.CASCADE, related_name="carrier_matches")
    method = models.CharField(max_length=16, choices=MatchMethod.choices)
    score = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("1"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "carrier_cdr"], name="cdrmatch_cdr_once"),
            models.UniqueConstraint(fields=["run", "leg"], name="cdrmatch_leg_once"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier_cdr_id} ↔ {self.leg_id} ({self.method})"


class DiscrepancyType(models.TextChoices):
    DURATION_MISMATCH = "duration_mismatch", "Duration mismatch"
    COST_MISMATCH = "cost_mismatch", "Cost mismatch"
    RATE_MISMATCH = "rate_mismatch", "Rate mismatch"
    DOUBLE_BILLED = "double_billed", "Double billed"
    PHANTOM = "phantom", "Phantom (billed, no such call)"
    UNBILLED = "unbilled", "Unbilled (informational)"


class Cause(models.TextChoices):
    INCREMENT_MODEL = "increment_model", "Increment model"
    RATE = "rate", "Rate differs from the card"
    RATE_CARD_VERSION = "rate_card_version", "Another rate-card version"
    TIMEZONE_OFFSET = "timezone_offset", "Time-zone offset"
    CREDIT_LINE = "credit_line", "Credit line"
    DUPLICATE = "duplicate", "Duplicate row"
    MISSING = "missing", "Missing on the other side"
    FORWARDED_LEG = "forwarded_leg", "Forwarded leg billed separately"
    CALL_LENGTH = "call_length", "Call length differs"
    ROUNDING_OR_FEES = "rounding_or_fees", "Rounding, fees or minimums"
    UNRATED = "unrated", "Our leg is unrated"
    NOT_RATED_YET = "not_rated_yet", "Carrier has not rated it yet"


class Discrepancy(models.Model):
    """One flag with both sides and the money at stake (``amount_at_stake`` > 0 = we overpay)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISPUTED = "disputed", "Disputed"
        CREDITED = "credited", "Credited"
        ACCEPTED = "accepted", "Accepted"
        WRITTEN_OFF = "written_off", "Written off"

    # open → disputed → credited / accepted / written_off; open may also be accepted or written off.
    TRANSITIONS = {
        Status.OPEN: {Status.DISPUTED, Status.ACCEPTED, Status.WRITTEN_OFF},
        Status.DISPUTED: {Status.CREDITED, Status.ACCEPTED, Status.WRITTEN_OFF, Status.OPEN},
        Status.CREDITED: {Status.DISPUTED},
        Status.ACCEPTED: {Status.OPEN},
        Status.WRITTEN_OFF: {Status.OPEN},
    }

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="discrepancies")
    key = models.CharField(max_length=80, help_text="type:cdr:leg, stable across re-runs")
    type = models.CharField(max_length=24, choices=DiscrepancyType.choices)
    cause = models.CharField(max_length=24, choices=Cause.choices, blank=True)
    cause_detail = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    carrier_cdr = models.ForeignKey(
        CarrierCdr, null=True, blank=True, on_delete=models.CASCADE, related_name="discrepancies"
    )
    leg = models.ForeignKey(CallLeg, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    match_method = models.CharField(max_length=16, blank=True)
    start_utc = models.DateTimeField(null=True, blank=True)
    platform_seconds = models.IntegerField(null=True, blank=True)
    expected_billable_seconds = models.IntegerField(null=True, blank=True)
    carrier_billed_seconds = models.IntegerField(null=True, blank=True)
    expected_cost = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    carrier_charge = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    amount_at_stake = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True)
    superseded = models.BooleanField(default=False, help_text="no longer found by the latest re-run")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-amount_at_stake", "id"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="discrepancy_unique_key"),
        ]
        indexes = [
            models.Index(fields=["run", "type", "status"], name="discrepancy_run_type_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.amount_at_stake} {self.currency}"


class DiscrepancyNote(models.Model):
    pii_fields = {"text": PiiKind.TEXT}

    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on {self.discrepancy_id}"
