"""Extraction workflows: connections, runs split into chunks, resumable page-by-page storage.

State lives in our tables: a run's chunks keep job id, job state, cursor, pages and expiry, and
every results page is stored in one transaction together with that cursor and the counters. A
killed worker therefore resumes from the last committed page; re-fetching a page is harmless
because storage upserts on natural keys. One worker advances a run at a time (lease on the run).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cdrweb import audit, rollup
from cdrweb.collector import collector_paused
from cdrweb.db import defer_commit_flush
from cdrweb.tasks import claim_lease, enqueue, release_lease
from extraction.models import (
    CallLeg,
    ChunkState,
    Connection,
    Conversation,
    ExtractionChunk,
    ExtractionRun,
    Queue,
    RunState,
    WrapupCode,
)
from extraction.platforms import FlatPage, JobGone, Limits, Page, PlatformAdapter, PlatformError, adapter_for
from extraction.signals import legs_extracted
from extraction.storage import Names, PreparedRows, prepare_rows, store_flat_page

logger = logging.getLogger(__name__)

LEASE_SECONDS = 300  # below django-q2's timeout (300) + retry (360): see cdrweb/settings.py
LEASE_RENEW_SECONDS = 10  # renew at most this often when pages are stored (each page renews it)
QUERY_MAX_DAYS = 7  # genesys-cloud.md §5 [3P]: the sync query allows at most 7 days
ACTIVE_CHUNK_STATES = (ChunkState.SUBMITTED, ChunkState.FETCHING)
ProgressCallback = Callable[[ExtractionRun], None]


class PagesRead(NamedTuple):
    """Consecutive job pages of one chunk, as the writer gets them."""

    pages: list[Page]
    flat: FlatPage | None  # their rows merged, when flattened already (None: the writer flattens)
    rows: PreparedRows | None  # those rows prepared for SQLite, when prepared already
    error: Exception | None  # what stopped the reading after these pages, if anything


def _option(connection: Connection, name: str, default: Any) -> Any:
    """A per-connection tuning knob (connection.settings) with a settings-level default."""
    return (connection.settings or {}).get(name, getattr(settings, f"EXTRACTION_{name.upper()}", default))


# --- connections ------------------------------------------------------------------------------

CONNECTION_FIELDS = ("platform", "name", "region", "base_url", "client_id", "default_region", "is_active", "settings")
SECRET_FIELDS = ("client_secret", "api_token")  # write-only: a blank value keeps the stored one


def save_connection(
    *, connection: Connection | None = None, user: Any = None, data: dict[str, Any], request: Any = None
) -> Connection:
    """Create or update a connection; a blank ``client_secret`` keeps the stored one. Audited."""
    creating = connection is None or connection.pk is None
    connection = connection or Connection()
    # From the database: a bound ModelForm has already copied its data onto the instance.
    before = {} if creating else audit.snapshot(Connection.objects.get(pk=connection.pk))
    for field_name in CONNECTION_FIELDS:
        if field_name in data:
            setattr(connection, field_name, data[field_name])
    changed_secrets = [name for name in SECRET_FIELDS if data.get(name)]
    for name in changed_secrets:
        setattr(connection, name, data[name])
    if changed_secrets or (not creating and before.get("base_url") != connection.base_url):
        # New credentials or endpoint: tokens minted with the old ones must not be reused.
        connection.access_token, connection.refresh_token, connection.token_expires_at = "", "", None
    if not connection.region and not connection.base_url:
        raise ValidationError("Choose a region or give an explicit base URL.")
    connection.full_clean()
    connection.save()
    changes = audit.diff(before, audit.snapshot(connection))
    for name in changed_secrets:
        changes[name] = {"before": None, "after": audit.SECRET_PLACEHOLDER}
    audit.record(actor=user, action="extraction.connection." + ("create" if creating else "update"),
                 obj=connection, summary=f"{'Added' if creating else 'Changed'} connection {connection.name}",
                 changes=changes, request=request)
    return connection


def test_connection(*, connection: Connection, user: Any = None) -> tuple[bool, str]:
    """Get a token and make one cheap call; record the outcome on the connection."""
    try:
        message = adapter_for(connection).test()
    except PlatformError as exc:
        _note_connection(connection, error=str(exc))
        return False, str(exc)
    _note_connection(connection, error="")
    return True, message


def _note_connection(connection: Connection, *, error: str) -> None:
    now = timezone.now()
    if error:
        Connection.objects.filter(pk=connection.pk).update(last_error=error[:2000], last_error_at=now)
    else:
        Connection.objects.filter(pk=connection.pk).update(last_success_at=now)


def sync_reference_data(*, connection: Connection, adapter: PlatformAdapter | None = None) -> tuple[int, int]:
    """Upsert wrap-up code and queue names from the platform's listings; returns (codes, queues)."""
    adapter = adapter or adapter_for(connection)
    codes, queues = adapter.sync_reference_data()
    WrapupCode.objects.bulk_create(
        [WrapupCode(connection=connection, code_id=k, name=v) for k, v in codes.items()],
        update_conflicts=True, unique_fields=["connection", "code_id"], update_fields=["name", "synced_at"],
    )
    Queue.objects.bulk_create(
        [Queue(connection=connection, queue_id=k, name=v) for k, v in queues.items()],
        update_conflicts=True, unique_fields=["connection", "queue_id"], update_fields=["name", "synced_at"],
    )
    # Legs stored before a name was known get it now (set-based, one statement per name).
    renamed = 0
    for code_id, name in codes.items():
        renamed += CallLeg.objects.filter(connection=connection, wrapup_code=code_id).exclude(
            wrapup_name=name).update(wrapup_name=name)
    for queue_id, name in queues.items():
        renamed += CallLeg.objects.filter(connection=connection, queue_id=queue_id).exclude(
            queue_name=name).update(queue_name=name)
    if renamed:
        # The dashboard rollups group by queue and wrap-up name: renamed legs may sit on any day.
        rollup.rebuild_if_ready()
    return len(codes), len(queues)


