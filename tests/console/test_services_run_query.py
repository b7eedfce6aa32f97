"""Running console queries: masking holds whatever the SQL does; timeouts, caps, history, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from cdrweb.console import services
from cdrweb.console.execute import QueryFailed, execute_readonly
from cdrweb.console.models import QueryHistory
from cdrweb.models import AuditEntry
from extraction.models import CallLeg
from tests.console.factories import (
    CallLegFactory,
    CarrierCdrFactory,
    CarrierFactory,
    CostRecordFactory,
    DiscrepancyFactory,
    ReconciliationRunFactory,
    SegmentFactory,
    SessionFactory,
)

RAW_FRAGMENTS = ("4155550188", "415 555", "2071838750", "Jane", "call back")


@pytest.fixture
def pii_rows(db):
    leg = CallLegFactory(ani="+14155550188", dnis="+442071838750", ani_e164="+14155550188")
    session = SessionFactory(ani="+14155550188", remote="Jane Customer", participant__participant_name="Jane")
    SegmentFactory(session=session, wrap_up_note="Customer asked to call back on +1 415 555 0188")
    CarrierCdrFactory(from_raw="14155550188", to_raw="442071838750")
    return leg


def _run(user, sql, **kwargs):
    run = services.run_query(user=user, sql=sql, **kwargs)
    assert run.error == "", run.error
    return run.result


def _assert_no_raw_pii(result):
    text = repr(result.rows)
    for fragment in RAW_FRAGMENTS:
        assert fragment not in text


BYPASS_ATTEMPTS = {
    "plain": "SELECT ani, dnis, ani_e164 FROM call_legs",
    "star": "SELECT t.* FROM call_legs t",
    "quoted": 'SELECT "ani" FROM "call_legs"',
    "substr": "SELECT substr(ani, 1, 20), substring(dnis from 2 for 30) FROM call_legs",
    "replace_lower_upper": "SELECT replace(ani, '*', ''), lower(dnis), upper(ani_e164), trim(ani) FROM call_legs",
    "cast": "SELECT CAST(ani AS text), ani::varchar, CAST(dnis AS varchar(40)) FROM call_legs",
    "concat": "SELECT ani || '|' || dnis FROM call_legs",
    "subquery": "SELECT (SELECT max(ani) FROM call_legs) AS a, x.d FROM (SELECT dnis AS d FROM call_legs) x",
    "cte": "WITH legs AS (SELECT ani AS a FROM call_legs) SELECT a FROM legs",
    "join_sessions": "SELECT l.ani, s.ani, s.remote FROM call_legs l JOIN sessions s ON s.ani = l.ani",
    "join_carrier_cdrs": "SELECT c.from_raw, c.to_e164 FROM carrier_cdrs c CROSS JOIN call_legs l",
    "union": "SELECT ani FROM call_legs UNION SELECT from_raw FROM carrier_cdrs UNION SELECT remote FROM sessions",
    "names_and_notes": "SELECT p.participant_name, g.wrap_up_note FROM participants p, segments g",
    "group_concat": "SELECT string_agg(ani, ',') FROM call_legs",
    "case": "SELECT CASE WHEN ani LIKE '+1%' THEN ani ELSE dnis END FROM call_legs",
}


@pytest.mark.parametrize("sql", BYPASS_ATTEMPTS.values(), ids=BYPASS_ATTEMPTS.keys())
def test_masking_cannot_be_bypassed(analyst, pii_rows, sql):
    result = _run(analyst, sql)
    assert result.rows
    _assert_no_raw_pii(result)


def test_masked_columns_show_the_masking_layers_values(analyst, pii_rows):
    result = _run(analyst, "SELECT l.ani, l.dnis, s.remote, g.wrap_up_note, p.participant_name "
                           "FROM call_legs l, sessions s, segments g, participants p")
    assert result.rows == [("***0188", "***8750", "REDACTED", "REDACTED", "REDACTED")]


def test_filtering_on_the_raw_value_finds_nothing(analyst, pii_rows):
    result = _run(analyst, "SELECT count(*) AS n FROM call_legs WHERE ani LIKE '%555%' OR ani = '+14155550188'")
    assert result.rows == [(0,)]


def test_an_auditor_who_revealed_sees_the_raw_values(auditor, pii_rows):
    run = services.run_query(user=auditor, sql="SELECT ani, dnis FROM call_legs", reveal=True)
    assert run.result.rows == [("+14155550188", "+442071838750")]
    assert run.history.revealed is True
    entry = AuditEntry.objects.get(action="console.query")
    assert entry.changes["revealed"] is True


def test_reveal_is_ignored_without_the_permission(analyst, pii_rows):
    run = services.run_query(user=analyst, sql="SELECT ani FROM call_legs", reveal=True)
    assert run.result.rows == [("***0188",)]
    assert run.history.revealed is False


def test_each_query_is_recorded_in_history_and_the_audit_log(analyst, pii_rows):
    sql = "SELECT count(*) AS n FROM call_legs WHERE ani <> '+14155550188'"
    run = services.run_query(user=analyst, sql=sql)
    history = QueryHistory.objects.get()
    assert (history.user, history.sql, history.status, history.row_count) == (analyst, sql, "ok", 1)
    entry = AuditEntry.objects.get(action="console.query")
    assert entry.actor == analyst
    assert entry.object_id == str(run.history.pk)
    assert "count(*)" in entry.summary
    assert "4155550188" not in entry.summary  # literals scrubbed like any prose


def test_a_refused_query_is_recorded_and_audited(analyst):
    run = services.run_query(user=analyst, sql="DELETE FROM call_legs")
    assert run.result is None
    assert "Only SELECT" in run.error
    assert run.history.status == QueryHistory.Status.REFUSED
    assert AuditEntry.objects.get(action="console.query").changes["status"] == "refused"


def test_a_database_error_is_reported_not_raised(analyst):
    run = services.run_query(user=analyst, sql="SELECT no_such_column FROM call_legs")
    assert run.history.status == QueryHistory.Status.ERROR
    assert "no_such_column" in run.error
    assert "extraction_callleg" not in run.error or connection.vendor == "sqlite"


def test_a_runaway_query_times_out(analyst, settings):
    settings.SQL_CONSOLE_TIMEOUT_MS = 200
    run = services.run_query(
        user=analyst,
        sql="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
    )
    assert run.history.status == QueryHistory.Status.TIMEOUT
    assert "200 ms" in run.error
    # The connection is usable afterwards, read-write again.
    CallLegFactory()
    assert CallLeg.objects.count() == 1


def test_results_are_capped(analyst, settings):
    settings.SQL_CONSOLE_MAX_ROWS = 3
    CallLegFactory.create_batch(5)
    run = services.run_query(user=analyst, sql="SELECT id FROM call_legs ORDER BY id")
    assert len(run.result.rows) == 3
    assert run.result.truncated is True
    assert (run.history.row_count, run.history.truncated) == (3, True)


@pytest.mark.django_db
def test_the_runner_itself_refuses_writes_even_without_the_validator():
    CallLegFactory()
    with pytest.raises(QueryFailed):
        execute_readonly("DELETE FROM extraction_callleg", timeout_ms=1000, max_rows=10,
                         reads={("extraction_callleg", "id")})
    assert CallLeg.objects.count() == 1
    # ...and the session is writable again afterwards (READ ONLY / query_only did not leak).
    CallLegFactory()
    assert CallLeg.objects.count() == 2


@pytest.mark.django_db
def test_the_sqlite_authoriser_refuses_tables_outside_the_virtual_tables():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's authoriser; PostgreSQL relies on the validator and READ ONLY")
    for sql in ("SELECT name FROM sqlite_master", "SELECT password FROM auth_user",
                "SELECT client_secret FROM extraction_connection", "PRAGMA table_info(auth_user)"):
        with pytest.raises(QueryFailed, match="not authorized|prohibited"):
            execute_readonly(sql, timeout_ms=1000, max_rows=10,
                             reads={("extraction_connection", "name"), ("auth_user", "username")})


@pytest.fixture
def q3_costs(db):
    alpha, beta = CarrierFactory(name="Alpha"), CarrierFactory(name="Beta")
    for start, carrier, cost in [
        (datetime(2026, 7, 6, 10, 0, tzinfo=UTC), alpha, "0.012000"),   # Monday, week of 07-06
        (datetime(2026, 7, 8, 23, 59, 59, tzinfo=UTC), alpha, "0.500000"),
        (datetime(2026, 7, 14, 8, 30, tzinfo=UTC), beta, "1.250000"),   # week of 07-13
        (datetime(2026, 10, 1, 0, 0, tzinfo=UTC), beta, "9.000000"),    # Q4: excluded
        (datetime(2026, 6, 30, 23, 59, tzinfo=UTC), alpha, "7.000000"),  # Q2: excluded
    ]:
        CostRecordFactory(leg=CallLegFactory(started_at=start), carrier=carrier, cost=Decimal(cost))
    run = ReconciliationRunFactory(carrier=beta)
    DiscrepancyFactory(run=run, start_utc=datetime(2026, 7, 14, 9, 0, tzinfo=UTC), amount_at_stake=Decimal("0.25"))
    DiscrepancyFactory(run=run, start_utc=datetime(2026, 7, 15, 9, 0, tzinfo=UTC), amount_at_stake=Decimal("0.5"))


COST_PER_CARRIER_PER_WEEK = """
WITH weekly AS (
  SELECT carrier, date_trunc('week', started_at) AS week, sum(cost) AS cost, count(*) AS legs
  FROM costs
  WHERE started_at >= DATE '2026-07-01' AND started_at < '2026-10-01T00:00:00Z'
  GROUP BY 1, 2
), flags AS (
  SELECT carrier, date_trunc('week', started_at) AS week, count(*) AS discrepancies,
         sum(amount_at_stake) AS at_stake
  FROM discrepancies GROUP BY 1, 2
)
SELECT w.carrier, w.week, w.cost, w.legs, coalesce(f.discrepancies, 0) AS discrepancies,
       coalesce(f.at_stake, 0) AS at_stake, extract(dow FROM w.week) AS dow
