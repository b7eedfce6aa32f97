"""The set-based half of a reconciliation run: scratch tables and joins that stay in the database.

``reconcile.execute`` calls these in order. Carrier rows and legs are never all read into Python:
the duplicate ranking (a window function), the legs of the padded period with their cost record
(joined once), the exact Call-ID join with the pre-filter of pairs that may be flagged, and the
counts run in SQL, and the matches go from a scratch table straight into ``CdrMatch`` with one
``INSERT … SELECT``. Python only sees the rows those steps leave over.

The scratch tables are temporary tables of the run's connection (``rc_*``), created again by every
run, analysed (PostgreSQL never auto-analyses them) and dropped at its end. The SQL is portable
between PostgreSQL and SQLite: no FULL JOIN, no vendor functions except :func:`_no_host` and
:func:`_bytewise`; datetimes and money go in through Django's adapters. On PostgreSQL the run
gets more memory for its sorts and scratch tables (:func:`tune_session`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Sum
from django.db.models.expressions import RawSQL

from billing.models import CostRecord
from extraction.models import CallLeg
from reconciliation.models import CarrierCdr, CarrierUpload, CdrMatch, MatchMethod, ReconciliationRun

logger = logging.getLogger(__name__)

SCRATCH = ("rc_call", "rc_leg", "rc_credit_key", "rc_match", "rc_contested", "rc_added", "rc_free_cdr", "rc_free_leg",
           "rc_flag")
EXACT_SCORE, LOCAL_SCORE = Decimal("1.0000"), Decimal("0.9500")
WORK_MEM = "256MB"
TEMP_BUFFERS = "512MB"

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


def _bytewise(text_expr: str) -> str:
    """A text expression partitioned on by its bytes: equal values group the same (the collation is
    deterministic), and PostgreSQL sorts them with memcmp instead of the locale's rules (several
    times faster). SQLite compares bytes already."""
    return f'{text_expr} COLLATE "C"' if connection.vendor == "postgresql" else text_expr


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


def tune_session() -> None:
    """PostgreSQL: room for the run's sorts, hashes and window functions in memory (this connection
    until :func:`reset_session`); the default 4 MB spills each of them to disk at a million rows.

    Also room for the scratch tables in this backend's own buffers (8 MB by default, so every scan
    of a million-row ``rc_*`` table goes through the kernel). PostgreSQL only lets a session set
    that before it first touches a temporary table: a connection that already did keeps its size.
    The buffers are allocated as used and freed with the connection (``CONN_MAX_AGE``).
    """
    if connection.vendor != "postgresql":
        return
    _run(f"SET work_mem = '{WORK_MEM}'")
    try:
        with transaction.atomic():
            _run(f"SET temp_buffers = '{TEMP_BUFFERS}'")
    except DatabaseError:
        logger.debug("temp_buffers kept: this connection has used temporary tables already")


def reset_session() -> None:
    if connection.vendor == "postgresql":
        _run("RESET work_mem")


def _analyze(table: str) -> None:
    # Temporary tables are never auto-analysed; the planner needs their size for the next joins.
    if connection.vendor == "postgresql":
        _run(f"ANALYZE {table}")


def rank_calls(run: ReconciliationRun) -> None:
    """``rc_call``: the run's carrier rows that are calls, ranked within their duplicate key.

    The key is the Call-ID, else the carrier's record id, else the call's own fields; rank 1 (the
    lowest id) is the original, ``original_id`` names it on every copy (preview._dup_keys in SQL).
    The row's figures the flag pre-filter compares ride along (billed seconds, charge, credit key),
    so it does not read the carrier table again; so does the charge for the billed total.
    """
    _run(f"""
        CREATE TEMP TABLE rc_call AS
        SELECT c.id, c.sip_call_id AS sip, c.sip_call_id_local AS local,
               ROW_NUMBER() OVER w AS dup_rank, MIN(c.id) OVER w AS original_id,
               COALESCE(c.billed_seconds, c.duration_seconds) AS billed, c.charge,
               CASE WHEN c.sip_call_id <> '' THEN c.sip_call_id ELSE c.record_id END AS credit_key
        FROM {CDR_T} c
        WHERE {_scope()} AND c.is_credit = %s
        WINDOW w AS (PARTITION BY
            {_bytewise("CASE WHEN c.sip_call_id <> '' THEN c.sip_call_id END")},
            {_bytewise("CASE WHEN c.sip_call_id = '' AND c.record_id <> '' THEN c.record_id END")},
            {_bytewise("CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.direction END")},
            {_bytewise("CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.from_e164 END")},
            {_bytewise("CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.to_e164 END")},
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.start_utc END,
            CASE WHEN c.sip_call_id = '' AND c.record_id = '' THEN c.duration_seconds END
            ORDER BY c.id)
    """, [*_scope_params(run), False])  # noqa: S608 - table names come from model metadata
    _analyze("rc_call")


def window_legs(run: ReconciliationRun) -> None:
    """``rc_leg``: the legs starting in the padded period with their cost record's figures (if any),
    joined once for the exact join, the fuzzy-eligible legs, the flags and the counts."""
    _run(f"""
        CREATE TEMP TABLE rc_leg AS
        SELECT l.id, l.sip_call_id AS sip, l.sip_call_id_local AS local, l.started_at, l.duration_ms,
               cr.carrier_id, cr.status, cr.billable_seconds, cr.cost
        FROM {LEG_T} l LEFT JOIN {COST_T} cr ON cr.leg_id = l.id
        WHERE l.started_at >= %s AND l.started_at < %s
    """, [_dt(run.period_start - pad(run)), _dt(run.period_end + pad(run))])  # noqa: S608
    _analyze("rc_leg")


def credit_keys(keys: Iterable[str]) -> None:
    """``rc_credit_key``: the Call-IDs (else record ids) of the run's credit lines with a charge."""
    _run("CREATE TEMP TABLE rc_credit_key (k text)")
    rows = [(k,) for k in sorted(set(keys)) if k]
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO rc_credit_key (k) VALUES (%s)", rows)
    _analyze("rc_credit_key")


