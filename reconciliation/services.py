"""Writes and workflows of the reconciliation app: uploads, imports, runs and the review workflow.

Policy for bad rows: **an upload with any bad row is rejected whole**. Good rows are staged chunk by
chunk (with the resume cursor, in one transaction per chunk) but stay invisible to runs until the
upload is ``imported``; at the end, if any row failed, the staged rows are deleted in one
transaction and the upload is ``rejected`` with its error report kept for download. A carrier file
is an invoice: importing part of it would understate what the carrier billed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pandas as pd
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from billing.models import Carrier
from cdrweb import audit
from cdrweb.tasks import claim_lease, enqueue, release_lease
from reconciliation import presets, reader, store
from reconciliation.models import (
    CarrierCdr,
    CarrierUpload,
    ColumnMapping,
    Discrepancy,
    DiscrepancyNote,
    ReconciliationRun,
    UploadRowError,
)
from reconciliation.normalise import Context, missing_columns, normalise_chunk
from reconciliation.preview import build_preview

logger = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
PREVIEW_ROWS = 5_000
LEASE_SECONDS = 300
TIME_BUDGET_SECONDS = 240  # below the Q2 timeout (300); the task re-enqueues itself after it
INSERT_BATCH = 5_000


@dataclass(frozen=True)
class ImportSummary:
    upload_id: int
    status: str
    rows_imported: int
    rows_error: int
    rows_credit: int


# --- uploads ------------------------------------------------------------------------------


def sha256_of(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def resolve_upload_mapping(
    *, preset: str = "", mapping: ColumnMapping | None = None, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The mapping an upload uses: a preset, a saved mapping or a JSON object (exactly one)."""
    given = [x for x in (preset, mapping, fields) if x]
    if len(given) != 1:
        raise ValidationError("Choose exactly one of a preset, a saved mapping or a mapping file.")
    if preset:
        return presets.preset_mapping(preset)
    if mapping is not None:
        return presets.resolve_mapping(mapping.fields, mapping.based_on_preset)
    return presets.validate_mapping(fields)


def create_upload(
    *,
    carrier: Carrier,
    stream: IO[bytes],
    original_name: str,
    preset: str = "",
    mapping: ColumnMapping | None = None,
    mapping_fields: dict[str, Any] | None = None,
    timezone_name: str = "",
    period_start: date | None = None,
    period_end: date | None = None,
    user: Any = None,
    chunk_rows: int = CHUNK_ROWS,
) -> CarrierUpload:
    """Store the file, refuse it when already imported, and build the data-quality preview."""
    resolved = resolve_upload_mapping(preset=preset, mapping=mapping, fields=mapping_fields)
    if timezone_name:
        presets.validate_mapping({"start": "x", "duration": "x", "timezone": timezone_name})
    if period_start and period_end and period_end < period_start:
        raise ValidationError("The period ends before it starts.")
    digest = sha256_of(stream)
    earlier = CarrierUpload.objects.filter(
        carrier=carrier, sha256=digest, status__in=CarrierUpload.ACTIVE_STATUSES
    ).first()
    if earlier:
        raise ValidationError(
            f"This file was already uploaded for {carrier} as upload #{earlier.pk} "
            f"({earlier.original_name}, {earlier.get_status_display().lower()})."
        )
    upload = CarrierUpload(
        carrier=carrier, original_name=original_name[:255], sha256=digest, preset=preset,
        mapping=mapping, mapping_used=resolved, timezone=timezone_name, uploaded_by=user,
        period_start=period_start, period_end=period_end, chunk_rows=max(int(chunk_rows), 1),
    )
    upload.file.save(Path(original_name).name or "carrier.csv", File(stream), save=False)
    upload.size_bytes = upload.file.size
    try:
        _fill_preview(upload)
    except ValidationError:
        upload.file.delete(save=False)
        raise
    try:
        with transaction.atomic():
            upload.save()
    except IntegrityError as exc:  # a concurrent upload of the same file won the race
        upload.file.delete(save=False)
        raise ValidationError("This file was already uploaded for this carrier.") from exc
    audit.record(actor=user, action="reconciliation.upload.create", obj=upload,
                 summary=f"{original_name} ({upload.size_bytes} bytes) for {carrier}")
    return upload


