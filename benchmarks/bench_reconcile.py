"""Reconciliation on PostgreSQL: 1M carrier rows × 1M platform legs (issue 5).

Data is generated in SQL: legs with cost records, and carrier rows for them (most with the SIP
Call-ID, some without it so they need the fuzzy fallback, some billed longer, duplicates and
phantoms). Measures ``reconciliation.services.reconcile_run`` beside an anchor in the same
database: one plain SQL FULL JOIN on the indexed normalised key that computes the same
Call-ID flags (phantom, unbilled, duration, cost) and inserts them. Target: within 2x of it.

    python -m benchmarks.bench_reconcile                     # 1,000,000 × 1,000,000
    BENCH_SCALE=small python -m benchmarks.bench_reconcile   # 50,000 × 50,000, a smoke run
    BENCH_ROWS=200000 python -m benchmarks.bench_reconcile   # any scale (legs; carrier rows ≈ 0.995×)
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from benchmarks.common import Result, migrate_quietly, peak_rss_mb, setup_django, throwaway_postgres, timer

N = int(os.environ.get("BENCH_ROWS") or (50_000 if os.environ.get("BENCH_SCALE") == "small" else 1_000_000))
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


def _insert_select(cursor, table: str, values: dict[str, str], source: str) -> None:
    """INSERT … SELECT with the given column expressions; other NOT NULL columns get a neutral value."""
    from django.db import connection

    described = connection.introspection.get_table_description(cursor, table)
    neutral = {"boolean": "false", "integer": "0", "bigint": "0", "smallint": "0", "numeric": "0",
               "jsonb": "'{}'::jsonb", "timestamp with time zone": "now()"}
    columns, exprs = [], []
    cursor.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = %s", [table]
    )
    types = {name: (kind, nullable == "YES") for name, kind, nullable in cursor.fetchall()}
    for col in described:
        name = col.name
        if name == "id":
            continue
        if name in values:
            columns.append(name)
            exprs.append(values[name])
        elif not types[name][1]:
            columns.append(name)
            exprs.append(neutral.get(types[name][0], "''"))
    cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} {source}")


def generate() -> tuple[int, int]:
    from django.db import connection

    from billing.models import Carrier, Rate, RateCard
    from extraction.models import Connection
    from reconciliation.models import CarrierUpload

    conn = Connection.objects.create(name="bench", platform="genesys")
    carrier = Carrier.objects.create(name="Bench carrier", currency="USD", is_default=True)
    card = RateCard.objects.create(carrier=carrier, name="deck", version=1, currency="USD", effective_from=START,
                                   default_increment_first=30, default_increment_next=6)
    rate = Rate.objects.create(rate_card=card, prefix="1", direction="outbound", rate_per_minute="0.006")
    upload = CarrierUpload.objects.create(carrier=carrier, original_name="bench.csv", sha256="x" * 64,
                                          status="imported", file="bench.csv")
    series = f"FROM generate_series(1, {N}) g(i)"
    with connection.cursor() as cursor:
        # Legs: one a 2.6 s step through November; talk 0–1799 s (every 10th unanswered).
        _insert_select(cursor, "extraction_callleg", {
            "connection_id": str(conn.pk), "platform": "'genesys'", "external_call_id": "'conv-' || i",
            "leg_id": "'leg-' || i", "sip_call_id": "'cid' || i || '@192.0.2.' || (i % 250)",
            "sip_call_id_local": "'cid' || i", "direction": "'outbound'", "ani": "'+13125550101'",
            "dnis": "'+1202' || lpad((i % 9999999)::text, 7, '0')", "ani_e164": "'+13125550101'",
            "dnis_e164": "'+1202' || lpad((i % 9999999)::text, 7, '0')",
            "started_at": f"'{START.isoformat()}'::timestamptz + (i * 2.6) * interval '1 second'",
            "connected_at": f"CASE WHEN i % 10 = 0 THEN NULL ELSE '{START.isoformat()}'::timestamptz"
                            " + (i * 2.6 + 4) * interval '1 second' END",
            "duration_ms": "CASE WHEN i % 10 = 0 THEN 0 ELSE (i % 1799 + 1) * 1000 END",
        }, series)
        billed = ("CASE WHEN l.duration_ms = 0 THEN 0 WHEN l.duration_ms <= 30000 THEN 30 "
                  "ELSE 30 + ((l.duration_ms / 1000 - 30 + 5) / 6) * 6 END")
        _insert_select(cursor, "billing_costrecord", {
            "leg_id": "l.id", "carrier_id": str(carrier.pk), "rate_card_id": str(card.pk), "rate_id": str(rate.pk),
            "billable_seconds": billed, "cost": f"round(0.006 * ({billed}) / 60.0, 4)",
            "exact_cost": f"0.006 * ({billed}) / 60.0", "currency": "'USD'", "status": "'rated'",
        }, "FROM extraction_callleg l")
        # Carrier rows for 98% of the legs: every 50th without a Call-ID (fuzzy), every 40th billed
        # 60/60 (duration mismatch); plus 0.5% duplicates and 1% phantoms.
        carrier_billed = (f"CASE WHEN l.id % 40 = 1 AND l.duration_ms > 0 THEN ((l.duration_ms / 1000 + 59) / 60) * 60"
                          f" ELSE {billed} END")
        common = {
            "upload_id": str(upload.pk), "carrier_id": str(carrier.pk), "record_id": "''", "raw_call_id": "''",
            "start_original": "''", "currency": "'USD'", "from_raw": "l.ani", "to_raw": "l.dnis",
            "from_e164": "l.ani_e164", "to_e164": "l.dnis_e164", "direction": "'outbound'",
            "direction_raw": "'OUT'", "raw": "'{}'::jsonb",
        }
        _insert_select(cursor, "reconciliation_carriercdr", {
            **common, "line_number": "l.id + 1",
            "sip_call_id": "CASE WHEN l.id % 50 = 0 THEN '' ELSE l.sip_call_id END",
            "sip_call_id_local": "CASE WHEN l.id % 50 = 0 THEN '' ELSE l.sip_call_id_local END",
            "start_utc": "coalesce(l.connected_at, l.started_at)", "duration_seconds": "l.duration_ms / 1000",
            "billed_seconds": carrier_billed, "charge": f"round(0.006 * ({carrier_billed}) / 60.0, 4)",
        }, "FROM extraction_callleg l WHERE l.id % 100 NOT IN (7, 77)")
        _insert_select(cursor, "reconciliation_carriercdr", {
            **common, "line_number": f"{2 * N} + l.id", "sip_call_id": "l.sip_call_id",
            "sip_call_id_local": "l.sip_call_id_local", "start_utc": "coalesce(l.connected_at, l.started_at)",
            "duration_seconds": "l.duration_ms / 1000", "billed_seconds": billed,
            "charge": f"round(0.006 * ({billed}) / 60.0, 4)",
        }, "FROM extraction_callleg l WHERE l.id % 200 = 3")
        _insert_select(cursor, "reconciliation_carriercdr", {
            **common, "line_number": f"{4 * N} + i", "sip_call_id": "'ghost' || i || '@198.51.100.1'",
            "sip_call_id_local": "'ghost' || i", "from_e164": "'+13125550101'", "to_e164": "'+1999' || i",
            "from_raw": "''", "to_raw": "''",
            "start_utc": f"'{START.isoformat()}'::timestamptz + (i * 260) * interval '1 second'",
            "duration_seconds": "60", "billed_seconds": "60", "charge": "0.006",
        }, f"FROM generate_series(1, {N // 100}) g(i)")
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM reconciliation_carriercdr")
        cdrs = cursor.fetchone()[0]
    return carrier.pk, cdrs


ANCHOR_SQL = """
CREATE UNLOGGED TABLE bench_anchor AS
SELECT c.id AS cdr_id, l.id AS leg_id,
       CASE WHEN l.id IS NULL THEN 'phantom'
            WHEN c.id IS NULL THEN 'unbilled'
            WHEN abs(coalesce(c.billed_seconds, c.duration_seconds) - l.billable_seconds) > 1 THEN 'duration_mismatch'
            WHEN abs(c.charge - l.cost) > 0.0001 THEN 'cost_mismatch' END AS type,
       CASE WHEN l.id IS NULL THEN c.charge WHEN c.id IS NULL THEN l.cost ELSE c.charge - l.cost END AS amount
