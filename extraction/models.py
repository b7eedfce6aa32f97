"""Connections, extraction runs, the flattened conversation tables and the platform-neutral CallLeg."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cdrweb.fields import EncryptedTextField
from cdrweb.masking import PiiKind


class Platform(models.TextChoices):
    GENESYS = "genesys", "Genesys Cloud"
    ENGAGE = "engage", "RingCentral Engage Voice (RingCX)"
    VOISO = "voiso", "Voiso"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Connection(models.Model):
    """Credentials and endpoint for one contact-centre platform account."""

    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.GENESYS)
    name = models.CharField(max_length=100, unique=True)
    region = models.CharField(
        max_length=100, blank=True, help_text="Genesys region domain, e.g. mypurecloud.ie"
    )
    base_url = models.URLField(
        blank=True, help_text="Explicit API base URL (sandbox, proxy); overrides the region"
    )
    client_id = models.CharField(max_length=200, blank=True)
    client_secret = EncryptedTextField(blank=True)
    # Engage Voice (RingCX): the RingCentral JWT credential entered by the admin, and the RingCX
    # tokens the adapter rotates (refresh tokens change on every refresh; written under a row lock).
    api_token = EncryptedTextField(blank=True, help_text="RingCentral JWT credential (Engage Voice)")
    refresh_token = EncryptedTextField(blank=True, help_text="rotating refresh token, written by the adapter")
    access_token = EncryptedTextField(blank=True, help_text="short-lived access token shared by workers")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="platform-specific options")
    default_region = models.CharField(
        max_length=2, default="US", help_text="country for numbers in national format"
    )
    is_active = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    watermark = models.DateTimeField(
        null=True, blank=True, help_text="scheduled runs continue from here (never past a failed chunk)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    """One platform conversation (Genesys ``AnalyticsConversation``); other platforms' calls too."""

    # No index of its own: the unique (connection, conversation_id) index leads with it (issue 3:
    # every index is written for each stored row).
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="conversations",
                                   db_index=False)
    conversation_id = models.CharField(max_length=64)
    conversation_start = models.DateTimeField(db_index=True)
    conversation_end = models.DateTimeField(null=True, blank=True)
    originating_direction = models.CharField(max_length=16, blank=True)
    division_ids = models.JSONField(default=list, blank=True)
    media_stats_min_conversation_mos = models.FloatField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="the record as received, for audit")
    is_open = models.BooleanField(default=False, db_index=True, help_text="no conversationEnd yet")
    extracted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "conversation_id"], name="conversation_unique_per_connection"
            )
        ]

    def __str__(self) -> str:
        return self.conversation_id


