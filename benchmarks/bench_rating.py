"""Rating throughput on PostgreSQL: 1M legs against a 20k-prefix card (issue 4).

Measures ``billing.services.rate_period`` (read legs, vectorised Decimal-exact rating, COPY the
cost records back with one upsert) beside an anchor run in the same database: one set-based SQL
statement that does the longest-prefix match, increments and cost and inserts the results.
Target: our time within 1.5x of the anchor. A second, unchanged run shows the idempotent path.

    python -m benchmarks.bench_rating             # 1,000,000 legs
    BENCH_SCALE=small python -m benchmarks.bench_rating   # 50,000 legs, a smoke run
    BENCH_RATING_LEGS=200000 python -m benchmarks.bench_rating
"""

from __future__ import annotations

import os
import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from benchmarks.common import Result, migrate_quietly, setup_django, throwaway_postgres, timer

LEGS = int(os.environ.get("BENCH_RATING_LEGS") or (50_000 if os.environ.get("BENCH_SCALE") == "small" else 1_000_000))
PREFIXES = 20_000
START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=30)

# The anchor: longest prefix (every prefix of the number joined to the card), 60/6-style
# increments with per-row overrides, minimum cost, connect fee, half-up rounding, one INSERT.
ANCHOR_SQL = """
INSERT INTO billing_costrecord (leg_id, carrier_id, rate_card_id, rate_id, matched_prefix, destination, country,
  number_type, band, talk_seconds, billable_seconds, exact_cost, cost, currency, status, reason, input_hash,
  engine_version, rated_at)
SELECT leg_id, %(carrier)s, %(card)s, rate_id, prefix, destination, '', 'unknown', '', a, billed,
       CASE WHEN billed = 0 THEN 0 ELSE greatest(connect_fee + rate_per_minute * billed / 60, minimum_cost) END,
       round(CASE WHEN billed = 0 THEN 0
                  ELSE greatest(connect_fee + rate_per_minute * billed / 60, minimum_cost) END, 4),
       'USD', 'rated', '', '', 'anchor', now()
FROM (
  SELECT DISTINCT ON (l.id) l.id AS leg_id, r.id AS rate_id, r.prefix, r.destination, r.connect_fee,
         r.rate_per_minute, r.minimum_cost, s.a,
         CASE WHEN s.a <= 0 OR s.a < r.min_billable_seconds THEN 0
              WHEN s.a <= coalesce(r.increment_first, %(first)s) THEN coalesce(r.increment_first, %(first)s)
              ELSE coalesce(r.increment_first, %(first)s)
                   + ((s.a - coalesce(r.increment_first, %(first)s) + coalesce(r.increment_next, %(next)s) - 1)
                      / coalesce(r.increment_next, %(next)s)) * coalesce(r.increment_next, %(next)s)
         END AS billed
  FROM extraction_callleg l
  CROSS JOIN LATERAL (SELECT ltrim(l.dnis_e164, '+') AS d,
                             CASE WHEN l.connected_at IS NULL THEN 0
                                  ELSE (l.duration_ms + 999) / 1000 END AS a) s
  JOIN generate_series(0, 15) g(len) ON g.len <= length(s.d)
  JOIN billing_rate r ON r.rate_card_id = %(card)s AND r.direction = l.direction
                     AND r.prefix = substr(s.d, 1, g.len)
  WHERE l.started_at >= %(start)s AND l.started_at < %(end)s
  ORDER BY l.id, g.len DESC
) matched
"""


def _card(rng: random.Random):
    from billing.models import Carrier, Rate, RateCard

    carrier = Carrier.objects.create(name="Bench carrier", currency="USD", is_default=True)
    card = RateCard.objects.create(carrier=carrier, name="deck", version=1, currency="USD",
                                   effective_from=START - timedelta(days=60), default_increment_first=60,
                                   default_increment_next=6)
    prefixes: set[str] = {"", "1", "44", "33", "49", "61"}
    while len(prefixes) < PREFIXES:
        country = rng.choice(["1", "1", "1", "44", "33", "49", "61"])
        prefixes.add(country + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6))))
    rates = []
    for prefix in sorted(prefixes):
        for direction in ("outbound", "inbound"):
            increment = rng.choice([(None, None), (None, None), (1, 1), (30, 6), (60, 60)])
            rates.append(Rate(
                rate_card=card, prefix=prefix, destination=f"dest {prefix}", direction=direction,
                rate_per_minute=Decimal(rng.choice([100000, 250000, 1200000, 1500000])) / 10**8,
                connect_fee=Decimal(rng.choice([0, 0, 0, 1000000])) / 10**8,
                minimum_cost=Decimal(rng.choice([0, 0, 500000])) / 10**8,
                increment_first=increment[0], increment_next=increment[1],
            ))
    Rate.objects.bulk_create(rates, batch_size=5000)
    return card