# --- planning -----------------------------------------------------------------------------------

def _cached_limits(connection: Connection) -> Limits:
    cached = (connection.settings or {}).get("limits") or {}
    return Limits(
        max_interval_days=int(cached.get("max_interval_days") or settings.GENESYS_MAX_JOB_INTERVAL_DAYS),
        page_size=int(cached.get("page_size") or settings.GENESYS_PAGE_SIZE),
        max_concurrent_jobs=int(cached.get("max_concurrent_jobs") or settings.GENESYS_MAX_CONCURRENT_JOBS),
    )


def _split(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    step = timedelta(days=max(1, days))
    out = []
    cursor = start
    while cursor < end:
        out.append((cursor, min(cursor + step, end)))
        cursor += step
    return out


def plan_chunks(*, connection: Connection, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Half-open UTC intervals covering [start, end), none longer than the max job interval.

    Uses the limits last read from the platform (stored on the connection), else the settings.
    """
    _check_period(start, end)
    return _split(start.astimezone(UTC), end.astimezone(UTC), _cached_limits(connection).max_interval_days)


def _check_period(start: datetime, end: datetime) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValidationError("Start and end need a time zone (UTC).")
    if start >= end:
        raise ValidationError("The period's start must be before its end.")


# --- runs -----------------------------------------------------------------------------------------

def start_extraction(
    *,
    connection: Connection,
    start: datetime,
    end: datetime,
    user: Any = None,
    kind: str = ExtractionRun.Kind.MANUAL,
    enqueue_task: bool = True,
) -> ExtractionRun:
    """Create a run for [start, end) with its chunks and queue it for the worker."""
    _check_period(start, end)
    now = timezone.now()
    if start >= now:
        raise ValidationError("The period starts in the future; there is nothing to extract yet.")
    end = min(end, now)
    if not connection.is_active:
        raise ValidationError(f"Connection {connection.name} is not active.")
    with transaction.atomic():
        run = ExtractionRun.objects.create(
            connection=connection, start=start, end=end, kind=kind,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        ExtractionChunk.objects.bulk_create([
            ExtractionChunk(run=run, index=i, interval_start=a, interval_end=b)
            for i, (a, b) in enumerate(plan_chunks(connection=connection, start=start, end=end))
        ])
        audit.record(actor=user, action="extraction.run.start", obj=run,
                     summary=f"Extraction {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} from {connection.name}")
        if enqueue_task:
            enqueue("extraction.tasks.extract_run_task", run.pk)
    logger.info("extraction run %s created: %s chunks", run.pk, run.chunks.count())
    return run


class Step(Enum):
    FINISHED = "finished"
    MORE = "more"  # the time budget ran out; enqueue again
    BUSY = "busy"  # another worker holds the run


def run_extraction(*, run_id: int, progress: ProgressCallback | None = None) -> ExtractionRun:
    """Advance a run in the foreground until it finishes (``extract --wait``, the demo, resume)."""
    while True:
        outcome = advance_run(run_id=run_id, progress=progress)
        if outcome is Step.FINISHED:
            return ExtractionRun.objects.get(pk=run_id)
        if outcome is Step.BUSY:
            raise ValidationError(f"Run {run_id} is being processed by another worker right now.")


def advance_run(
    *, run_id: int, progress: ProgressCallback | None = None, max_seconds: float | None = None
) -> Step:
    """Claim the run's lease and work on it until it finishes or ``max_seconds`` pass."""
    if not claim_lease(ExtractionRun, run_id, seconds=LEASE_SECONDS):
        return Step.BUSY
    try:
        run = ExtractionRun.objects.select_related("connection").get(pk=run_id)
        if run.finished:
            return Step.FINISHED
        return _Worker(run, progress).work(max_seconds)
    finally:
        release_lease(ExtractionRun, run_id)


class _Worker:
    """One lease-holder's pass over a run: submit jobs (bounded), poll, fetch and store pages."""

    def __init__(self, run: ExtractionRun, progress: ProgressCallback | None) -> None:
        self.run = run
        self.connection = run.connection
        self.progress = progress
        self.adapter: PlatformAdapter | None = None
        self.names: Names | None = None
        self.poll_seconds = float(_option(self.connection, "poll_seconds", 2.0))
        self.job_timeout = float(_option(self.connection, "job_timeout_seconds", 1800))
        self.max_attempts = int(_option(self.connection, "max_job_attempts", 4))
        self.pages_per_commit = max(1, int(_option(self.connection, "pages_per_commit", 4)))
        # Read-ahead of job pages: chunk pk -> ((job id, cursor), the fetch in flight).
        self._ahead: dict[int, tuple[tuple[str, str | None], Future[PagesRead]]] = {}
        self._ahead_pool: ThreadPoolExecutor | None = None
        self._ahead_adapter: Any = None
        self._lease_renewed = float("-inf")  # time.monotonic() of the last lease renewal

    def work(self, max_seconds: float | None) -> Step:
        try:
            return self._work(max_seconds)
        finally:
            if self._ahead_pool is not None:  # a page read ahead and not stored is simply dropped
                self._ahead_pool.shutdown(wait=False, cancel_futures=True)

    def _work(self, max_seconds: float | None) -> Step:
        started = time.monotonic()
        try:
            self.adapter = adapter_for(self.connection)
            if not self.run.planned:
                self._begin()
            self.names = Names.for_connection(self.connection)
            while True:
                if self._cancel_requested():
                    self._cancel()
                    return Step.FINISHED
                chunks = list(self.run.chunks.filter(state__in=[ChunkState.PENDING, *ACTIVE_CHUNK_STATES]))
                if not chunks:
                    self._finish()
                    return Step.FINISHED
                self._submit_jobs(chunks)
                did_work = False
                for position, chunk in enumerate(chunks, start=1):
                    with collector_paused():  # a step builds and stores pages of rows (cdrweb/collector.py)
                        did_work = self._step(chunk) or did_work
                    # The loop's head asks after the last chunk: one query per page, not two.
                    if position < len(chunks) and self._cancel_requested():
                        break
                if time.monotonic() - self._lease_renewed > LEASE_RENEW_SECONDS:
                    self._renew_lease()  # a stored page renews it in its own transaction
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    return Step.MORE
                if not did_work:
                    time.sleep(self.poll_seconds)
        except PlatformError as exc:
            logger.warning("extraction run %s failed: %s", self.run.pk, exc)
            self._fail(str(exc))
            return Step.FINISHED

    # --- phases -----------------------------------------------------------------------------
    def _begin(self) -> None:
        """Read live limits and the data-lake watermark, re-plan the chunks, sync names."""
        assert self.adapter is not None
        limits = self.adapter.limits()
        available = self.adapter.data_availability() or timezone.now()
        options = dict(self.connection.settings or {})
        options["limits"] = {"max_interval_days": limits.max_interval_days, "page_size": limits.page_size,
                             "max_concurrent_jobs": limits.max_concurrent_jobs}
        Connection.objects.filter(pk=self.connection.pk).update(settings=options)
        self.connection.settings = options
        try:
            sync_reference_data(connection=self.connection, adapter=self.adapter)
        except PlatformError as exc:  # names are a convenience; the calls still extract
            logger.warning("wrap-up/queue names not synced for %s: %s", self.connection.name, exc)
        run = self.run
        # §4.4: a job over an interval ending after dataAvailabilityDate is silently incomplete, so
        # jobs cover the period up to the watermark and the sync query covers the rest.
        boundary = min(max(available, run.start), run.end)
        plan = [(ExtractionChunk.Kind.JOB, a, b) for a, b in _split(run.start, boundary, limits.max_interval_days)]
        plan += [(ExtractionChunk.Kind.QUERY, a, b) for a, b in _split(boundary, run.end, QUERY_MAX_DAYS)]
        with transaction.atomic():
            untouched = not run.chunks.exclude(state=ChunkState.PENDING, attempts=0, pages_fetched=0).exists()
            if untouched:
                run.chunks.all().delete()
                ExtractionChunk.objects.bulk_create([
                    ExtractionChunk(run=run, index=i, kind=kind, interval_start=a, interval_end=b)
                    for i, (kind, a, b) in enumerate(plan)
                ])
            ExtractionRun.objects.filter(pk=run.pk).update(
                planned=True, state=RunState.RUNNING, started_at=timezone.now(), data_availability_date=available)
        run.refresh_from_db()
        logger.info("extraction run %s planned: %s chunks, data available to %s", run.pk, len(plan), available)
        self._report()

    def _submit_jobs(self, chunks: list[ExtractionChunk]) -> None:
        """Keep at most max_concurrent_jobs jobs open on the platform."""
        assert self.adapter is not None
        limit = self.adapter.limits().max_concurrent_jobs
        active = sum(1 for c in chunks if c.kind == ExtractionChunk.Kind.JOB and c.state in ACTIVE_CHUNK_STATES)
        for chunk in chunks:
            if active >= limit:
                return
            if chunk.kind == ExtractionChunk.Kind.JOB and chunk.state == ChunkState.PENDING:
                job_id = self.adapter.submit_job(chunk.interval_start, chunk.interval_end)
                chunk.job_id, chunk.job_state, chunk.state = job_id, "QUEUED", ChunkState.SUBMITTED
                chunk.attempts += 1
                chunk.cursor = ""
                chunk.save(update_fields=["job_id", "job_state", "state", "attempts", "cursor", "updated_at"])
                logger.info("run %s chunk %s: job %s submitted", self.run.pk, chunk.index, job_id)
                active += 1

    def _step(self, chunk: ExtractionChunk) -> bool:
        """One unit on one chunk: a status poll or one stored page. True when a page was stored."""
        assert self.adapter is not None
        if chunk.kind == ExtractionChunk.Kind.QUERY:
            if chunk.state == ChunkState.PENDING:
                chunk.state = ChunkState.FETCHING
            page = self.adapter.fetch_query_page(chunk.interval_start, chunk.interval_end, chunk.next_page_number)
            done = page.next_page_number is None
            self._store(chunk, page.records, done=done, next_page_number=page.next_page_number or 0)
            return True
        if chunk.state == ChunkState.SUBMITTED:
            status = self.adapter.job_status(chunk.job_id)
            chunk.job_state, chunk.job_expires_at = status.state, status.expires_at
            if status.ready:
                chunk.state = ChunkState.FETCHING
                chunk.save(update_fields=["job_state", "job_expires_at", "state", "updated_at"])
                return True
            if status.gone:
                self._resubmit(chunk, f"job {status.state}: {status.error}".strip(": "))
                return True
            if chunk.updated_at and timezone.now() - chunk.updated_at > timedelta(seconds=self.job_timeout):
                self.adapter.delete_job(chunk.job_id)
                self._resubmit(chunk, f"job stayed {status.state} for over {self.job_timeout:.0f}s")
                return True
            ExtractionChunk.objects.filter(pk=chunk.pk).update(job_state=status.state,
                                                               job_expires_at=status.expires_at)
            return False
        if chunk.state == ChunkState.FETCHING:
            try:
                pages, flat, rows, error = self._job_pages(chunk)
            except JobGone as exc:
                self._resubmit(chunk, str(exc))
                return True
            if pages:
                last = pages[-1]
                done = last.next_cursor is None
                if not done and error is None:
                    self._read_ahead(chunk, last.next_cursor)
                if flat is None:  # fetched by this thread just now
                    flat = _merged([self.adapter.flatten(page.records) for page in pages])
                self._store(chunk, [], done=done, cursor=last.next_cursor or "", flat=flat, rows=rows,
                            pages=len(pages))
                if done:
                    self.adapter.delete_job(chunk.job_id)  # results are stored: tidy up (issue 3)
            if isinstance(error, JobGone):
                self._resubmit(chunk, str(error))
            elif error is not None:
                raise error  # the pages before it are stored: a resumed run starts at the bad one
            return True
        return False

    def _job_pages(self, chunk: ExtractionChunk) -> PagesRead:
        """The chunk's next pages, in order: the ones read ahead (already flattened) if they are for
        this job and cursor, with the error that stopped the read-ahead if any; else one page
        fetched now (flattened by the caller), whose errors are raised here."""
        assert self.adapter is not None
        key = (chunk.job_id, chunk.cursor or None)
        ahead = self._ahead.pop(chunk.pk, None)
        if ahead is not None and ahead[0] == key:
            return ahead[1].result()
        return PagesRead([self.adapter.fetch_job_page(*key)], None, None, None)

    def _read_ahead(self, chunk: ExtractionChunk, cursor: str | None) -> None:
        """Fetch and flatten the chunk's following pages in the background while these are stored
        (issue 3): the thread works while the main one waits on the database, and the pages it
        brings are stored together, in one transaction (one set of statements and one commit for
        ``pages_per_commit`` pages instead of one per page).

        Only for adapters that can ``fork()`` (a copy with its own HTTP session and no database
        access). Pages read ahead are only stored after the pages before them have committed, and
        with the cursor that follows the last of them, so a crash still resumes from the stored
        cursor and loses or repeats nothing.
        """
        fork = getattr(self.adapter, "fork", None)
        if fork is None:
            return
        if self._ahead_pool is None:
            self._ahead_adapter = fork()
            self._ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extraction-read-ahead")
        # On SQLite the thread also builds the rows the writer inserts (storage.prepare_rows).
        prepare = partial(prepare_rows, connection_pk=self.connection.pk) if db_connection.vendor == "sqlite" else None
        future = self._ahead_pool.submit(_fetch_and_flatten, self._ahead_adapter, chunk.job_id, cursor,
                                         self.pages_per_commit, prepare)
        self._ahead[chunk.pk] = ((chunk.job_id, cursor), future)

    def _resubmit(self, chunk: ExtractionChunk, reason: str) -> None:
        """FAILED/EXPIRED/stuck job: submit the chunk again from its start, up to max attempts."""
        logger.warning("run %s chunk %s: %s", self.run.pk, chunk.index, reason)
        chunk.error = reason[:2000]
        chunk.job_id, chunk.cursor = "", ""
        chunk.state = ChunkState.FAILED if chunk.attempts >= self.max_attempts else ChunkState.PENDING
        if chunk.state == ChunkState.FAILED:
            chunk.error = f"gave up after {chunk.attempts} job submissions: {reason}"[:2000]
        chunk.save(update_fields=["error", "job_id", "cursor", "state", "updated_at"])

    def _store(self, chunk: ExtractionChunk, records: list[dict[str, Any]], *, done: bool,
               cursor: str = "", next_page_number: int = 0, flat: FlatPage | None = None,
               rows: PreparedRows | None = None, pages: int = 1) -> None:
        """Flatten (unless ``flat`` is given) and store one page (or ``pages`` consecutive pages
        merged into ``flat``, with ``rows`` if prepared), with the chunk's cursor and counters, in
        one transaction."""
        assert self.adapter is not None and self.names is not None
        if flat is None:
            flat = self.adapter.flatten(records)
        with transaction.atomic():
            defer_commit_flush()
            counts = store_flat_page(connection=self.connection, page=flat, names=self.names, rows=rows)
            updates: dict[str, Any] = {
                "pages_fetched": F("pages_fetched") + pages,
                "conversations": F("conversations") + counts.conversations,
                "call_legs": F("call_legs") + counts.call_legs,
                "state": ChunkState.DONE if done else ChunkState.FETCHING,
                "updated_at": timezone.now(),
            }
            if flat.problems:  # rows the adapter could not read: kept on the chunk, never dropped silently
                updates["error"] = _merge_problems(chunk.error, flat.problems)
                chunk.error = updates["error"]
            if chunk.kind == ExtractionChunk.Kind.JOB:
                updates["cursor"] = cursor
            else:
                updates["next_page_number"] = next_page_number or chunk.next_page_number + 1
            ExtractionChunk.objects.filter(pk=chunk.pk).update(**updates)
            ExtractionRun.objects.filter(pk=self.run.pk).update(
                pages_fetched=F("pages_fetched") + pages,
                conversations=F("conversations") + counts.conversations,
                call_legs=F("call_legs") + counts.call_legs,
                lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS),
            )
        self._lease_renewed = time.monotonic()
        # The row now holds what we wrote (the lease keeps other workers off this run's chunks):
        # mirror it instead of reading it back.
        chunk.pages_fetched += pages
        chunk.conversations += counts.conversations
        chunk.call_legs += counts.call_legs
        chunk.state, chunk.updated_at = updates["state"], updates["updated_at"]
        chunk.cursor = updates.get("cursor", chunk.cursor)
        chunk.next_page_number = updates.get("next_page_number", chunk.next_page_number)
        logger.info("run %s chunk %s page %s: %s conversations, %s legs", self.run.pk, chunk.index,
                    chunk.pages_fetched, counts.conversations, counts.call_legs)
        if flat.problems or flat.skipped:
            logger.warning("run %s chunk %s: %s row problem(s), skipped %s", self.run.pk, chunk.index,
                           len(flat.problems), flat.skipped or "none")
        self._report()

    def _finish(self) -> None:
        """Refresh still-open conversations, count, set the state and the watermark, announce legs."""
        run = self.run
        refreshed = self._refresh_open()
        failed = list(run.chunks.filter(state=ChunkState.FAILED).order_by("index"))
        period = _overlapping(Conversation.objects.filter(connection=self.connection), run.start, run.end)
        conversations = period.count()
        legs = CallLeg.objects.filter(conversation__in=period).count()
        state = RunState.FAILED if failed else RunState.SUCCEEDED
        error = "; ".join(f"chunk {c.index} ({c.interval_start:%Y-%m-%d}): {c.error}" for c in failed)
        with transaction.atomic():
            ExtractionRun.objects.filter(pk=run.pk).update(
                state=state, finished_at=timezone.now(), conversations=conversations, call_legs=legs,
                open_refreshed=refreshed, error=error[:4000])
            if run.kind == ExtractionRun.Kind.SCHEDULED:
                _advance_watermark(run)
            _note_connection(self.connection, error=error)
            rollup.refresh_after_extraction(run)  # the dashboard's daily rollup: days of the legs stored
            transaction.on_commit(lambda: legs_extracted.send(
                sender=ExtractionRun, connection_id=self.connection.pk, start=run.start, end=run.end))
        run.refresh_from_db()
        logger.info("extraction run %s %s: %s conversations, %s legs", run.pk, state, conversations, legs)
        self._report()

    def _refresh_open(self) -> int:
        """Conversations stored without an end are fetched again until they close (issue 3)."""
        assert self.adapter is not None
        ids = list(Conversation.objects.filter(connection=self.connection, is_open=True)
                   .values_list("conversation_id", flat=True)[:10_000])
        if not ids:
            return 0
        records = self.adapter.fetch_by_ids(ids)
        flat = self.adapter.flatten(records)
        assert self.names is not None
        with transaction.atomic():
            store_flat_page(connection=self.connection, page=flat, names=self.names)
        return len(records)

    def _fail(self, error: str) -> None:
        ExtractionRun.objects.filter(pk=self.run.pk).update(
            state=RunState.FAILED, finished_at=timezone.now(), error=error[:4000])
        _note_connection(self.connection, error=error)
        self.run.refresh_from_db()
        self._report()

    def _cancel_requested(self) -> bool:
        return ExtractionRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()

    def _cancel(self) -> None:
        assert self.adapter is not None
        for chunk in self.run.chunks.filter(state__in=ACTIVE_CHUNK_STATES).exclude(job_id=""):
            self.adapter.delete_job(chunk.job_id)
        _mark_cancelled(self.run)
        self.run.refresh_from_db()
        self._report()

    def _renew_lease(self) -> None:
        ExtractionRun.objects.filter(pk=self.run.pk).update(
            lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS))
        self._lease_renewed = time.monotonic()

    def _report(self) -> None:
        if self.progress is not None:
            self.run.refresh_from_db()
            self.progress(self.run)