def _may_flag(c_billed: str, c_charge: str, leg: str) -> str:
    """1 when a matched pair may carry a flag, found with a wide margin (3 parameters, :func:`_flag_params`).

    Billed seconds off by more than the tolerance, a rated cost off by more than half the money
    tolerance, or a credit line for the row's Call-ID (else record id): the query left-joins
    ``rc_credit_key k`` on that key. Every decision is then taken exactly, in Decimal, on these
    pairs only. ``leg`` is an alias with the cost record's columns.
    """
    return (f"CASE WHEN ({leg}.billable_seconds IS NOT NULL AND {c_billed} IS NOT NULL"
            f" AND ABS({c_billed} - {leg}.billable_seconds) > %s)"
            f" OR ({leg}.status = %s AND ABS({c_charge} - {leg}.cost) > %s)"
            f" OR k.k IS NOT NULL THEN 1 ELSE 0 END")


def _flag_params(tol_seconds: int, tol_money: Decimal) -> list[Any]:
    return [tol_seconds, CostRecord.Status.RATED.value, _num(tol_money / 2)]


def exact_pairs(run: ReconciliationRun, tol_seconds: int, tol_money: Decimal) -> None:
    """``rc_match``: originals joined to legs on the stored local part, less the contested pairs.

    With ``callid_match = full`` a different host is another call; a host dropped on one side only is
    still a ``local_part`` match. A pair that shares neither its row nor its leg with another pair
    is its own mutual best and stays in ``rc_match``; the others move to ``rc_contested`` and are
    assigned in Python. Each pair carries what the flags and counts need (``flagged``, the leg's cost
    status and cost), so no later step joins the matches with carrier rows or cost records again.
    Needs ``rc_credit_key``.
    """
    host_rule = ""
    if run.carrier.callid_match == "full":
        host_rule = f"AND (c.sip = l.sip OR {_no_host('c.sip')} OR {_no_host('l.sip')})"
    _run(f"""
        CREATE TEMP TABLE rc_match AS
        SELECT c.id AS cdr_id, l.id AS leg_id,
               CASE WHEN c.sip = l.sip THEN '{MatchMethod.EXACT.value}'
                    ELSE '{MatchMethod.LOCAL_PART.value}' END AS method,
               CASE WHEN c.sip = l.sip THEN %s ELSE %s END AS score,
               {_may_flag("c.billed", "c.charge", "l")} AS flagged,
               l.status AS leg_status, l.cost AS leg_cost
        FROM rc_call c JOIN rc_leg l ON l.local = c.local LEFT JOIN rc_credit_key k ON k.k = c.credit_key
        WHERE c.dup_rank = 1 AND c.local <> '' {host_rule}
    """, [EXACT_SCORE, LOCAL_SCORE, *_flag_params(tol_seconds, tol_money)])  # noqa: S608
    _analyze("rc_match")
    _run("""
        CREATE TEMP TABLE rc_contested AS
        SELECT cdr_id, leg_id, method FROM rc_match
        WHERE cdr_id IN (SELECT cdr_id FROM rc_match GROUP BY cdr_id HAVING COUNT(*) > 1)
           OR leg_id IN (SELECT leg_id FROM rc_match GROUP BY leg_id HAVING COUNT(*) > 1)
    """)
    _analyze("rc_contested")
    # A pair sharing a row or a leg with a contested pair is contested itself: these are all of them.
    _run("""
        DELETE FROM rc_match WHERE cdr_id IN (SELECT cdr_id FROM rc_contested)
                                OR leg_id IN (SELECT leg_id FROM rc_contested)
    """)
    _run("CREATE TEMP TABLE rc_added (cdr_id bigint, leg_id bigint, method varchar(16), score numeric(5, 4))")