FROM weekly w LEFT JOIN flags f ON f.carrier = w.carrier AND f.week = w.week
ORDER BY w.carrier, w.week
"""


def test_the_same_query_gives_the_same_rows_on_every_database(analyst, q3_costs):
    """Expected rows are literal: the PostgreSQL run of the suite checks the same values."""
    result = _run(analyst, COST_PER_CARRIER_PER_WEEK)
    assert result.columns == ["carrier", "week", "cost", "legs", "discrepancies", "at_stake", "dow"]
    assert result.rows == [
        ("Alpha", "2026-07-06 00:00:00", Decimal("0.512"), 2, 0, 0, 1),
        ("Beta", "2026-07-13 00:00:00", Decimal("1.25"), 1, 2, Decimal("0.75"), 1),
    ]
    assert [str(v) for v in result.rows[0][:3]] == ["Alpha", "2026-07-06 00:00:00", "0.512"]


def test_unaliased_expressions_get_the_same_name_everywhere(analyst, q3_costs):
    result = _run(analyst, "SELECT count(*), min(started_at), max(cost) FROM costs")
    assert result.columns == ["COUNT(*)", "MIN(started_at)", "MAX(cost)"]
    assert result.rows == [(5, "2026-06-30 23:59:00", Decimal("9"))]


def test_timestamps_compare_the_same_on_both_databases(analyst, q3_costs):
    result = _run(analyst, "SELECT count(*) AS n FROM call_legs "
                           "WHERE started_at BETWEEN '2026-07-08T23:59:59Z' AND TIMESTAMP '2026-07-14 08:30:00'")
    assert result.rows == [(2,)]
    result = _run(analyst, "SELECT count(*) AS n FROM call_legs WHERE started_at <= '2026-07-06 10:00:00'")
    assert result.rows == [(2,)]


def test_a_users_smaller_limit_is_kept_and_a_larger_one_capped(analyst, settings):
    settings.SQL_CONSOLE_MAX_ROWS = 4
    CallLegFactory.create_batch(6)
    small = services.run_query(user=analyst, sql="SELECT id FROM call_legs ORDER BY id LIMIT 2")
    assert (len(small.result.rows), small.result.truncated) == (2, False)
    large = services.run_query(user=analyst, sql="SELECT id FROM call_legs ORDER BY id DESC LIMIT 1000")
    assert (len(large.result.rows), large.result.truncated) == (4, True)
    assert large.result.rows[0] > large.result.rows[-1]
    union = services.run_query(user=analyst, sql="SELECT id FROM call_legs UNION ALL SELECT id FROM call_legs")
    assert (len(union.result.rows), union.result.truncated) == (4, True)


def test_backslashes_in_strings_are_literal_everywhere(analyst):
    run = services.run_query(user=analyst, sql="SELECT 'a\\' AS x, 'it''s' AS y, 'b' AS z")
    assert run.result.rows == [("a\\", "it's", "b")]


def test_date_functions_agree_on_both_databases(analyst):
    CallLegFactory(started_at=datetime(2026, 7, 8, 23, 59, 59, 250_000, tzinfo=UTC))
    fields = ["year", "quarter", "month", "week", "isoyear", "day", "dow", "isodow", "doy", "hour", "minute", "second"]
    units = ["second", "minute", "hour", "day", "week", "month", "quarter", "year"]
    sql = "SELECT " + ", ".join(
        [f"extract({f} FROM started_at) AS e_{f}" for f in fields]
        + [f"date_trunc('{u}', started_at) AS t_{u}" for u in units]
        + ["date(started_at) AS d", "started_at"]
    ) + " FROM call_legs"
    row = _run(analyst, sql).rows[0]
    assert row == (
        2026, 3, 7, 28, 2026, 8, 3, 3, 189, 23, 59, Decimal("59.25"),
        "2026-07-08 23:59:59", "2026-07-08 23:59:00", "2026-07-08 23:00:00", "2026-07-08 00:00:00",
        "2026-07-06 00:00:00", "2026-07-01 00:00:00", "2026-07-01 00:00:00", "2026-01-01 00:00:00",
        "2026-07-08", "2026-07-08 23:59:59.250000",
    )