def _fetch_and_flatten(adapter: Any, job_id: str, cursor: str | None, count: int,
                       prepare: Callable[[FlatPage], PreparedRows] | None = None) -> PagesRead:
    """The read-ahead thread's unit (no database access): up to ``count`` consecutive job pages
    and their rows (merged, and prepared by ``prepare`` if given), stopping after the last page;
    a failed fetch ends the list and is returned, so the pages before it are still stored."""
    pages: list[Page] = []
    flats: list[FlatPage] = []
    error: Exception | None = None
    while len(pages) < count:
        try:
            page = adapter.fetch_job_page(job_id, cursor)
            flat = adapter.flatten(page.records)
        except Exception as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            error = exc
            break
        pages.append(page)
        flats.append(flat)
        cursor = page.next_cursor
        if cursor is None:
            break
    if not pages:
        return PagesRead([], None, None, error)
    merged = _merged(flats)
    return PagesRead(pages, merged, prepare(merged) if prepare is not None else None, error)


def _merged(flats: list[FlatPage]) -> FlatPage:
    """Consecutive pages as one: stored together, later copies of a record win as they would
    have if the pages were stored one after another."""
    if len(flats) == 1:
        return flats[0]
    skipped: dict[str, int] = {}
    for flat in flats:
        for kind, count in flat.skipped.items():
            skipped[kind] = skipped.get(kind, 0) + count
    return FlatPage(conversations=[c for f in flats for c in f.conversations],
                    legs=[leg for f in flats for leg in f.legs],
                    problems=[p for f in flats for p in f.problems], skipped=skipped)


