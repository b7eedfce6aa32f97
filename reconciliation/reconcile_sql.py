"""The set-based half of a reconciliation run: scratch tables and joins that stay in the database.

``reconcile.execute`` calls these in order. Carrier rows and legs are never all read into Python:
the duplicate ranking (a window function), the exact Call-ID join and the pre-filter of matched
pairs that may be flagged run in SQL, and the exact matches go from a scratch table straight into
``CdrMatch`` with one ``INSERT … SELECT``. Python only sees the rows those steps leave over.

The scratch tables are temporary tables of the run's connection (``rc_*``), created again by every
run and dropped at its end. The SQL is portable between PostgreSQL and SQLite: no FULL JOIN, no
vendor functions except :func:`_no_host`; datetimes and money go in through Django's adapters.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Sum

from billing.models import CostRecord
from extraction.models import CallLeg
from reconciliation.models import CarrierCdr, CarrierUpload, CdrMatch, MatchMethod, ReconciliationRun

SCRATCH = ("rc_call", "rc_pair", "rc_match", "rc_free_cdr", "rc_free_leg", "rc_credit_key", "rc_flag")
EXACT_SCORE, LOCAL_SCORE = Decimal("1.0000"), Decimal("0.9500")

CDR_T = CarrierCdr._meta.db_table
UPLOAD_T = CarrierUpload._meta.db_table
LEG_T = CallLeg._meta.db_table
COST_T = CostRecord._meta.db_table
MATCH_T = CdrMatch._meta.db_table


def pad(run: ReconciliationRun) -> timedelta:
    """Legs just outside the period still match (midnight, time zones); unbilled uses the period only."""
    return max(timedelta(days=1), timedelta(seconds=run.carrier.fuzzy_window_seconds))


def _dt(value: datetime) -> Any:
    # SQLite stores naive UTC text; Django's adapter gives the same spelling, so comparisons hold.
    return connection.ops.adapt_datetimefield_value(value)


def _num(value: Decimal) -> Any:
    # A bound Decimal is text on SQLite, which sorts above every number there: only a pre-filter
    # compares with it, so a float is enough; PostgreSQL compares numeric exactly.
    return value if connection.vendor == "postgresql" else float(value)


def _no_host(column: str) -> str:
    """True when a Call-ID has nothing after its first ``@`` (no ``@`` at all, or a trailing one)."""
    find = "strpos" if connection.vendor == "postgresql" else "instr"
    return f"({find}({column}, '@') = 0 OR {find}({column}, '@') = length({column}))"


def _scope(alias: str = "c") -> str:
    """The run's carrier rows: this carrier, imported uploads, start in the period (4 parameters)."""
    return (f"{alias}.carrier_id = %s AND {alias}.start_utc >= %s AND {alias}.start_utc < %s AND EXISTS "
            f"(SELECT 1 FROM {UPLOAD_T} u WHERE u.id = {alias}.upload_id AND u.status = %s)")


def _scope_params(run: ReconciliationRun) -> list[Any]:
    return [run.carrier_id, _dt(run.period_start), _dt(run.period_end), CarrierUpload.Status.IMPORTED.value]