def _legs() -> None:
    """Insert LEGS call legs with one INSERT … SELECT generate_series (setup, not timed)."""
    from django.db import connection

    from extraction.models import Connection

    conn = Connection.objects.create(name="bench", platform="genesys")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO extraction_callleg (connection_id, platform, external_call_id, leg_id, sip_call_id,
              sip_call_id_local, direction, ani, dnis, ani_e164, dnis_e164, started_at, connected_at, ended_at,
              duration_ms, talk_ms, queue_id, queue_name, wrapup_code, wrapup_name, edge_id, trunk, provider,
              purpose, is_open, disconnect_type, sip_response_code, extracted_at)
            SELECT %s, 'genesys', 'c' || i, 'l' || i, 'call' || i || '@sbc', 'call' || i,
              CASE WHEN i %% 5 = 0 THEN 'inbound' ELSE 'outbound' END, '+14155550100', num, '+14155550100', num,
              %s + (i * interval '2 seconds'),
              CASE WHEN i %% 7 = 0 THEN NULL ELSE %s + (i * interval '2 seconds') + interval '3 seconds' END,
              %s + (i * interval '2 seconds') + interval '200 seconds',
              CASE WHEN i %% 7 = 0 THEN 0 ELSE (i::bigint * 7919) %% 900000 END, 0, '', '', '', '', '', 'trunk', '',
              'external', false, '', NULL, now()
            FROM (
              SELECT i, '+' || (ARRAY['1','1','1','1','44','33','49','61'])[1 + (i * 31) %% 8]
                        || lpad(((i::bigint * 2654435761) %% 9000000000 + 1000000000)::text, 10, '0') AS num
              FROM generate_series(1, %s) AS i
            ) g
            """,
            [conn.pk, START, START, START, LEGS],
        )
        cursor.execute("ANALYZE extraction_callleg; ANALYZE billing_rate")


def main(argv: list[str]) -> list[Result]:
    results: list[Result] = []
    with throwaway_postgres("cdrweb_bench_rating") as url:
        setup_django(url)
        migrate_quietly()
        from django.db import connection, transaction

        from billing import services
        from billing.models import CostRecord

        rng = random.Random(4)
        card = _card(rng)
        _legs()
        params = {"card": card.pk, "carrier": card.carrier_id, "first": 60, "next": 6, "start": START, "end": END}
        with timer() as anchor, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(ANCHOR_SQL, params)  # into the same table, same constraints, one transaction
            anchor_rows = cursor.rowcount
        with connection.cursor() as cursor:
            # keep the anchor's answers to check ours against, then start from an empty table
            cursor.execute("CREATE TABLE bench_anchor_cost AS SELECT leg_id, billable_seconds, cost "
                           "FROM billing_costrecord")
            cursor.execute("TRUNCATE billing_costrecord")
            cursor.execute("ANALYZE billing_costrecord")
        with timer() as ours:
            run = services.rate_period(actor="bench", start=START, end=END)
        written = CostRecord.objects.count()
        with timer() as again:
            rerun = services.rate_period(actor="bench", start=START, end=END)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_anchor_cost a JOIN billing_costrecord c USING (leg_id) "
                           "WHERE a.cost <> c.cost OR a.billable_seconds <> c.billable_seconds")
            mismatches = cursor.fetchone()[0]
        notes = (f"{LEGS:,} legs, {PREFIXES:,}-prefix card (x2 directions); {written:,} cost records written; "
                 f"anchor inserted {anchor_rows:,}; {mismatches} cost mismatches vs anchor")
        results.append(Result(
            benchmark="rating", metric="rate_period seconds", value=ours["seconds"], unit="s",
            anchor="one set-based SQL INSERT…SELECT (longest prefix, increments, cost)",
            anchor_value=anchor["seconds"], target="<= 1.5x anchor", notes=notes,
            extra={"legs_per_second": LEGS / ours["seconds"], "anchor_legs_per_second": LEGS / anchor["seconds"],
                   "processed": run.processed_legs, "changed": run.changed_legs},
        ))
        results.append(Result(
            benchmark="rating", metric="legs rated per second", value=LEGS / ours["seconds"], unit="legs/s",
            anchor="SQL anchor legs/s", anchor_value=LEGS / anchor["seconds"], target="higher is better",
            notes=notes,
        ))
        results.append(Result(
            benchmark="rating", metric="unchanged re-run seconds (idempotent, writes nothing)",
            value=again["seconds"], unit="s", anchor="first run", anchor_value=ours["seconds"],
            notes=f"{rerun.changed_legs} legs rewritten",
        ))
    for result in results:
        result.emit()
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