def _merge_problems(existing: str, problems: list[str], limit: int = 4000) -> str:
    """Append new row problems to a chunk's text once each (a re-fetched page repeats them)."""
    lines = [line for line in existing.splitlines() if line]
    lines += [p for p in problems if p not in lines]
    return "\n".join(lines)[-limit:]


def _overlapping(conversations: Any, start: datetime, end: datetime) -> Any:
    """Job semantics (§4.1): conversations whose lifetime overlaps [start, end)."""
    return conversations.filter(Q(conversation_end__isnull=True) | Q(conversation_end__gte=start),
                                conversation_start__lt=end)


def _mark_cancelled(run: ExtractionRun) -> None:
    with transaction.atomic():
        run.chunks.exclude(state=ChunkState.DONE).update(state=ChunkState.CANCELLED)
        ExtractionRun.objects.filter(pk=run.pk).update(state=RunState.CANCELLED, finished_at=timezone.now())


def _advance_watermark(run: ExtractionRun) -> None:
    """Move the connection's watermark to the end of the run's leading done chunks, never past a failure."""
    reached = run.start
    for chunk in run.chunks.order_by("index"):
        if chunk.state != ChunkState.DONE:
            break
        reached = chunk.interval_end
    Connection.objects.filter(pk=run.connection_id).filter(
        Q(watermark__isnull=True) | Q(watermark__lt=reached), Q(watermark__isnull=True) | Q(watermark__gte=run.start)
    ).update(watermark=reached)