def _run(sql: str, params: list[Any] | tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _rows(sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def drop_scratch() -> None:
    for table in SCRATCH:
        _run(f"DROP TABLE IF EXISTS {table}")


def _analyze(table: str) -> None:
    # Temporary tables are never auto-analysed; the planner needs their size for the next joins.
    if connection.vendor == "postgresql":
        _run(f"ANALYZE {table}")


def rank_calls(run: ReconciliationRun) -> None:
    """``rc_call``: the run's carrier rows that are calls, ranked within their duplicate key.

    The key is the Call-ID, else the carrier's record id, else the call's own fields; rank 1 (the
    lowest id) is the original, ``original_id`` names it on every copy (preview._dup_keys in SQL).
    """
    _run(f"""
        CREATE TEMP TABLE rc_call AS
        SELECT c.id, c.sip_call_id AS sip, c.sip_call_id_local AS local,
               ROW_NUMBER() OVER w AS dup_rank, MIN(c.id) OVER w AS original_id
        FROM {CDR_T} c
        WHERE {_scope()} AND c.is_credit = %s
        WINDOW w AS (PARTITION BY
            CASE WHEN c.sip_call_id <> '' THEN c.sip_call_id END,
            CASE WHEN c.sip_call_id = '' AND c.record_id <> '' THEN c.record_id END,
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.direction END,
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.from_e164 END,
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.to_e164 END,
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.start_utc END,
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.duration_seconds END
            ORDER BY c.id)
    """, [*_scope_params(run), False])  # noqa: S608 - table names come from model metadata
    _analyze("rc_call")


def exact_pairs(run: ReconciliationRun) -> None:
    """``rc_pair``: originals joined to legs on the stored local part, with each side's pair count.

    With ``callid_match = full`` a different host is another call; a host dropped on one side only is
    still a ``local_part`` match. ``rc_match`` starts with the pairs that share neither side with
    another pair (each is its own mutual best); the others are assigned in Python.
    """
    host_rule = ""
    if run.carrier.callid_match == "full":
        host_rule = f"AND (c.sip = l.sip_call_id OR {_no_host('c.sip')} OR {_no_host('l.sip_call_id')})"
    _run(f"""
        CREATE TEMP TABLE rc_pair AS
        SELECT c.id AS cdr_id, l.id AS leg_id,
               CASE WHEN c.sip = l.sip_call_id THEN '{MatchMethod.EXACT.value}'
                    ELSE '{MatchMethod.LOCAL_PART.value}' END AS method,
               COUNT(*) OVER (PARTITION BY c.id) AS n_cdr, COUNT(*) OVER (PARTITION BY l.id) AS n_leg
        FROM rc_call c JOIN {LEG_T} l ON l.sip_call_id_local = c.local
        WHERE c.dup_rank = 1 AND c.local <> '' AND l.started_at >= %s AND l.started_at < %s {host_rule}
    """, [_dt(run.period_start - pad(run)), _dt(run.period_end + pad(run))])  # noqa: S608
    _run("CREATE TEMP TABLE rc_match (cdr_id bigint, leg_id bigint, method varchar(16), score numeric(5, 4))")
    _run("""
        INSERT INTO rc_match (cdr_id, leg_id, method, score)
        SELECT cdr_id, leg_id, method, CASE WHEN method = %s THEN %s ELSE %s END
        FROM rc_pair WHERE n_cdr = 1 AND n_leg = 1
    """, [MatchMethod.EXACT.value, EXACT_SCORE, LOCAL_SCORE])  # noqa: S608


def contested_pairs() -> list[tuple]:
    """Exact candidates sharing a carrier row or a leg: (cdr_id, leg_id, method, cdr start, leg start)."""
    return _rows(f"""
        SELECT p.cdr_id, p.leg_id, p.method, c.start_utc, COALESCE(l.connected_at, l.started_at)
        FROM rc_pair p JOIN {CDR_T} c ON c.id = p.cdr_id JOIN {LEG_T} l ON l.id = p.leg_id
        WHERE p.n_cdr > 1 OR p.n_leg > 1
    """)  # noqa: S608


def add_matches(pairs: list[tuple[int, int, str, Decimal]]) -> None:
    """Append (cdr_id, leg_id, method, score) pairs chosen in Python to ``rc_match``."""
    if not pairs:
        return
    sql = "INSERT INTO rc_match (cdr_id, leg_id, method, score) VALUES (%s, %s, %s, %s)"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy("COPY rc_match (cdr_id, leg_id, method, score) FROM STDIN") as copy:
                for row in pairs:
                    copy.write_row(row)
        else:
            cursor.executemany(sql, pairs)


def free_rows(run: ReconciliationRun) -> None:
    """``rc_free_cdr``/``rc_free_leg``: originals and fuzzy-eligible legs the exact join left over.

    A leg is eligible when it has no carrier yet or this carrier, and starts in the padded period.
    """
    _run("""
        CREATE TEMP TABLE rc_free_cdr AS
        SELECT c.id FROM rc_call c
        WHERE c.dup_rank = 1 AND NOT EXISTS (SELECT 1 FROM rc_match m WHERE m.cdr_id = c.id)
    """)
    _run(f"""
        CREATE TEMP TABLE rc_free_leg AS
        SELECT l.id FROM {LEG_T} l LEFT JOIN {COST_T} cr ON cr.leg_id = l.id
        WHERE l.started_at >= %s AND l.started_at < %s AND (cr.carrier_id IS NULL OR cr.carrier_id = %s)
          AND NOT EXISTS (SELECT 1 FROM rc_match m WHERE m.leg_id = l.id)
    """, [_dt(run.period_start - pad(run)), _dt(run.period_end + pad(run)), run.carrier_id])  # noqa: S608


def flag_candidates(run: ReconciliationRun, tol_seconds: int, tol_money: Decimal) -> None:
    """``rc_flag``: matched pairs that may carry a flag, found with a wide margin.

    Billed seconds off by more than the tolerance, a rated cost off by more than half the money
    tolerance, or a credit line for the row's Call-ID (else record id). Every decision is then taken
    exactly, in Decimal, on these pairs only.
    """
    _run(f"""
        CREATE TEMP TABLE rc_credit_key AS
        SELECT DISTINCT CASE WHEN c.sip_call_id <> '' THEN c.sip_call_id ELSE c.record_id END AS k
        FROM {CDR_T} c
        WHERE {_scope()} AND c.is_credit = %s AND c.charge IS NOT NULL
          AND (c.sip_call_id <> '' OR c.record_id <> '')
    """, [*_scope_params(run), True])  # noqa: S608
    billed = "COALESCE(c.billed_seconds, c.duration_seconds)"
    _run(f"""
        CREATE TEMP TABLE rc_flag AS
        SELECT m.cdr_id, m.leg_id, m.method
        FROM rc_match m JOIN {CDR_T} c ON c.id = m.cdr_id LEFT JOIN {COST_T} cr ON cr.leg_id = m.leg_id
        WHERE (cr.billable_seconds IS NOT NULL AND {billed} IS NOT NULL
               AND ABS({billed} - cr.billable_seconds) > %s)
           OR (cr.status = %s AND ABS(c.charge - cr.cost) > %s)
           OR EXISTS (SELECT 1 FROM rc_credit_key k
                      WHERE k.k = CASE WHEN c.sip_call_id <> '' THEN c.sip_call_id ELSE c.record_id END)
    """, [tol_seconds, CostRecord.Status.RATED.value, _num(tol_money / 2)])  # noqa: S608


def flag_pairs() -> list[tuple]:
    return _rows("SELECT cdr_id, leg_id, method FROM rc_flag")


def duplicate_links() -> list[tuple]:
    """Each copy: (id, original id, and the original's leg, method, card seconds, talk ms, or None)."""
    return _rows(f"""
        SELECT d.id, d.original_id, m.leg_id, m.method, cr.billable_seconds, l.duration_ms
        FROM rc_call d LEFT JOIN rc_match m ON m.cdr_id = d.original_id
        LEFT JOIN {LEG_T} l ON l.id = m.leg_id LEFT JOIN {COST_T} cr ON cr.leg_id = m.leg_id
        WHERE d.dup_rank > 1
    """)  # noqa: S608


def counts() -> dict[str, Any]:
    """Carrier calls, duplicates, matches per method, matched legs without a rated cost, and the
    expected cost of the matched rated legs (Decimal; summed in Python on SQLite, whose money is float)."""
    calls, duplicates = _rows("SELECT COUNT(*), COALESCE(SUM(CASE WHEN dup_rank > 1 THEN 1 ELSE 0 END), 0) "
                              "FROM rc_call")[0]
    methods = dict(_rows("SELECT method, COUNT(*) FROM rc_match GROUP BY method"))
    rated = CostRecord.Status.RATED.value
    unrated, expected = _rows(f"""
        SELECT COALESCE(SUM(CASE WHEN cr.status IS NULL OR cr.status <> %s THEN 1 ELSE 0 END), 0),
               SUM(CASE WHEN cr.status = %s THEN cr.cost END)
        FROM rc_match m LEFT JOIN {COST_T} cr ON cr.leg_id = m.leg_id
    """, [rated, rated])[0]  # noqa: S608
    if connection.vendor != "postgresql":
        from django.db.models.expressions import RawSQL

        legs = CostRecord.objects.filter(leg_id__in=RawSQL("SELECT leg_id FROM rc_match", ()), status=rated)
        expected = sum((v for v in legs.values_list("cost", flat=True) if v is not None), Decimal(0))
    return {"carrier_rows": int(calls), "duplicates": int(duplicates),
            "matched": {str(k): int(v) for k, v in methods.items()}, "matched_unrated_legs": int(unrated),
            "matched_expected": expected if expected is not None else Decimal(0)}


def money_total(queryset, field: str) -> Decimal:
    """Exact sum of a money column: in SQL on PostgreSQL (numeric), in Python on SQLite (floats there)."""
    if connection.vendor == "postgresql":
        return queryset.aggregate(total=Sum(field))["total"] or Decimal(0)
    return sum((v for v in queryset.values_list(field, flat=True) if v is not None), Decimal(0))


def save_matches(run: ReconciliationRun) -> int:
    """Replace the run's ``CdrMatch`` rows with ``rc_match`` in one ``INSERT … SELECT``."""
    CdrMatch.objects.filter(run=run).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {MATCH_T} (run_id, carrier_cdr_id, leg_id, method, score)
            SELECT %s, cdr_id, leg_id, method, score FROM rc_match ORDER BY cdr_id
        """, [run.pk])  # noqa: S608
        return cursor.rowcount
