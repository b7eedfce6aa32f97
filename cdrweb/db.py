"""Database primitives the batch jobs share: PostgreSQL-only tuning, no-ops on SQLite; and
calendar expressions that stay in SQL on SQLite.

Every caller commits a unit of work together with its own checkpoint (an extraction page with its
cursor, an import chunk with its chunk counter, a reconciliation's results with the run's status).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models.functions import ExtractHour, TruncDate


def defer_commit_flush() -> None:
    """Let the current transaction commit without waiting for PostgreSQL's WAL flush (``SET LOCAL``:
    this transaction only). If the server crashes before the flush, the work and its checkpoint are
    lost together and the job redoes that unit: nothing is lost or duplicated, and each commit stops
    costing a disk sync. SQLite keeps its own setting (WAL, synchronous=NORMAL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def advisory_xact_lock(*keys: int) -> None:
    """Take a PostgreSQL advisory lock held until the current transaction ends (one bigint key or two
    int keys), so writers that must not interleave run one at a time. SQLite allows one writer at a
    time already."""
    if connection.vendor == "postgresql":
        marks = ", ".join(["%s"] * len(keys))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_xact_lock({marks})", list(keys))


@contextmanager
def without_jit() -> Iterator[None]:
    """Run the enclosed queries in one transaction with PostgreSQL's JIT compiler off (``SET LOCAL``).

    PostgreSQL compiles a query whose estimated cost passes ``jit_above_cost``. The dashboard's
    discrepancy queries are estimated high (the COALESCE subqueries of their time column) but read
    a few thousand rows: compiling them took about 70 ms each at a million legs, running them 3 ms."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


class _InSqlOnSqliteUtc:
    """On SQLite in UTC, compile to ``sqlite_utc`` (a template around the column's SQL) instead of
    Django's SQLite functions, which call Python once per row for a time-zone conversion that UTC
    does not need (most of a rollup refresh's time). Other zones keep Django's SQL."""

    sqlite_utc = "{}"

    def as_sqlite(self, compiler, connection, **extra_context):
        if self.get_tzname() != "UTC":
            return self.as_sql(compiler, connection)
        sql, params = compiler.compile(self.lhs)
        return self.sqlite_utc.format(sql), params


class LocalDate(_InSqlOnSqliteUtc, TruncDate):
    """``TruncDate`` in the reporting time zone; on SQLite in UTC, SQLite's own ``date()``."""

    sqlite_utc = "date({})"


class LocalHour(_InSqlOnSqliteUtc, ExtractHour):
    """``ExtractHour`` in the reporting time zone; on SQLite in UTC, SQLite's own ``strftime``."""

    sqlite_utc = "CAST(strftime('%%H', {}) AS INTEGER)"