def cancel_run(*, run_id: int, user: Any = None) -> ExtractionRun:
    """Ask a run to stop; the worker deletes open jobs. A run nobody is working on stops at once."""
    run = ExtractionRun.objects.get(pk=run_id)
    if run.finished:
        return run
    ExtractionRun.objects.filter(pk=run_id).update(cancel_requested=True)
    if claim_lease(ExtractionRun, run_id, seconds=60):
        try:
            _mark_cancelled(run)
        finally:
            release_lease(ExtractionRun, run_id)
    audit.record(actor=user, action="extraction.run.cancel", obj=run, summary=f"Cancelled run {run.pk}")
    run.refresh_from_db()
    return run


def resume_run(*, run_id: int, user: Any = None, enqueue_task: bool = True) -> ExtractionRun:
    """Reopen a failed run: failed chunks are retried (fresh job), stored pages are kept."""
    run = ExtractionRun.objects.get(pk=run_id)
    if run.state != RunState.FAILED:
        return run
    with transaction.atomic():
        run.chunks.filter(state=ChunkState.FAILED).update(state=ChunkState.PENDING, attempts=0, job_id="",
                                                          cursor="")
        ExtractionRun.objects.filter(pk=run_id).update(
            state=RunState.RUNNING if run.planned else RunState.PENDING, finished_at=None, error="")
        audit.record(actor=user, action="extraction.run.resume", obj=run, summary=f"Resumed run {run.pk}")
        if enqueue_task:
            enqueue("extraction.tasks.extract_run_task", run.pk)
    run.refresh_from_db()
    return run


