"""Coverage gaps for the SQL console, the sweeper, incremental runs and the storage query budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from extraction import selectors, services
from extraction.models import (
    CallLeg,
    ChunkState,
    Connection,
    ExtractionChunk,
    ExtractionRun,
    RunState,
)
from extraction.platforms.genesys.flatten import flatten_conversations
from extraction.platforms.genesys.sandbox import generator
from extraction.storage import Names, store_flat_page
from tests.extraction.conftest import CALLS_PER_DAY, SEED
from tests.extraction.factories import ConnectionFactory

D = [datetime(2026, 3, day, tzinfo=UTC) for day in range(1, 11)]


def _run_with_chunks(connection, *chunks):
    run = ExtractionRun.objects.create(connection=connection, start=D[0], end=D[9])
    for i, (a, b, state) in enumerate(chunks):
        ExtractionChunk.objects.create(run=run, index=i, interval_start=a, interval_end=b, state=state)
    return run


@pytest.mark.django_db
def test_missing_intervals_are_the_gaps_between_done_chunks():
    connection = ConnectionFactory()
    _run_with_chunks(connection, (D[0], D[2], ChunkState.DONE), (D[2], D[4], ChunkState.FAILED),
                     (D[5], D[7], ChunkState.DONE))
    assert selectors.missing_intervals(connection=connection, start=D[1], end=D[9]) == [
        (D[2], D[5]), (D[7], D[9])]
    assert selectors.missing_intervals(connection=connection, start=D[0], end=D[2]) == []
    other = ConnectionFactory()
    assert selectors.missing_intervals(connection=other, start=D[0], end=D[2]) == [(D[0], D[2])]


@pytest.mark.django_db
def test_plan_chunks_are_half_open_and_bounded_by_the_limit(settings):
    settings.GENESYS_MAX_JOB_INTERVAL_DAYS = 3
    connection = ConnectionFactory()
    assert services.plan_chunks(connection=connection, start=D[0], end=D[7]) == [
        (D[0], D[3]), (D[3], D[6]), (D[6], D[7])]


@pytest.mark.django_db
def test_the_sweeper_requeues_runs_whose_lease_expired(django_capture_on_commit_callbacks):
    connection = ConnectionFactory()
    orphan = ExtractionRun.objects.create(connection=connection, start=D[0], end=D[1], state=RunState.RUNNING,
                                          lease_until=timezone.now() - timedelta(seconds=1))
    ExtractionRun.objects.create(connection=connection, start=D[0], end=D[1], state=RunState.RUNNING,
                                 lease_until=timezone.now() + timedelta(minutes=5))
    ExtractionRun.objects.create(connection=connection, start=D[0], end=D[1], state=RunState.SUCCEEDED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.sweep_orphaned_runs() == 1
    assert len(callbacks) == 1
    assert services.orphaned_runs() == [orphan.pk]


@pytest.mark.django_db
def test_cancelling_an_idle_run_stops_it_at_once():
    connection = ConnectionFactory()
    run = _run_with_chunks(connection, (D[0], D[1], ChunkState.DONE), (D[1], D[2], ChunkState.PENDING))
    run = services.cancel_run(run_id=run.pk)
    assert run.state == RunState.CANCELLED
    assert list(run.chunks.values_list("state", flat=True)) == [ChunkState.DONE, ChunkState.CANCELLED]


@pytest.mark.django_db
def test_incremental_runs_continue_from_the_watermark_and_never_pass_a_failed_chunk(connection, sandbox):
    with time_machine.travel(datetime(2026, 3, 6, 12, 0, tzinfo=UTC), tick=False):
        run = services.start_incremental_run(connection_id=connection.pk)
        assert run.kind == ExtractionRun.Kind.SCHEDULED
        assert run.start == datetime(2026, 3, 5, 11, 45, tzinfo=UTC)  # first: a day back, minus the overlap
        assert run.end == datetime(2026, 3, 6, 11, 58, tzinfo=UTC)
        run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED
    connection.refresh_from_db()
    assert connection.watermark == run.end

    sandbox.set_faults(fail_jobs=9)
    with time_machine.travel(datetime(2026, 3, 6, 14, 0, tzinfo=UTC), tick=False):
        second = services.start_incremental_run(connection_id=connection.pk)
        assert second.start == run.end - timedelta(minutes=15)
        second = services.run_extraction(run_id=second.pk)
    assert second.state == RunState.FAILED
    connection.refresh_from_db()
    assert connection.watermark == run.end  # the failed chunk holds it back


@pytest.mark.django_db
def test_storing_a_page_is_set_based(django_assert_max_num_queries):
    connection = ConnectionFactory()
    records = generator.conversations_for_day(SEED, D[2].date(), CALLS_PER_DAY)
    page = flatten_conversations(records)
    names = Names.for_connection(connection)
    with django_assert_max_num_queries(20):
        counts = store_flat_page(connection=connection, page=page, names=names)
    assert counts.conversations == CALLS_PER_DAY
    assert CallLeg.objects.count() == len(page.legs)
    # Storing it again replaces children and upserts the rest: same counts, no duplicates.
    store_flat_page(connection=connection, page=page, names=names)
    assert CallLeg.objects.count() == len(page.legs)
    assert Connection.objects.get().conversations.count() == CALLS_PER_DAY
