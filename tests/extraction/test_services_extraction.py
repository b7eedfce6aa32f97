"""Runs against the sandbox over real HTTP: exact results, resumes, faults and chunk boundaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from extraction import services
from extraction.models import (
    CallLeg,
    ChunkState,
    Conversation,
    ExtractionRun,
    Participant,
    RunState,
    Segment,
    Session,
    SessionMetric,
)
from extraction.platforms.genesys.flatten import flatten_conversations
from extraction.platforms.genesys.sandbox import generator
from tests.extraction.conftest import CALLS_PER_DAY, SEED

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 11, tzinfo=UTC)


def expected(start=START, end=END):
    records = generator.conversations_overlapping(SEED, start, end, CALLS_PER_DAY)
    flat = flatten_conversations(records)
    return {c["conversation_id"] for c in flat.conversations}, {leg["leg_id"] for leg in flat.legs}


def stored(connection):
    return (set(Conversation.objects.filter(connection=connection).values_list("conversation_id", flat=True)),
            set(CallLeg.objects.filter(connection=connection).values_list("leg_id", flat=True)))


def extract(connection, start=START, end=END, progress=None):
    run = services.start_extraction(connection=connection, start=start, end=end, enqueue_task=False)
    return services.run_extraction(run_id=run.pk, progress=progress)


def table_counts():
    return [m.objects.count() for m in (Conversation, Participant, Session, Segment, SessionMetric, CallLeg)]


@pytest.mark.django_db
def test_a_multi_chunk_run_gets_exactly_the_sandbox_conversations(connection, sandbox):
    run = extract(connection)

    conversations, legs = expected()
    assert run.state == RunState.SUCCEEDED, run.error
    assert run.chunks.count() == 3  # 10 days at the sandbox's 4-day limit, read from the limits endpoint
    assert stored(connection) == (conversations, legs)
    assert run.conversations == len(conversations)
    assert run.call_legs == len(legs)
    assert sandbox.state.stats.get("jobs deleted") == 3  # finished jobs are deleted on the platform


@pytest.mark.django_db
def test_running_the_same_period_twice_changes_nothing(connection):
    extract(connection)
    first = table_counts()
    extract(connection)
    assert table_counts() == first


@pytest.mark.django_db
def test_a_run_killed_after_page_k_resumes_without_duplicates(connection):
    pages = []

    def kill_after_three(run):
        pages.append(run.pages_fetched)
        if run.pages_fetched == 3:
            raise KeyboardInterrupt("worker killed")

    run = services.start_extraction(connection=connection, start=START, end=END, enqueue_task=False)
    with pytest.raises(KeyboardInterrupt):
        services.run_extraction(run_id=run.pk, progress=kill_after_three)
    run.refresh_from_db()
    assert run.state == RunState.RUNNING and run.pages_fetched == 3
    partial = Conversation.objects.count()
    assert 0 < partial < len(expected()[0])

    assert services.orphaned_runs() == [run.pk]
    run = services.run_extraction(run_id=run.pk)

    assert run.state == RunState.SUCCEEDED
    assert stored(connection) == expected()
    assert CallLeg.objects.count() == len(expected()[1])


@pytest.mark.django_db
def test_a_429_storm_is_ridden_out(connection, sandbox):
    sandbox.set_faults(rate_limit=5, retry_after=0)  # one call sees five 429s in a row
    run = extract(connection)
    assert run.state == RunState.SUCCEEDED
    assert stored(connection) == expected()
    assert sandbox.state.faults["rate_limit"] == 0


@pytest.mark.django_db
def test_5xx_and_an_expired_token_mid_run_are_retried(connection, sandbox):
    def expire_on_page_two(run):
        if run.pages_fetched == 2:
            sandbox.set_faults(expire_tokens=True, server_error=2)

    run = extract(connection, progress=expire_on_page_two)
    assert run.state == RunState.SUCCEEDED
    assert stored(connection) == expected()
    assert sandbox.state.stats["tokens issued"] == 2


@pytest.mark.django_db
def test_failed_and_expired_jobs_are_resubmitted_for_their_chunk(connection, sandbox):
    sandbox.set_faults(fail_jobs=1, expire_jobs=1)
    run = extract(connection)
    assert run.state == RunState.SUCCEEDED
    assert stored(connection) == expected()
    assert sorted(run.chunks.values_list("attempts", flat=True)) == [1, 2, 2]


@pytest.mark.django_db
def test_a_job_stuck_pending_is_abandoned_and_resubmitted(connection, sandbox):
    sandbox.set_faults(stuck_pending=1)
    connection.settings = {**connection.settings, "job_timeout_seconds": 2}
    connection.save()
    run = extract(connection, start=START, end=datetime(2026, 3, 3, tzinfo=UTC))
    assert run.state == RunState.SUCCEEDED
    assert run.chunks.get().attempts == 2
    assert stored(connection) == expected(START, datetime(2026, 3, 3, tzinfo=UTC))


@pytest.mark.django_db
def test_a_malformed_page_fails_the_run_clearly_writes_nothing_half_and_resumes(connection, sandbox):
    broken = []

    def break_page_three(run):
        if run.pages_fetched == 2 and not broken:
            broken.append(True)
            sandbox.set_faults(malformed_pages=1)

    run = extract(connection, progress=break_page_three)
    assert run.state == RunState.FAILED
    assert "malformed JSON" in run.error
    # Which page breaks depends on how far the read-ahead thread had got when the fault was
    # switched on; the run stopped part-way either way.
    assert run.pages_fetched >= 2
    assert run.chunks.exclude(state=ChunkState.DONE).exists()
    # Only whole pages were stored: the chunks' counters account for the rows (a call over a
    # chunk boundary is counted by both chunks, stored once), and every stored conversation has
    # its children and legs.
    partial = Conversation.objects.count()
    assert 50 <= partial <= sum(run.chunks.values_list("conversations", flat=True))
    assert partial < len(expected()[0])
    assert not Conversation.objects.filter(sessions__isnull=True).exists()
    assert not Conversation.objects.filter(call_legs__isnull=True).exists()

    services.resume_run(run_id=run.pk, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED
    assert stored(connection) == expected()


@pytest.mark.django_db
def test_a_call_crossing_a_chunk_boundary_is_stored_once(connection):
    run = extract(connection)
    boundary = run.chunks.get(index=1).interval_start
    crossing = [c for c in generator.conversations_overlapping(SEED, START, END, CALLS_PER_DAY)
                if c["conversationStart"] < generator.iso(boundary) < c["conversationEnd"]]
    assert crossing  # the generator always puts one call over midnight
    for record in crossing:
        assert Conversation.objects.filter(conversation_id=record["conversationId"]).count() == 1
    assert Conversation.objects.count() == len(expected()[0])


@pytest.mark.django_db
def test_the_tail_after_the_data_lake_watermark_comes_from_the_sync_query(connection, sandbox):
    sandbox.set_now(datetime(2026, 3, 6, 12, 0, tzinfo=UTC))  # watermark 10:00
    sandbox.set_faults(query_duplicates=True)
    end = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    run = extract(connection, start=datetime(2026, 3, 5, tzinfo=UTC), end=end)

    assert run.state == RunState.SUCCEEDED
    kinds = list(run.chunks.values_list("kind", "interval_end"))
    assert kinds[-1] == ("query", end)
    assert run.chunks.get(kind="query").interval_start == datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
    ids = set(Conversation.objects.values_list("conversation_id", flat=True))
    started_by_noon = {c["conversationId"] for c in generator.conversations_for_day(SEED, end.date(), CALLS_PER_DAY)
                       if c["conversationStart"] <= generator.iso(end)}
    assert started_by_noon <= ids


@pytest.mark.django_db
def test_open_conversations_are_fetched_again_until_they_close(connection, sandbox):
    day = datetime(2026, 3, 5, tzinfo=UTC)
    records = generator.conversations_for_day(SEED, day.date(), CALLS_PER_DAY)
    target = records[10]
    mid = datetime.fromisoformat(target["conversationStart"]) + (
        datetime.fromisoformat(target["conversationEnd"]) - datetime.fromisoformat(target["conversationStart"])) / 2
    sandbox.set_now(mid)
    extract(connection, start=day, end=mid)
    stored_open = Conversation.objects.get(conversation_id=target["conversationId"])
    assert stored_open.is_open and stored_open.conversation_end is None

    sandbox.set_now(datetime(2026, 3, 20, tzinfo=UTC))
    run = extract(connection, start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 3, 2, tzinfo=UTC))
    stored_open.refresh_from_db()
    assert not stored_open.is_open
    assert stored_open.conversation_end == datetime.fromisoformat(target["conversationEnd"])
    assert run.open_refreshed >= 1
    assert not CallLeg.objects.filter(conversation=stored_open, is_open=True).exists()


@pytest.mark.django_db
def test_cancel_stops_a_run_and_deletes_its_jobs(connection, sandbox):
    def cancel_after_first_page(run):
        if run.pages_fetched == 1:
            ExtractionRun.objects.filter(pk=run.pk).update(cancel_requested=True)

    run = extract(connection, progress=cancel_after_first_page)
    assert run.state == RunState.CANCELLED
    assert run.chunks.filter(state=ChunkState.CANCELLED).exists()
    assert sandbox.state.jobs == {}


@pytest.mark.django_db
def test_legs_carry_names_call_ids_and_numbers(connection):
    extract(connection, start=START, end=datetime(2026, 3, 2, tzinfo=UTC))
    leg = CallLeg.objects.filter(purpose="customer", direction="inbound").exclude(wrapup_code="").first()
    assert leg.wrapup_name and leg.queue_name
    assert "@" in leg.sip_call_id and leg.sip_call_id_local == leg.sip_call_id.split("@")[0]
    assert leg.dnis_e164.startswith("+") and leg.dnis.startswith("tel:")
    assert leg.duration_ms > 0 and leg.connected_at is not None