def orphaned_runs() -> list[int]:
    """Ids of unfinished runs that no worker holds (lease free or expired)."""
    now = timezone.now()
    return list(
        ExtractionRun.objects.filter(state__in=[RunState.PENDING, RunState.RUNNING])
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(state=RunState.RUNNING) | Q(created_at__lt=now - timedelta(minutes=2)))
        .values_list("pk", flat=True)
    )


def sweep_orphaned_runs() -> int:
    """Re-enqueue unfinished runs whose worker died (lease expired); returns how many."""
    ids = orphaned_runs()
    for run_id in ids:
        enqueue("extraction.tasks.extract_run_task", run_id)
    if ids:
        logger.info("extraction sweeper re-enqueued runs %s", ids)
    return len(ids)


def start_incremental_run(*, connection_id: int) -> ExtractionRun | None:
    """A scheduled run from the watermark (minus a small overlap) to a minute or two ago."""
    connection = Connection.objects.get(pk=connection_id)
    if not connection.is_active:
        return None
    if connection.runs.filter(state__in=[RunState.PENDING, RunState.RUNNING]).exists():
        return None  # the previous one is still going; the next tick continues from its watermark
    now = timezone.now().replace(second=0, microsecond=0)
    overlap = timedelta(minutes=int(_option(connection, "incremental_overlap_minutes", 15)))
    lookback = timedelta(hours=int(_option(connection, "incremental_first_hours", 24)))
    start = (connection.watermark or now - lookback) - overlap
    end = now - timedelta(minutes=2)  # §5: keep the end a minute or more in the past
    if start >= end:
        return None
    return start_extraction(connection=connection, start=start, end=end, kind=ExtractionRun.Kind.SCHEDULED)


def setup_schedules() -> int:
    """Create/update django-q2 schedules: the sweeper and one incremental run per active connection."""
    from django_q.models import Schedule

    names = {"extraction-sweeper"}
    Schedule.objects.update_or_create(
        name="extraction-sweeper",
        defaults={"func": "extraction.tasks.sweep_orphaned_runs_task", "schedule_type": Schedule.MINUTES,
                  "minutes": 5, "repeats": -1},
    )
    for connection in Connection.objects.filter(is_active=True):
        name = f"extraction-incremental-{connection.pk}"
        names.add(name)
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": "extraction.tasks.incremental_run_task", "args": repr((connection.pk,)),
                      "schedule_type": Schedule.MINUTES,
                      "minutes": int(_option(connection, "incremental_minutes", 60)), "repeats": -1},
        )
    Schedule.objects.filter(name__startswith="extraction-").exclude(name__in=names).delete()
    return len(names)