def _file_format(upload: CarrierUpload) -> reader.FileFormat:
    mapping = upload.mapping_used
    try:
        return reader.detect_format(
            Path(upload.file.path), encoding=mapping.get("encoding", ""), delimiter=mapping.get("delimiter", "")
        )
    except (OSError, ValueError, LookupError) as exc:
        raise ValidationError(f"Cannot read the file: {exc}") from exc


def _context(upload: CarrierUpload) -> Context:
    return Context(
        default_region=upload.carrier.default_region,
        carrier_currency=upload.carrier.currency,
        timezone_override=upload.timezone,
    )


def _fill_preview(upload: CarrierUpload) -> None:
    path = Path(upload.file.path)
    fmt = _file_format(upload)
    try:
        header = reader.read_header(path, fmt)
        if not any(header):
            raise ValidationError("The file is empty or has no header row.")
        problems = missing_columns(header, upload.mapping_used)
        if problems:
            raise ValidationError(problems)
        chunk = next(reader.iter_chunks(path, fmt, chunk_rows=PREVIEW_ROWS))
        frame, errors = normalise_chunk(chunk.header, chunk.rows, chunk.lines, upload.mapping_used, _context(upload),
                                        chunk.texts)
        estimate = _count_records(path, fmt)
    except (OSError, UnicodeError, EOFError) as exc:
        raise ValidationError(f"Cannot read the file: {exc}") from exc
    upload.rows_total_estimate = estimate
    upload.preview = _without_nul(build_preview(
        fmt=fmt, header=header, frame=frame, errors=chunk.errors + errors, rows_read=chunk.rows_read,
        rows_estimate=estimate, mapping=upload.mapping_used,
        timezone=upload.timezone or upload.mapping_used.get("timezone", "UTC"),
        period=(upload.period_start, upload.period_end),
    ))