class CallLeg(models.Model):
    """One billable external voice session on a trunk: what billing rates and reconciliation joins.

    Platform-neutral: Genesys customer/external sessions, Engage Voice and Voiso calls all land here.
    Durations in milliseconds; times in UTC.
    """

    pii_fields = {"ani": PiiKind.PHONE, "dnis": PiiKind.PHONE, "ani_e164": PiiKind.PHONE,
                  "dnis_e164": PiiKind.PHONE}

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="call_legs",
                                   db_index=False)  # the unique (connection, leg_id) index leads with it
    platform = models.CharField(max_length=16, choices=Platform.choices)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="call_legs"
    )
    external_call_id = models.CharField(
        max_length=100, help_text="platform call id: Genesys conversationId, RingCX uii, Voiso uuid"
    )
    leg_id = models.CharField(max_length=100, help_text="platform leg id (Genesys sessionId)")
    sip_call_id = models.CharField(max_length=255, blank=True, help_text="canonical SIP Call-ID")
    sip_call_id_local = models.CharField(max_length=255, blank=True, help_text="Call-ID before the first @")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    ani = models.CharField(max_length=255, blank=True, help_text="calling number as received")
    dnis = models.CharField(max_length=255, blank=True, help_text="called number as received")
    ani_e164 = models.CharField(max_length=20, blank=True, help_text="+E.164 or empty")
    dnis_e164 = models.CharField(max_length=20, blank=True, help_text="+E.164 or empty")
    # indexed by callleg_start_direction, which leads with it
    started_at = models.DateTimeField(help_text="session start (setup)")
    connected_at = models.DateTimeField(null=True, blank=True, help_text="answer time")
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(default=0, help_text="answer to end: the billable talk time")
    talk_ms = models.BigIntegerField(default=0, help_text="agent talk time")
    queue_id = models.CharField(max_length=64, blank=True)
    queue_name = models.CharField(max_length=200, blank=True)
    wrapup_code = models.CharField(max_length=100, blank=True, help_text="platform wrap-up code id")
    wrapup_name = models.CharField(max_length=200, blank=True)
    edge_id = models.CharField(max_length=64, blank=True)
    trunk = models.CharField(max_length=200, blank=True, help_text="trunk/provider the leg used")
    provider = models.CharField(max_length=100, blank=True)
    purpose = models.CharField(max_length=32, blank=True, help_text="customer / external")
    is_open = models.BooleanField(default=False, help_text="not yet ended at extraction time")
    disconnect_type = models.CharField(max_length=32, blank=True)
    sip_response_code = models.IntegerField(null=True, blank=True)
    extracted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "leg_id"], name="callleg_unique_per_connection"),
        ]
        indexes = [
            models.Index(fields=["sip_call_id"], name="callleg_sip_call_id"),
            # Reconciliation joins on it by equality only: a plain index, without the pattern-ops
            # twin that db_index=True adds on PostgreSQL.
            models.Index(fields=["sip_call_id_local"], name="callleg_sip_call_id_local"),
            models.Index(fields=["started_at", "direction"], name="callleg_start_direction"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.leg_id}"

    @property
    def answered(self) -> bool:
        return self.connected_at is not None and self.duration_ms > 0


# The four child tables below (participants, sessions, segments, metrics) keep their foreign keys
# in Django (joins, related managers, cascading deletes through the ORM) but not as database
# constraints: they hold ~25 rows per conversation, and PostgreSQL's per-row foreign-key triggers
# were half of the server's work during an extraction (issue 3, docs/benchmarks.md). Their rows
# are written in exactly one place, ``extraction.storage.store_flat_page``, which inserts a
# conversation's children in the same transaction as the conversation, replaces them bottom-up
# when it is fetched again, and is tested to leave no orphan. For the same reason segments and
# metrics carry no unique index (the flattener numbers a session's segments and sums a metric
# repeated with the same emit date); both are read by their conversation_id index. Call legs,
# which billing and reconciliation hang on, keep their constraints.


class Participant(models.Model):
    """One participant of a conversation (Genesys ``AnalyticsParticipant``)."""

    pii_fields = {"participant_name": PiiKind.NAME}

    # indexed by the unique (conversation, participant_id) index, which leads with it
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants",
                                     db_index=False, db_constraint=False)
    participant_id = models.CharField(max_length=64)
    participant_name = models.CharField(max_length=255, blank=True)
    purpose = models.CharField(max_length=32, blank=True)
    user_id = models.CharField(max_length=64, blank=True)
    external_contact_id = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True, help_text="participant data (jobs only)")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "participant_id"], name="participant_unique_per_conversation"
            )
        ]

    def __str__(self) -> str:
        return self.participant_id


class Session(models.Model):
    """One media session of a participant, with the common metrics as numeric columns (ms, counts)."""

    pii_fields = {"ani": PiiKind.PHONE, "dnis": PiiKind.PHONE, "session_dnis": PiiKind.PHONE,
                  "remote": PiiKind.PHONE}

    # indexed by the unique (conversation, session_id) index, which leads with it
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="sessions",
                                     db_index=False, db_constraint=False)
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="sessions",
                                    db_constraint=False)
    session_id = models.CharField(max_length=64)
    media_type = models.CharField(max_length=32, blank=True)
    direction = models.CharField(max_length=16, blank=True)
    ani = models.CharField(max_length=255, blank=True)
    dnis = models.CharField(max_length=255, blank=True)
    session_dnis = models.CharField(max_length=255, blank=True)
    remote = models.CharField(max_length=255, blank=True)
    protocol_call_id = models.CharField(max_length=255, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    edge_id = models.CharField(max_length=64, blank=True)
    peer_id = models.CharField(max_length=64, blank=True)
    flow_name = models.CharField(max_length=200, blank=True)
    # Common metrics summed per session (genesys-cloud.md §8: a metric can repeat per session).
    t_talk_ms = models.BigIntegerField(null=True, blank=True)
    t_held_ms = models.BigIntegerField(null=True, blank=True)
    t_acw_ms = models.BigIntegerField(null=True, blank=True)
    t_handle_ms = models.BigIntegerField(null=True, blank=True)
    t_alert_ms = models.BigIntegerField(null=True, blank=True)
    t_connected_ms = models.BigIntegerField(null=True, blank=True)
    n_transferred = models.IntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "session_id"], name="session_unique_per_conversation")
        ]

    def __str__(self) -> str:
        return self.session_id


