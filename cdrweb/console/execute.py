"""Run composed console SQL read-only, with a statement timeout and a row cap.

PostgreSQL: a transaction (or savepoint) marked READ ONLY with SET LOCAL statement_timeout,
always rolled back. SQLite: Django's connection with PRAGMA query_only, an authoriser that
allows only SELECTs reading the virtual tables' base tables (no PRAGMA, ATTACH or writes), and a
progress handler that interrupts the statement at the deadline; every setting is undone after.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import DatabaseError, connections, transaction

from cdrweb.console import rewrite, sqlmask

# SQLite functions a query may never call, even if the validator let something slip.
_SQLITE_DENIED_FUNCTIONS = frozenset({
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
    "sqlite_compileoption_get", "sqlite_compileoption_used", "sqlite_source_id", "sqlite_offset",
})
_PG_QUERY_CANCELED = "57014"
_FLOAT_PLACES = Decimal("1e-9")


class QueryTimeout(Exception):
    """The statement ran past the console's timeout and was cancelled."""


class QueryFailed(Exception):
    """The database rejected the query (unknown column, type error...)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: int


# --- values -------------------------------------------------------------------------------------


def _strip_zeros(value: Decimal) -> Decimal:
    if not value.is_finite():
        return value
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def normalise_cell(value: Any) -> Any:
    """One value in the same form on both databases: Decimal for numbers with a fraction
    (SQLite stores decimals as floating point, so floats are rounded to 9 places), text for
    timestamps (UTC, Django's SQLite format), dates and times."""
    if isinstance(value, bool):
        return int(value)  # booleans are 0/1 in the console (SQLite's converter yields bool)
    if value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        try:
            return _strip_zeros(Decimal(repr(value)).quantize(_FLOAT_PLACES))
        except InvalidOperation:
            return Decimal(repr(value))  # inf/nan or too large to quantise
    if isinstance(value, Decimal):
        return _strip_zeros(value)
    if isinstance(value, datetime):
        return rewrite.format_timestamp(value)
    if isinstance(value, (date, dtime)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)


def _rows(raw_rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(normalise_cell(v) for v in row) for row in raw_rows]


# --- SQLite helpers ---------------------------------------------------------------------------


def _parse_sqlite_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _sqlite_date_trunc(unit: str, value: Any) -> str | None:
    """PostgreSQL's date_trunc for the SQLite text timestamps (weeks start on Monday)."""
    moment = _parse_sqlite_time(value)
    if moment is None:
        return None
    unit = (unit or "").lower()
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "year":
        out = day.replace(month=1, day=1)
    elif unit == "quarter":
        out = day.replace(month=(moment.month - 1) // 3 * 3 + 1, day=1)
    elif unit == "month":
        out = day.replace(day=1)
    elif unit == "week":
        out = datetime.fromordinal(day.toordinal() - day.weekday())
    elif unit == "day":
        out = day
    elif unit == "hour":
        out = moment.replace(minute=0, second=0, microsecond=0)
    elif unit == "minute":
        out = moment.replace(second=0, microsecond=0)
    elif unit == "second":
        out = moment.replace(microsecond=0)
    else:
        raise ValueError(f"date_trunc unit {unit!r} is not supported")
    return rewrite.format_timestamp(out)


def _sqlite_extract(field: str, value: Any) -> int | float | None:
    """PostgreSQL's EXTRACT for the SQLite text timestamps."""
    moment = _parse_sqlite_time(value)
    if moment is None:
        return None
    fields = {
        "year": lambda m: m.year,
        "quarter": lambda m: (m.month - 1) // 3 + 1,
        "month": lambda m: m.month,
        "week": lambda m: m.isocalendar().week,
        "isoyear": lambda m: m.isocalendar().year,
        "day": lambda m: m.day,
        "dow": lambda m: m.isoweekday() % 7,
        "isodow": lambda m: m.isoweekday(),
        "doy": lambda m: m.timetuple().tm_yday,
        "hour": lambda m: m.hour,
        "minute": lambda m: m.minute,
        "second": lambda m: m.second + m.microsecond / 1_000_000 if m.microsecond else m.second,
    }
    getter = fields.get((field or "").lower())
    if getter is None:
        raise ValueError(f"extract field {field!r} is not supported")
    return getter(moment)


def _sqlite_authorizer(allowed: set[tuple[str, str]]):
    def authorize(action: int, arg1: str | None, arg2: str | None, dbname: str | None, _src: str | None) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            # A CTE's columns are read with no database name; real tables are in "main".
            if dbname is None or (dbname == "main" and (arg1, arg2) in allowed):
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            return sqlite3.SQLITE_DENY if name in _SQLITE_DENIED_FUNCTIONS else sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    return authorize


def _run_sqlite(conn, sql: str, *, timeout_ms: int, max_rows: int, reads: set[tuple[str, str]]):
    conn.ensure_connection()
    raw: sqlite3.Connection = conn.connection
    sqlmask.register_sqlite(raw)
    raw.create_function(rewrite.SQLITE_DATE_TRUNC, 2, _sqlite_date_trunc, deterministic=True)
    raw.create_function(rewrite.SQLITE_EXTRACT, 2, _sqlite_extract, deterministic=True)
    deadline = time.monotonic() + timeout_ms / 1000
    timed_out = False

    def progress() -> int:
        nonlocal timed_out
        if time.monotonic() > deadline:
            timed_out = True
            return 1  # interrupts the statement
        return 0

    raw.execute("PRAGMA query_only = ON")
    raw.set_authorizer(_sqlite_authorizer(reads))
    raw.set_progress_handler(progress, 1000)
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        fetched = cursor.fetchmany(max_rows + 1)
        columns = [d[0] for d in cursor.description or ()]
    except sqlite3.Error as err:
        if timed_out:
            raise QueryTimeout(f"The query ran longer than {timeout_ms} ms and was stopped.") from err
        raise QueryFailed(str(err)) from err
    finally:
        cursor.close()
        raw.set_progress_handler(None, 0)
        raw.set_authorizer(None)
        raw.execute("PRAGMA query_only = OFF")
    return columns, fetched


def _run_postgresql(conn, sql: str, *, timeout_ms: int, max_rows: int):
    try:
        with transaction.atomic(using=conn.alias):
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))])
                # Backslashes in '...' are literal, as sqlglot generated them (the default since 9.1).
                cursor.execute("SELECT set_config('standard_conforming_strings', 'on', true)")
            # A server-side cursor: only the rows fetched travel, whatever the query returns.
            with conn.chunked_cursor() as cursor:
                cursor.execute(sql)  # no parameters: the validator refuses placeholders
                fetched = cursor.fetchmany(max_rows + 1)
                columns = [d[0] for d in cursor.description or ()]
            # Nothing to keep, and rolling back undoes READ ONLY and the timeout in a savepoint.
            transaction.set_rollback(True, using=conn.alias)
    except DatabaseError as err:
        cause = err.__cause__
        if getattr(cause, "sqlstate", None) == _PG_QUERY_CANCELED:
            raise QueryTimeout(f"The query ran longer than {timeout_ms} ms and was stopped.") from err
        raise QueryFailed(str(cause or err).strip()) from err
    return columns, fetched


def execute_readonly(
    sql: str,
    *,
    timeout_ms: int,
    max_rows: int,
    reads: Iterable[tuple[str, str]] = (),
    using: str = "default",
) -> QueryResult:
    """Run ``sql`` read-only; at most ``max_rows`` rows (``truncated`` says if more existed).

    ``reads`` are the (real table, column) pairs the query may read (enforced on SQLite by the
    authoriser; PostgreSQL relies on the read-only transaction and the validator).
    """
    conn = connections[using]
    started = time.monotonic()
    if conn.vendor == "sqlite":
        columns, fetched = _run_sqlite(conn, sql, timeout_ms=timeout_ms, max_rows=max_rows, reads=set(reads))
    elif conn.vendor == "postgresql":
        columns, fetched = _run_postgresql(conn, sql, timeout_ms=timeout_ms, max_rows=max_rows)
    else:
        raise QueryFailed(f"The SQL console does not support the {conn.vendor} database.")
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return QueryResult(
        columns=columns,
        rows=_rows(fetched[:max_rows]),
        truncated=len(fetched) > max_rows,
        elapsed_ms=elapsed_ms,
    )