FROM (SELECT cc.* FROM reconciliation_carriercdr cc JOIN reconciliation_carrierupload u ON u.id = cc.upload_id
      WHERE cc.carrier_id = %(carrier)s AND u.status = 'imported' AND NOT cc.is_credit
        AND cc.start_utc >= %(start)s AND cc.start_utc < %(end)s AND cc.sip_call_id_local <> '') c
FULL JOIN (SELECT ll.id, ll.sip_call_id_local, cr.billable_seconds, cr.cost FROM extraction_callleg ll
           JOIN billing_costrecord cr ON cr.leg_id = ll.id
           WHERE ll.started_at >= %(start)s AND ll.started_at < %(end)s AND cr.carrier_id = %(carrier)s) l
  ON l.sip_call_id_local = c.sip_call_id_local
"""


def main(argv: list[str]) -> list[Result]:
    with throwaway_postgres("cdrweb_bench_reconcile") as url:
        setup_django(url)
        migrate_quietly()
        from django.db import connection

        from billing.models import Carrier
        from reconciliation import services

        with timer() as gen:
            carrier_id, cdrs = generate()
        with connection.cursor() as cursor, timer() as anchor:
            cursor.execute(ANCHOR_SQL, {"carrier": carrier_id, "start": START, "end": END})
        carrier = Carrier.objects.get(pk=carrier_id)
        with timer() as t:
            run = services.start_run(carrier=carrier, period_start=START, period_end=END, background=False)
            run = services.reconcile_run(run_id=run.pk)
        peak = peak_rss_mb()
    notes = (f"{cdrs:,} carrier rows × {N:,} legs; {run.matched_exact:,} exact + {run.matched_fuzzy:,} fuzzy, "
             f"{run.discrepancy_count:,} discrepancies; data generated in {gen['seconds']:.0f} s")
    return [
        Result("reconcile", "reconciliation run", t["seconds"], "s", "SQL FULL JOIN with the same Call-ID flags",
               anchor["seconds"], "≤ 2x", notes),
        Result("reconcile", "peak memory", peak, "MiB", "", None, "", "whole process"),
    ]


if __name__ == "__main__":
    for result in main(sys.argv[1:]):
        result.emit()