def contested_pairs() -> list[tuple]:
    """Exact candidates sharing a carrier row or a leg: (cdr_id, leg_id, method, cdr start, leg start)."""
    return _rows(f"""
        SELECT p.cdr_id, p.leg_id, p.method, c.start_utc, COALESCE(l.connected_at, l.started_at)
        FROM rc_contested p JOIN {CDR_T} c ON c.id = p.cdr_id JOIN {LEG_T} l ON l.id = p.leg_id
    """)  # noqa: S608


def add_matches(pairs: list[tuple[int, int, str, Decimal]], tol_seconds: int, tol_money: Decimal) -> None:
    """Append (cdr_id, leg_id, method, score) pairs chosen in Python to ``rc_match``, with the same
    ``flagged`` and cost columns as the exact pairs (looked up by key: these pairs are few)."""
    if not pairs:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy("COPY rc_added (cdr_id, leg_id, method, score) FROM STDIN") as copy:
                for row in pairs:
                    copy.write_row(row)
        else:
            cursor.executemany("INSERT INTO rc_added (cdr_id, leg_id, method, score) VALUES (%s, %s, %s, %s)", pairs)
    _analyze("rc_added")
    flagged = _may_flag("COALESCE(c.billed_seconds, c.duration_seconds)", "c.charge", "cr")
    _run(f"""
        INSERT INTO rc_match (cdr_id, leg_id, method, score, flagged, leg_status, leg_cost)
        SELECT a.cdr_id, a.leg_id, a.method, a.score, {flagged}, cr.status, cr.cost
        FROM rc_added a JOIN {CDR_T} c ON c.id = a.cdr_id LEFT JOIN {COST_T} cr ON cr.leg_id = a.leg_id
        LEFT JOIN rc_credit_key k ON k.k = CASE WHEN c.sip_call_id <> '' THEN c.sip_call_id ELSE c.record_id END
    """, _flag_params(tol_seconds, tol_money))  # noqa: S608
    _run("DELETE FROM rc_added")


def free_rows(run: ReconciliationRun) -> None:
    """``rc_free_cdr``/``rc_free_leg``: originals and fuzzy-eligible legs the exact join left over.

    A leg is eligible when it has no carrier yet or this carrier, and starts in the padded period
    (``rc_leg``).
    """
    _run("""
        CREATE TEMP TABLE rc_free_cdr AS
        SELECT c.id FROM rc_call c
        WHERE c.dup_rank = 1 AND NOT EXISTS (SELECT 1 FROM rc_match m WHERE m.cdr_id = c.id)
    """)
    _run("""
        CREATE TEMP TABLE rc_free_leg AS
        SELECT l.id FROM rc_leg l
        WHERE (l.carrier_id IS NULL OR l.carrier_id = %s)
          AND NOT EXISTS (SELECT 1 FROM rc_match m WHERE m.leg_id = l.id)
    """, [run.carrier_id])
    _analyze("rc_free_cdr")
    _analyze("rc_free_leg")