def _without_nul(value: Any) -> Any:
    """Text we show about a file (preview, row errors) with NUL characters spelled out: PostgreSQL
    text and jsonb cannot hold them, and the file's own bad rows must not break the report."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nul(v) for v in value]
    return value


def _count_records(path: Path, fmt: reader.FileFormat) -> int:
    """Physical lines after the header: an upper bound of the records, for the progress bar."""
    stream, _ = reader._open_binary(path)
    lines = 0
    last = b"\n"
    with stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0)


def confirm_upload(*, upload: CarrierUpload, user: Any = None) -> CarrierUpload:
    """Accept the preview and queue the chunked import."""
    if upload.status != CarrierUpload.Status.PREVIEWED:
        raise ValidationError(f"Upload #{upload.pk} is {upload.get_status_display().lower()}, not waiting.")
    CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.QUEUED)
    audit.record(actor=user, action="reconciliation.upload.confirm", obj=upload, summary="import queued")
    enqueue("reconciliation.tasks.import_upload_task", upload.pk)
    upload.refresh_from_db()
    return upload


def cancel_upload(*, upload: CarrierUpload, user: Any = None) -> None:
    """Drop a previewed upload (nothing was imported yet), so the file may be uploaded again."""
    if upload.status != CarrierUpload.Status.PREVIEWED:
        raise ValidationError("Only an upload waiting for confirmation can be cancelled.")
    CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.CANCELLED)
    audit.record(actor=user, action="reconciliation.upload.cancel", obj=upload, summary="preview cancelled")


def resume_upload(*, upload: CarrierUpload, user: Any = None) -> None:
    """Re-queue an import that stopped (worker killed, failure); it resumes at its chunk cursor."""
    if upload.status not in (CarrierUpload.Status.QUEUED, CarrierUpload.Status.IMPORTING, CarrierUpload.Status.FAILED):
        raise ValidationError("This upload is not interrupted.")
    CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.QUEUED, error="")
    audit.record(actor=user, action="reconciliation.upload.resume", obj=upload, summary="import re-queued")
    enqueue("reconciliation.tasks.import_upload_task", upload.pk)


def import_upload(*, upload_id: int, time_budget: float | None = TIME_BUDGET_SECONDS) -> ImportSummary | None:
    """Import the next chunks of an upload from its cursor; idempotent, resumable after a kill.

    Returns None when another worker holds the lease or the time budget ran out (the task then
    re-enqueues itself); otherwise the final summary.
    """
    if not claim_lease(CarrierUpload, upload_id, seconds=LEASE_SECONDS):
        logger.info("upload %s is leased by another worker", upload_id)
        return None
    try:
        upload = CarrierUpload.objects.select_related("carrier").get(pk=upload_id)
        if upload.status in (CarrierUpload.Status.IMPORTED, CarrierUpload.Status.REJECTED,
                             CarrierUpload.Status.CANCELLED):
            return _summary(upload)
        if upload.status != CarrierUpload.Status.IMPORTING:
            CarrierUpload.objects.filter(pk=upload_id).update(status=CarrierUpload.Status.IMPORTING, error="")
        finished = _import_chunks(upload, time_budget)
        if not finished:
            enqueue("reconciliation.tasks.import_upload_task", upload_id)
            return None
        return _finish_import(upload_id)
    except Exception as exc:
        logger.exception("import of upload %s failed", upload_id)
        # Staged rows stay invisible (the upload is not "imported") and the cursor is kept: resumable.
        CarrierUpload.objects.filter(pk=upload_id).update(status=CarrierUpload.Status.FAILED, error=str(exc)[:2000])
        raise
    finally:
        release_lease(CarrierUpload, upload_id)


def _import_chunks(upload: CarrierUpload, time_budget: float | None) -> bool:
    started = time.monotonic()
    path = Path(upload.file.path)
    fmt = _file_format(upload)
    ctx = _context(upload)
    # ``done`` is read once: the helper thread must not see the counter this loop moves.
    pending = reader.prefetched(_normalised_chunks(path, fmt, upload.chunk_rows, upload.chunks_done,
                                                   upload.mapping_used, ctx))
    with closing(pending):
        for chunk, frame, errors in pending:
            _store_chunk(upload, chunk, frame, errors)
            if time_budget is not None and time.monotonic() - started > time_budget:
                return False
    return True


def _normalised_chunks(
    path: Path, fmt: reader.FileFormat, chunk_rows: int, done: int, mapping: dict[str, Any], ctx: Context
) -> Iterator[tuple[reader.Chunk, pd.DataFrame, list[reader.RowError]]]:
    """Chunks not yet committed, read and normalised (no database access: runs in a helper thread)."""
    for chunk in reader.iter_chunks(path, fmt, chunk_rows=chunk_rows):
        if chunk.index < done:
            continue  # committed before a restart
        frame, errors = normalise_chunk(chunk.header, chunk.rows, chunk.lines, mapping, ctx, chunk.texts)
        yield chunk, frame, errors


def _store_chunk(
    upload: CarrierUpload, chunk: reader.Chunk, frame: pd.DataFrame, errors: list[reader.RowError]
) -> None:
    row_errors = [
        UploadRowError(upload=upload, line=e.line, column=_without_nul(e.column)[:255],
                       reason=_without_nul(e.reason)[:500])
        for e in [*chunk.errors, *errors]
    ]
    with transaction.atomic():
        # The cursor moves in the same transaction as the rows: a kill between chunks loses nothing
        # and a resumed import starts after the last committed chunk, so nothing is stored twice.
        stored = store.insert_cdrs(frame, upload_id=upload.pk, carrier_id=upload.carrier_id)
        UploadRowError.objects.bulk_create(row_errors, batch_size=INSERT_BATCH)
        bad_lines = len({e.line for e in row_errors})
        upload.chunks_done = chunk.index + 1
        upload.rows_read += chunk.rows_read
        upload.rows_imported += stored
        upload.rows_error += bad_lines
        upload.rows_credit += int(frame["is_credit"].sum()) if len(frame) else 0
        CarrierUpload.objects.filter(pk=upload.pk).update(
            chunks_done=upload.chunks_done, rows_read=upload.rows_read, rows_imported=upload.rows_imported,
            rows_error=upload.rows_error, rows_credit=upload.rows_credit,
            rows_total_estimate=max(upload.rows_total_estimate, upload.rows_read),
            lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS),
        )
    logger.info("upload %s chunk %s: %s rows, %s errors", upload.pk, chunk.index, stored, bad_lines)


def _finish_import(upload_id: int) -> ImportSummary:
    with transaction.atomic():
        upload = CarrierUpload.objects.select_for_update().get(pk=upload_id)
        if upload.rows_error:
            # Rejected whole: remove the staged rows in the same transaction as the status change.
            # One DELETE, not the ORM's collector (which loads every row to look for cascades): staged
            # rows of an upload never imported have no matches or discrepancies.
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {CarrierCdr._meta.db_table} WHERE upload_id = %s", [upload.pk])  # noqa: S608
            upload.status = CarrierUpload.Status.REJECTED
            upload.rows_imported = 0
            upload.error = f"{upload.rows_error} bad rows; nothing was imported (download the error report)."
        else:
            span = CarrierCdr.objects.filter(upload=upload).aggregate(first=Min("start_utc"), last=Max("start_utc"))
            upload.first_start_utc, upload.last_start_utc = span["first"], span["last"]
            if upload.period_start is None and span["first"]:
                upload.period_start, upload.period_end = span["first"].date(), span["last"].date()
            upload.status = CarrierUpload.Status.IMPORTED
        upload.finished_at = timezone.now()
        upload.rows_total_estimate = upload.rows_read
        upload.save()
    audit.record(actor=None, action="reconciliation.upload.finish", obj=upload,
                 summary=f"{upload.status}: {upload.rows_imported} rows, {upload.rows_error} bad")
    logger.info("upload %s %s: %s rows, %s errors", upload.pk, upload.status, upload.rows_imported, upload.rows_error)
    return _summary(upload)


def _summary(upload: CarrierUpload) -> ImportSummary:
    return ImportSummary(upload.pk, upload.status, upload.rows_imported, upload.rows_error, upload.rows_credit)


def import_file(
    *,
    path: Path,
    carrier_name: str,
    preset: str = "",
    mapping_fields: dict[str, Any] | None = None,
    timezone_name: str = "",
    user: Any = None,
) -> tuple[CarrierUpload, ImportSummary, bool]:
    """Command path: preview and import a file in the foreground; creates the carrier if unknown."""
    resolved = resolve_upload_mapping(preset=preset, fields=mapping_fields)
    carrier = Carrier.objects.filter(name=carrier_name).first()
    created = False
    if carrier is None:
        currency = resolved.get("currency", "")
        code = currency[1:] if currency.startswith("=") else _first_currency(path, resolved) or "USD"
        carrier = Carrier.objects.create(name=carrier_name, currency=code.upper()[:3])
        created = True
    try:
        with open(path, "rb") as stream:
            upload = create_upload(
                carrier=carrier, stream=stream, original_name=path.name, preset=preset,
                mapping_fields=None if preset else mapping_fields, timezone_name=timezone_name, user=user,
            )
    except ValidationError:
        if created:  # a refused file leaves no carrier behind
            carrier.delete()
        raise
    if created:
        audit.record(actor=user or "import_carrier_cdrs", action="billing.carrier.create", obj=carrier,
                     summary=f"created by a carrier CDR import ({carrier.currency})")
    CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.IMPORTING)
    summary = import_upload(upload_id=upload.pk, time_budget=None)
    upload.refresh_from_db()
    return upload, summary, created


def _first_currency(path: Path, mapping: dict[str, Any]) -> str:
    column = mapping.get("currency", "")
    if not column:
        return ""
    try:
        fmt = reader.detect_format(path, encoding=mapping.get("encoding", ""), delimiter=mapping.get("delimiter", ""))
        chunk = next(reader.iter_chunks(path, fmt, chunk_rows=50))
    except (OSError, ValueError, StopIteration, UnicodeError):
        return ""
    if column not in chunk.header:
        return ""
    i = chunk.header.index(column)
    for row in chunk.rows:
        value = row[i].strip().upper()
        if len(value) == 3 and value.isalpha():
            return value
    return ""


def save_column_mapping(
    *, carrier: Carrier, name: str, fields: dict[str, Any], based_on_preset: str = "", user: Any = None,
    instance: ColumnMapping | None = None,
) -> ColumnMapping:
    """Create or update a carrier's saved mapping (validated like a mapping file)."""
    clean = presets.validate_mapping(fields)
    if based_on_preset and based_on_preset not in presets.PRESETS:
        raise ValidationError(f"unknown preset {based_on_preset!r}")
    before = audit.snapshot(instance) if instance else {}
    mapping = instance or ColumnMapping(carrier=carrier, created_by=user)
    mapping.carrier, mapping.name, mapping.fields, mapping.based_on_preset = carrier, name, clean, based_on_preset
    try:
        with transaction.atomic():
            mapping.save()
    except IntegrityError as exc:
        raise ValidationError(f"{carrier} already has a mapping named {name!r}.") from exc
    audit.record(actor=user, action="reconciliation.mapping.save", obj=mapping,
                 changes=audit.diff(before, audit.snapshot(mapping)))
    return mapping


