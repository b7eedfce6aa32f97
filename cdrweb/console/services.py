"""SQL console workflows: run a query, plan and start the extraction it needs, save queries."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from typing import Any, TextIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from cdrweb import audit, masking
from cdrweb.console import planner, rewrite, vtables
from cdrweb.console.execute import QueryFailed, QueryResult, QueryTimeout, execute_readonly
from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.console.validate import QueryRefused, ValidatedQuery, validate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsoleRun:
    history: QueryHistory
    result: QueryResult | None
    error: str = ""


def _reads(query: ValidatedQuery) -> set[tuple[str, str]]:
    known = vtables.virtual_tables()
    reads: set[tuple[str, str]] = set()
    for name in query.tables:
        reads |= vtables.base_columns(known[name])
    return reads


def _audit_query(*, user: Any, history: QueryHistory, request: Any = None) -> None:
    # The SQL goes to the audit log scrubbed of phone numbers/emails typed as literals.
    audit.record(
        actor=user,
        action="console.query",
        obj=history,
        summary=masking.scrub(history.sql)[:4000],
        changes={
            "status": history.status,
            "rows": history.row_count,
            "elapsed_ms": history.elapsed_ms,
            "revealed": history.revealed,
            **({"error": masking.scrub(history.error)[:500]} if history.error else {}),
        },
        request=request,
    )


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:500]


def run_query(
    *, user: Any, sql: str, reveal: bool = False, history: QueryHistory | None = None, request: Any = None
) -> ConsoleRun:
    """Validate and run ``sql`` read-only over the virtual tables (masked unless ``reveal`` and the
    user may reveal); records the outcome in the user's history and the audit log. User errors
    (refusals, timeouts, SQL errors) come back in ``error``, never as exceptions."""
    reveal = bool(reveal and masking.can_reveal(user))
    result: QueryResult | None = None
    status, error = QueryHistory.Status.OK, ""
    try:
        query = validate(sql)
        max_rows = settings.SQL_CONSOLE_MAX_ROWS
        composed = rewrite.compose(query, vendor=_vendor(), reveal=reveal, limit=max_rows + 1)
        result = execute_readonly(
            composed, timeout_ms=settings.SQL_CONSOLE_TIMEOUT_MS, max_rows=max_rows, reads=_reads(query)
        )
    except QueryRefused as err:
        status, error = QueryHistory.Status.REFUSED, str(err)
    except QueryTimeout as err:
        status, error = QueryHistory.Status.TIMEOUT, str(err)
    except QueryFailed as err:
        status, error = QueryHistory.Status.ERROR, f"The database rejected the query: {_first_line(str(err))}"

    fields = {
        "status": status,
        "error": error,
        "row_count": len(result.rows) if result else 0,
        "truncated": bool(result and result.truncated),
        "elapsed_ms": result.elapsed_ms if result else 0,
        "revealed": reveal,
    }
    if history is None:
        history = QueryHistory.objects.create(user=user, sql=sql, **fields)
    else:
        for name, value in fields.items():
            setattr(history, name, value)
        history.save(update_fields=list(fields))
    _audit_query(user=user, history=history, request=request)
    logger.info("console query %s by user %s: %s, %s rows in %s ms",
                history.pk, getattr(user, "pk", None), status, fields["row_count"], fields["elapsed_ms"])
    return ConsoleRun(history=history, result=result, error=error)


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def plan(*, sql: str) -> planner.Plan:
    """The extraction the query needs first (raises QueryRefused for an invalid query)."""
    return planner.plan_query(validate(sql))


def start_fetch(*, user: Any, sql: str, request: Any = None) -> QueryHistory:
    """Start one background extraction run per missing interval, then let the query wait for them.

    Returns the waiting history row; the console page polls it and runs the query when every run
    has finished. Raises QueryRefused for an invalid query, ValidationError if a run cannot start.
    """
    from extraction import services as extraction_services
    from extraction.models import Connection

    the_plan = planner.plan_query(validate(sql))
    connections = Connection.objects.in_bulk([job.connection_id for job in the_plan.jobs])
    with transaction.atomic():
        run_ids = [
            extraction_services.start_extraction(
                connection=connections[job.connection_id], start=job.start, end=job.end, user=user
            ).pk
            for job in the_plan.jobs
        ]
        history = QueryHistory.objects.create(
            user=user, sql=sql, status=QueryHistory.Status.WAITING, extraction_run_ids=run_ids
        )
        audit.record(
            actor=user,
            action="console.fetch",
            obj=history,
            summary=f"Started {len(run_ids)} extraction run(s) for a console query",
            changes={"runs": run_ids, "batches": the_plan.batch_count},
            request=request,
        )
    return history


def save_query(*, user: Any, name: str, sql: str) -> SavedQuery:
    """Save (or overwrite) the user's query under ``name``; the SQL must pass validation."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the query a name.")
    try:
        validate(sql)
    except QueryRefused as err:
        raise ValidationError(str(err)) from err
    saved, _created = SavedQuery.objects.update_or_create(owner=user, name=name, defaults={"sql": sql.strip()})
    return saved


def delete_saved_query(*, user: Any, pk: int) -> int:
    """Delete one of the user's saved queries; returns how many rows went (0 or 1)."""
    deleted, _ = SavedQuery.objects.filter(owner=user, pk=pk).delete()
    return deleted


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    # Spreadsheets run cells starting with = + - @ as formulas; quote text ones (not numbers).
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if value is None:
        return ""
    return format(value, "f") if hasattr(value, "as_tuple") else value


def write_csv(result: QueryResult, stream: TextIO) -> int:
    """Write a (already masked) result as CSV; returns the number of data rows."""
    writer = csv.writer(stream)
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return len(result.rows)