class Segment(models.Model):
    """One segment of a session, keyed by its position in the session."""

    pii_fields = {"wrap_up_note": PiiKind.TEXT}

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="segments",
                                     db_constraint=False)
    # Deleted with their conversation (same for metrics), so no delete ever asks by session.
    session = models.ForeignKey(Session, on_delete=models.DO_NOTHING, related_name="segments",
                                db_index=False, db_constraint=False)
    segment_index = models.PositiveIntegerField()
    segment_start = models.DateTimeField()
    segment_end = models.DateTimeField(null=True, blank=True)
    segment_type = models.CharField(max_length=32, blank=True)
    queue_id = models.CharField(max_length=64, blank=True)
    wrap_up_code = models.CharField(max_length=100, blank=True)
    wrap_up_note = models.TextField(blank=True)
    disconnect_type = models.CharField(max_length=32, blank=True)
    sip_response_codes = models.JSONField(default=list, blank=True)
    q850_response_codes = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"{self.session_id}#{self.segment_index}"


class SessionMetric(models.Model):
    """Every session metric row-wise (name, integer value, emit date); durations are ms."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="metrics",
                                     db_constraint=False)
    session = models.ForeignKey(Session, on_delete=models.DO_NOTHING, related_name="metrics",
                                db_index=False, db_constraint=False)
    name = models.CharField(max_length=64)
    value = models.BigIntegerField()
    emit_date = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class WrapupCode(models.Model):
    """A wrap-up code id and its name, synced from the platform's listing."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="wrapup_codes")
    code_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "code_id"], name="wrapupcode_unique_per_connection")
        ]

    def __str__(self) -> str:
        return self.name


class Queue(models.Model):
    """A queue id and its name, synced from the platform's listing."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="queues")
    queue_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "queue_id"], name="queue_unique_per_connection")
        ]

    def __str__(self) -> str:
        return self.name


class RunState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ExtractionRun(models.Model):
    """One extraction of a half-open UTC period [start, end) from one connection."""

    FINISHED = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)

    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    start = models.DateTimeField()
    end = models.DateTimeField()
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    lease_until = models.DateTimeField(null=True, blank=True)
    planned = models.BooleanField(default=False, help_text="chunks re-planned from the live limits")
    data_availability_date = models.DateTimeField(null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(default=0)
    conversations = models.PositiveIntegerField(default=0, help_text="conversation records stored")
    call_legs = models.PositiveIntegerField(default=0, help_text="call-leg records stored")
    open_refreshed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "lease_until"], name="extractionrun_state_lease")]

    def __str__(self) -> str:
        return f"run {self.pk} {self.connection} {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED


class ChunkState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUBMITTED = "submitted", "Job submitted"
    FETCHING = "fetching", "Fetching pages"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ExtractionChunk(models.Model):
    """One interval of a run: an async job (or a sync query past the data-lake watermark) and its cursor."""

    class Kind(models.TextChoices):
        JOB = "job", "Async details job"
        QUERY = "query", "Sync details query"

    run = models.ForeignKey(ExtractionRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.JOB)
    interval_start = models.DateTimeField()
    interval_end = models.DateTimeField()
    state = models.CharField(max_length=16, choices=ChunkState.choices, default=ChunkState.PENDING)
    job_id = models.CharField(max_length=64, blank=True)
    job_state = models.CharField(max_length=16, blank=True)
    job_expires_at = models.DateTimeField(null=True, blank=True)
    cursor = models.TextField(blank=True, help_text="opaque cursor of the next page (jobs)")
    next_page_number = models.PositiveIntegerField(default=1, help_text="next page (sync query)")
    pages_fetched = models.PositiveIntegerField(default=0)
    conversations = models.PositiveIntegerField(default=0)
    call_legs = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0, help_text="job submissions")
    error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="chunk_unique_index_per_run")]

    def __str__(self) -> str:
        return f"chunk {self.index} of run {self.run_id}"