def flag_candidates() -> None:
    """``rc_flag``: the matched pairs that may carry a flag (``rc_match.flagged``)."""
    _run("CREATE TEMP TABLE rc_flag AS SELECT cdr_id, leg_id, method FROM rc_match WHERE flagged = 1")
    _analyze("rc_flag")


def cdrs_to_read() -> RawSQL:
    """The carrier rows Python reads once the fuzzy-eligible ones are known: those left over, those
    of the matched pairs that may be flagged (fuzzy pairs take rows left over), and the copies."""
    return RawSQL("SELECT id FROM rc_free_cdr UNION SELECT cdr_id FROM rc_match WHERE flagged = 1 "
                  "UNION SELECT id FROM rc_call WHERE dup_rank > 1", ())


def legs_to_read() -> RawSQL:
    """The legs left over and those of the matched pairs that may be flagged."""
    return RawSQL("SELECT id FROM rc_free_leg UNION SELECT leg_id FROM rc_match WHERE flagged = 1", ())


def ids(table: str) -> list[int]:
    return [row[0] for row in _rows(f"SELECT id FROM {table}")]  # noqa: S608 - one of the scratch tables


def flag_pairs() -> list[tuple]:
    return _rows("SELECT cdr_id, leg_id, method FROM rc_flag")


def duplicate_links() -> list[tuple]:
    """Each copy: (id, original id, and the original's leg, method, card seconds, talk ms, or None)."""
    return _rows("""
        SELECT d.id, d.original_id, m.leg_id, m.method, l.billable_seconds, l.duration_ms
        FROM rc_call d LEFT JOIN rc_match m ON m.cdr_id = d.original_id LEFT JOIN rc_leg l ON l.id = m.leg_id
        WHERE d.dup_rank > 1
    """)


def counts() -> dict[str, Any]:
    """Carrier calls, duplicates, matches per method, matched legs without a rated cost, and the
    expected cost of the matched rated legs (Decimal; summed in Python on SQLite, whose money is float)."""
    calls, duplicates = _rows("SELECT COUNT(*), COALESCE(SUM(CASE WHEN dup_rank > 1 THEN 1 ELSE 0 END), 0) "
                              "FROM rc_call")[0]
    rated = CostRecord.Status.RATED.value
    methods, unrated, expected = {}, 0, None
    for method, n, not_rated, cost in _rows("""
        SELECT method, COUNT(*), SUM(CASE WHEN leg_status IS NULL OR leg_status <> %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN leg_status = %s THEN leg_cost END)
        FROM rc_match GROUP BY method
    """, [rated, rated]):
        methods[method] = n
        unrated += int(not_rated or 0)
        if cost is not None:
            expected = cost if expected is None else expected + cost
    if connection.vendor != "postgresql":
        legs = CostRecord.objects.filter(leg_id__in=RawSQL("SELECT leg_id FROM rc_match", ()), status=rated)
        expected = sum((v for v in legs.values_list("cost", flat=True) if v is not None), Decimal(0))
    return {"carrier_rows": int(calls), "duplicates": int(duplicates),
            "matched": {str(k): int(v) for k, v in methods.items()}, "matched_unrated_legs": int(unrated),
            "matched_expected": expected if expected is not None else Decimal(0)}


def platform_legs(run: ReconciliationRun) -> int:
    """Our legs of this carrier (by their cost record) starting in the period, not the padded one."""
    return int(_rows("SELECT COUNT(*) FROM rc_leg WHERE carrier_id = %s AND started_at >= %s AND started_at < %s",
                     [run.carrier_id, _dt(run.period_start), _dt(run.period_end)])[0][0])


def billed_total(run_calls) -> Decimal:
    """What the carrier billed for the run's calls (not credits): summed over ``rc_call``, the same
    rows, on PostgreSQL; ``run_calls`` (a QuerySet of them) is summed in Python on SQLite."""
    if connection.vendor == "postgresql":
        total = _rows("SELECT SUM(charge) FROM rc_call")[0][0]
        return total if total is not None else Decimal(0)
    return money_total(run_calls, "charge")


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