# --- runs ---------------------------------------------------------------------------------


def start_run(
    *, carrier: Carrier, period_start: datetime, period_end: datetime, user: Any = None, background: bool = True
) -> ReconciliationRun:
    """Create (or re-queue) the run for this carrier and period; enqueue it unless run in the foreground."""
    if period_end <= period_start:
        raise ValidationError("The period must end after it starts.")
    run, created = ReconciliationRun.objects.get_or_create(
        carrier=carrier, period_start=period_start, period_end=period_end, defaults={"started_by": user}
    )
    busy = run.status == ReconciliationRun.Status.RUNNING and run.lease_until and run.lease_until > timezone.now()
    if not created and busy:
        raise ValidationError(f"Run #{run.pk} is already running.")
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=ReconciliationRun.Status.QUEUED, progress_percent=0, progress_label="queued", error=""
    )
    audit.record(actor=user, action="reconciliation.run.start", obj=run,
                 summary=("started" if created else "re-run") + f" {run}")
    if background:
        enqueue("reconciliation.tasks.reconcile_run_task", run.pk)
    run.refresh_from_db()
    return run


def reconcile_run(*, run_id: int) -> ReconciliationRun | None:
    """Match and flag one run; replaces its previous results atomically (safe to run twice)."""
    from reconciliation import reconcile  # the pandas/SQL engine

    if not claim_lease(ReconciliationRun, run_id, seconds=LEASE_SECONDS * 4):
        logger.info("run %s is leased by another worker", run_id)
        return None
    try:
        ReconciliationRun.objects.filter(pk=run_id).update(
            status=ReconciliationRun.Status.RUNNING, started_at=timezone.now(), error=""
        )
        run = ReconciliationRun.objects.select_related("carrier").get(pk=run_id)
        reconcile.execute(run)
        run.refresh_from_db()
        audit.record(actor=None, action="reconciliation.run.finish", obj=run,
                     summary=f"{run.matched}/{run.carrier_rows} matched, {run.discrepancy_count} discrepancies")
        return run
    except Exception as exc:
        logger.exception("reconciliation run %s failed", run_id)
        ReconciliationRun.objects.filter(pk=run_id).update(
            status=ReconciliationRun.Status.FAILED, error=str(exc)[:2000], progress_label="failed"
        )
        raise
    finally:
        release_lease(ReconciliationRun, run_id)


