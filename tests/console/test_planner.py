"""SQL-to-Analytics planning: the time range from WHERE, and the missing intervals per connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdrweb.console import planner, services
from cdrweb.console.models import QueryHistory
from cdrweb.console.validate import validate
from cdrweb.models import AuditEntry
from extraction.models import ChunkState, ExtractionChunk, ExtractionRun, RunState
from tests.console.factories import ConnectionFactory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
JUL1, AUG1, SEP1, OCT1 = (datetime(2026, m, 1, tzinfo=UTC) for m in (7, 8, 9, 10))


def _range(sql):
    return planner.time_range(validate(sql), now=NOW)


RANGES = {
    "gte_lt": ("SELECT * FROM call_legs WHERE started_at >= '2026-07-01' AND started_at < '2026-10-01'",
               (JUL1, OCT1)),
    "between": ("SELECT * FROM conversations WHERE conversation_start BETWEEN DATE '2026-07-01' "
                "AND TIMESTAMP '2026-10-01 00:00:00'", (JUL1, OCT1)),
    "literal_on_the_left": ("SELECT * FROM costs WHERE '2026-07-01T00:00:00Z' <= started_at "
                            "AND '2026-10-01' > started_at", (JUL1, OCT1)),
    "offset_literal": ("SELECT * FROM call_legs WHERE started_at >= '2026-07-01T02:00:00+02:00' "
                       "AND started_at < '2026-10-01'", (JUL1, OCT1)),
    "aliased_in_a_join": ("SELECT * FROM call_legs l JOIN costs c ON c.call_leg_id = l.id "
                          "WHERE l.started_at > '2026-07-01' AND l.started_at <= '2026-10-01'", (JUL1, OCT1)),
    "inside_a_cte": ("WITH q AS (SELECT * FROM costs WHERE started_at >= '2026-07-01' "
                     "AND started_at < '2026-10-01') SELECT carrier, sum(cost) FROM q GROUP BY 1", (JUL1, OCT1)),
    "several_bounds_widen": ("SELECT * FROM call_legs WHERE (started_at >= '2026-08-01' AND started_at < '2026-09-01')"
                             " OR (started_at >= '2026-07-01' AND started_at < '2026-08-01')", (JUL1, SEP1)),
    "no_upper_bound_means_now": ("SELECT * FROM call_legs WHERE started_at >= '2026-07-01'", (JUL1, NOW)),
    "future_is_capped": ("SELECT * FROM call_legs WHERE started_at >= '2026-07-01' AND started_at < '2027-01-01'",
                         (JUL1, NOW)),
}


@pytest.mark.django_db
@pytest.mark.parametrize("sql, expected", RANGES.values(), ids=RANGES.keys())
def test_it_reads_the_time_range_from_where(sql, expected):
    found = _range(sql)
    assert (found.start, found.end) == expected


NO_RANGE = {
    "no_where": "SELECT * FROM call_legs",
    "only_an_upper_bound": "SELECT * FROM call_legs WHERE started_at < '2026-10-01'",
    "not_a_planning_column": "SELECT * FROM call_legs WHERE ended_at >= '2026-07-01'",
    "a_table_without_planning": "SELECT * FROM carrier_cdrs WHERE started_at >= '2026-07-01'",
    "other_alias": "SELECT * FROM carrier_cdrs c JOIN call_legs l ON l.sip_call_id = c.sip_call_id "
                   "WHERE c.started_at >= '2026-07-01'",
    "not_a_literal": "SELECT * FROM call_legs WHERE started_at >= ended_at",
    "not_a_date": "SELECT * FROM call_legs WHERE started_at >= 'yesterday'",
    "entirely_in_the_future": "SELECT * FROM call_legs WHERE started_at >= '2027-01-01'",
}


@pytest.mark.django_db
@pytest.mark.parametrize("sql", NO_RANGE.values(), ids=NO_RANGE.keys())
def test_no_range_means_no_plan(sql):
    assert _range(sql) is None
    assert planner.plan_query(validate(sql), now=NOW).needs_extraction is False


def _extracted(connection, start, end):
    """A finished run whose chunk covered [start, end)."""
    run = ExtractionRun.objects.create(connection=connection, start=start, end=end, state=RunState.SUCCEEDED)
    ExtractionChunk.objects.create(run=run, index=0, interval_start=start, interval_end=end, state=ChunkState.DONE)
    return run


Q3_SQL = ("SELECT carrier, sum(cost) FROM costs WHERE started_at >= '2026-07-01' AND started_at < '2026-10-01' "
          "GROUP BY 1")


@pytest.mark.django_db
def test_it_plans_the_missing_intervals_per_active_connection_in_api_sized_batches():
    half = ConnectionFactory(name="a-half-done")  # July extracted, August and September missing
    _extracted(half, JUL1, AUG1)
    ConnectionFactory(name="b-nothing", settings={"limits": {"max_interval_days": 7}})
    ConnectionFactory(name="c-inactive", is_active=False)
    done = ConnectionFactory(name="d-done")
    _extracted(done, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))

    plan = planner.plan_query(validate(Q3_SQL), now=NOW)

    assert (plan.range.start, plan.range.end) == (JUL1, OCT1)
    assert [(j.connection_name, j.start, j.end) for j in plan.jobs] == [
        ("a-half-done", AUG1, OCT1),
        ("b-nothing", JUL1, OCT1),
    ]
    assert plan.jobs[0].batches == ((AUG1, SEP1), (SEP1, OCT1))  # the default 31-day job limit
    weekly_batches = plan.jobs[1].batches
    assert len(weekly_batches) == 14  # 92 days in jobs of at most 7 days
    assert weekly_batches[0][0] == JUL1 and weekly_batches[-1][1] == OCT1
    assert all(b - a <= timedelta(days=7) for a, b in weekly_batches)
    assert all(weekly_batches[i][1] == weekly_batches[i + 1][0] for i in range(13))
    assert plan.batch_count == 16


@pytest.mark.django_db
def test_a_gap_in_the_middle_is_the_only_thing_planned():
    connection = ConnectionFactory()
    _extracted(connection, JUL1, datetime(2026, 7, 20, tzinfo=UTC))
    _extracted(connection, datetime(2026, 8, 3, tzinfo=UTC), OCT1)

    plan = planner.plan_query(validate(Q3_SQL), now=NOW)

    gap = (datetime(2026, 7, 20, tzinfo=UTC), datetime(2026, 8, 3, tzinfo=UTC))
    assert [(j.start, j.end) for j in plan.jobs] == [gap]


@pytest.mark.django_db
def test_start_fetch_starts_one_run_per_missing_interval_and_waits(analyst):
    connection = ConnectionFactory()
    _extracted(connection, JUL1, AUG1)

    history = services.start_fetch(user=analyst, sql=Q3_SQL)

    run = ExtractionRun.objects.exclude(state=RunState.SUCCEEDED).get()
    assert (run.connection, run.start, run.end, run.created_by) == (connection, AUG1, OCT1, analyst)
    assert list(run.chunks.values_list("interval_start", "interval_end")) == [(AUG1, SEP1), (SEP1, OCT1)]
    assert history.status == QueryHistory.Status.WAITING
    assert history.extraction_run_ids == [run.pk]
    assert AuditEntry.objects.get(action="console.fetch").changes == {"runs": [run.pk], "batches": 2}

    from cdrweb.console.selectors import fetch_progress

    assert fetch_progress(history).finished is False
    run.chunks.update(state=ChunkState.DONE)
    ExtractionRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    progress = fetch_progress(history)
    assert (progress.finished, progress.failed, progress.percent) == (True, False, 100)