# --- review -------------------------------------------------------------------------------


def change_discrepancy(
    *, discrepancy: Discrepancy, user: Any, status: str | None = None, assignee: Any = "keep",
    note: str = "", request: Any = None,
) -> Discrepancy:
    """Move a discrepancy through the workflow, (re)assign it and/or add a note; all audited."""
    before = audit.snapshot(discrepancy, fields=["status", "assignee"])
    if status and status != discrepancy.status:
        allowed = Discrepancy.TRANSITIONS.get(discrepancy.status, set())
        if status not in allowed:
            raise ValidationError(
                f"A discrepancy that is {discrepancy.get_status_display().lower()} cannot become "
                f"{Discrepancy.Status(status).label.lower()}."
            )
        discrepancy.status = status
    if assignee != "keep":
        discrepancy.assignee = assignee
    with transaction.atomic():
        discrepancy.save(update_fields=["status", "assignee", "updated_at"])
        changes = audit.diff(before, audit.snapshot(discrepancy, fields=["status", "assignee"]))
        if changes:
            audit.record(actor=user, action="reconciliation.discrepancy.update", obj=discrepancy,
                         summary=", ".join(f"{k}: {v}" for k, v in changes.items())[:200], changes=changes,
                         request=request)
        if note.strip():
            created = DiscrepancyNote.objects.create(discrepancy=discrepancy, author=user, text=note.strip())
            # The note's text is free text (PII): the audit entry names the note, not its content.
            audit.record(actor=user, action="reconciliation.discrepancy.note", obj=discrepancy,
                         summary=f"note #{created.pk} added", request=request)
    return discrepancy
