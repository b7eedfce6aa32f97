"""RingCX through the shared pipeline, over real HTTP against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection as db

from extraction import services
from extraction.models import CallLeg, Connection, Conversation, Queue, RunState
from extraction.platforms import adapter_for
from extraction.platforms.engage import report
from extraction.platforms.engage.sandbox import generator
from tests.extraction.platforms.conftest import ENGAGE_CALLS_PER_DAY, ENGAGE_SEED

DATA = Path(__file__).parent / "data"
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 4, tzinfo=UTC)
ARIZONA = ZoneInfo("US/Arizona")


def extract(connection, start=START, end=END, progress=None):
    run = services.start_extraction(connection=connection, start=start, end=end, enqueue_task=False)
    return services.run_extraction(run_id=run.pk, progress=progress)


def metadata_calls(start=START, end=END):
    """Calls a run over [start, end) stores: those whose last segment ends inside the period."""
    calls = generator.calls_between(ENGAGE_SEED, start, end, ENGAGE_CALLS_PER_DAY)
    return {c.uii: c for c in calls if start <= max(s.end for s in c.segments) < end}


def report_calls(start=START, end=END):
    calls = generator.calls_between(ENGAGE_SEED, start, end, ENGAGE_CALLS_PER_DAY)
    return {c.uii: c for c in calls if c.direction == "INBOUND" and start <= c.start < end}


def leg_ids(connection):
    return set(CallLeg.objects.filter(connection=connection).values_list("leg_id", flat=True))


def use_report(connection, zone="US/Arizona"):
    connection.settings.update(use_deprecated_report=True, report_timezone=zone)
    connection.save(update_fields=["settings"])


@pytest.mark.django_db
def test_interaction_metadata_run_stores_one_leg_per_call_in_small_windows(engage_connection, engage_sandbox):
    run = extract(engage_connection)

    assert run.state == RunState.SUCCEEDED, run.error
    expected = metadata_calls()
    assert leg_ids(engage_connection) == set(expected)
    assert Conversation.objects.filter(connection=engage_connection).count() == len(expected)
    # Two one-day chunks; each request asks 3 hours (the sandbox refuses more): 2.5 hours of new
    # data plus a 30-minute look-back, so 10 requests a day.
    assert engage_sandbox.stats["POST /voice/api/cx/integration/v1/accounts/99990000/sub-accounts/99990001/"
                                "interaction-metadata"] == 20
    # Every call whole, including transfers whose first agent segment ended in the previous window.
    stored = {leg.leg_id: leg for leg in CallLeg.objects.filter(connection=engage_connection)}
    for call in expected.values():
        leg = stored[call.uii]
        assert leg.duration_ms == call.talk_seconds * 1000 and leg.talk_ms == call.talk_seconds * 1000
        if call.answered:
            assert leg.connected_at == call.start + timedelta(seconds=call.queue_seconds)
    assert [c.error for c in run.chunks.all()] == ["", ""]
    call = next(c for c in expected.values() if c.answered and c.direction == "INBOUND" and len(c.segments) > 1)
    leg = CallLeg.objects.get(connection=engage_connection, leg_id=call.uii)
    assert leg.platform == "engage" and leg.external_call_id == call.uii and leg.sip_call_id == ""
    assert leg.direction == "inbound"
    assert leg.ani_e164 == "+1" + call.ani and leg.dnis_e164 == "+1" + call.dnis
    assert leg.started_at == call.start
    assert leg.connected_at == call.start + timedelta(seconds=call.queue_seconds)
    assert leg.duration_ms == call.talk_seconds * 1000
    assert leg.queue_id == call.segments[-1].agent_group_id
    assert leg.queue_name == Queue.objects.get(connection=engage_connection, queue_id=leg.queue_id).name
    unanswered = next(c for c in expected.values() if not c.answered)
    leg = CallLeg.objects.get(connection=engage_connection, leg_id=unanswered.uii)
    assert leg.connected_at is None and leg.duration_ms == 0


@pytest.mark.django_db
def test_a_transfer_whose_first_segment_ends_in_the_previous_window_is_stored_whole(
        engage_connection, engage_sandbox):
    t0 = datetime(2026, 11, 2, 2, 20, tzinfo=UTC)  # windows step at 00:00, 02:30, 05:00...
    uii = generator.make_uii(t0, 9, 1)
    segments = (
        generator.Segment(f"{uii}-1", "IVR", t0, t0 + timedelta(seconds=30)),
        generator.Segment(f"{uii}-2", "AGENT", t0 + timedelta(seconds=30), t0 + timedelta(minutes=8), "4546"),
        generator.Segment(f"{uii}-3", "AGENT", t0 + timedelta(minutes=8), t0 + timedelta(minutes=20), "4551",
                          "Resolved"),
    )
    engage_sandbox.app.extra_calls.append(generator.SimCall(
        uii=uii, direction="INBOUND", ani="3125550199", dnis="3125550101", start=t0, queue_seconds=30,
        talk_seconds=19 * 60 + 30, profile_id=1111, destination_id=4546, system_disposition="COMPLETE",
        segments=segments))

    assert extract(engage_connection, end=datetime(2026, 11, 3, tzinfo=UTC)).state == RunState.SUCCEEDED

    leg = CallLeg.objects.get(leg_id=uii)
    assert leg.connected_at == t0 + timedelta(seconds=30)
    assert leg.duration_ms == leg.talk_ms == (19 * 60 + 30) * 1000
    assert (leg.queue_id, leg.wrapup_code) == ("4551", "Resolved")


@pytest.mark.django_db
def test_running_the_same_period_twice_changes_nothing(engage_connection):
    extract(engage_connection)
    before = list(CallLeg.objects.order_by("leg_id").values_list("leg_id", "duration_ms", "started_at"))
    run = extract(engage_connection)
    assert run.state == RunState.SUCCEEDED
    assert list(CallLeg.objects.order_by("leg_id").values_list("leg_id", "duration_ms", "started_at")) == before


@pytest.mark.django_db
def test_a_run_killed_after_page_k_resumes_without_duplicates(engage_connection):
    def kill_after_three(run):
        if run.pages_fetched == 3:
            raise KeyboardInterrupt("worker killed")

    run = services.start_extraction(connection=engage_connection, start=START, end=END, enqueue_task=False)
    with pytest.raises(KeyboardInterrupt):
        services.run_extraction(run_id=run.pk, progress=kill_after_three)
    partial = CallLeg.objects.count()
    assert 0 < partial < len(metadata_calls())

    assert services.orphaned_runs() == [run.pk]
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(engage_connection) == set(metadata_calls())
    assert CallLeg.objects.count() == len(metadata_calls())


@pytest.mark.django_db
def test_429_bursts_and_5xx_are_ridden_out(engage_connection, engage_sandbox):
    engage_sandbox.set_faults(rate_limit=4, server_error=2, retry_after=0)
    run = extract(engage_connection)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(engage_connection) == set(metadata_calls())
    assert engage_sandbox.stats["fault rate_limit"] == 4 and engage_sandbox.stats["fault server_error"] == 2


@pytest.mark.django_db
def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_is_stored_encrypted(
        engage_connection, engage_sandbox):
    def expire_twice(run):
        if run.pages_fetched in (2, 5):
            engage_sandbox.set_faults(expire_tokens=True)

    run = extract(engage_connection, progress=expire_twice)

    assert run.state == RunState.SUCCEEDED
    assert leg_ids(engage_connection) == set(metadata_calls())
    stats = engage_sandbox.stats
    # One JWT exchange, then two refreshes; the second used the token the first one rotated in.
    assert stats["exchange"] == 1 and stats["refresh"] == 2 and stats["refresh-rejected"] == 0
    assert stats["401"] == 2
    stored = Connection.objects.get(pk=engage_connection.pk)
    assert stored.refresh_token.startswith("rt-") and stored.access_token.startswith("cx-")
    with db.cursor() as cursor:
        cursor.execute("SELECT refresh_token, access_token FROM extraction_connection WHERE id = %s",
                       [engage_connection.pk])
        raw_refresh, raw_access = cursor.fetchone()
    assert stored.refresh_token not in raw_refresh and stored.access_token not in raw_access


@pytest.mark.django_db
def test_a_second_worker_with_a_stale_token_reuses_the_fresh_one_instead_of_refreshing(
        engage_connection, engage_sandbox):
    client = adapter_for(engage_connection).client
    first = client.access_token()
    engage_sandbox.set_faults(expire_tokens=True)
    renewed = client.access_token(stale=first)  # worker A saw the 401 and renewed
    also = adapter_for(engage_connection).client.access_token(stale=first)  # worker B had the same 401

    assert renewed == also != first
    assert engage_sandbox.stats["exchange"] == 1 and engage_sandbox.stats["refresh"] == 1


@pytest.mark.django_db
def test_a_refused_refresh_token_falls_back_to_the_jwt_exchange(engage_connection, engage_sandbox):
    Connection.objects.filter(pk=engage_connection.pk).update(refresh_token="rt-revoked", access_token="")
    token = adapter_for(engage_connection).client.access_token()
    assert token.startswith("cx-")
    assert engage_sandbox.stats["refresh-rejected"] == 1 and engage_sandbox.stats["exchange"] == 1


@pytest.mark.django_db
def test_without_wem_access_the_run_fails_with_a_clear_message(engage_connection, engage_sandbox):
    engage_sandbox.app.wem_access = False
    run = extract(engage_connection)
    assert run.state == RunState.FAILED
    assert "WEM Access" in run.error and "403" in run.error


# --- the deprecated Cloud Call Detail Report -------------------------------------------------

@pytest.mark.django_db
def test_the_deprecated_report_path_converts_local_minutes_to_utc(engage_connection, engage_sandbox):
    use_report(engage_connection)
    run = extract(engage_connection)

    assert run.state == RunState.SUCCEEDED, run.error
    expected = report_calls()
    assert leg_ids(engage_connection) == set(expected)  # quote-prefixed uii stripped
    assert engage_sandbox.stats["report"] == 2  # one report per one-day chunk
    for uii, call in expected.items():
        leg = CallLeg.objects.get(connection=engage_connection, leg_id=uii)
        # Minute precision: the local minute, as UTC (Arizona is UTC-7 all year).
        assert leg.started_at == call.start.replace(second=0)
        assert leg.direction == "inbound"
        if call.answered:
            assert leg.duration_ms == call.talk_seconds * 1000  # connected_duration, not inbound_duration
            assert leg.queue_id == str(call.destination_id)
            assert leg.queue_name == generator.DESTINATIONS[call.destination_id][0]
        else:  # blank connected/attempt columns
            assert leg.connected_at is None and leg.duration_ms == 0 and leg.queue_id == ""


def test_the_sample_report_parses_with_its_quirks(settings):
    rows = report.parse_csv((DATA / "engage_voice_cloud_call_detail.csv").read_text())
    calls = [report.row_to_call(row, ARIZONA)[0] for row in rows]

    assert len(calls) == 10
    first = calls[0]
    assert first.call_id == "202611030910000132110000007919"
    assert first.started_at == datetime(2026, 11, 3, 14, 10, tzinfo=UTC)  # 7:10 AM Arizona
    assert first.connected_at == datetime(2026, 11, 3, 14, 10, 4, tzinfo=UTC)
    assert first.duration_ms == 151_000 and first.queue_id == "4546"
    abandoned = calls[3]
    assert abandoned.disconnect_type == "abandon" and abandoned.connected_at is None
    assert abandoned.duration_ms == 0 and abandoned.ended_at == abandoned.started_at + timedelta(seconds=47)
    two_attempts = calls[4]
    assert two_attempts.duration_ms == 312_000 and two_attempts.queue_id == "4546"
    assert calls[9].queue_id == "4551"  # abandoned after ringing a destination: attempt_1_id


@pytest.mark.django_db
def test_bad_report_rows_are_reported_with_line_and_column_and_the_rest_is_stored(
        engage_connection, engage_sandbox):
    use_report(engage_connection)
    engage_sandbox.set_faults(bad_rows=1)
    run = extract(engage_connection)

    assert run.state == RunState.SUCCEEDED
    first_chunk = run.chunks.get(index=0)
    assert "line 2, column enqueue_time: 'yesterday-ish' is not a time" in first_chunk.error
    assert CallLeg.objects.count() == len(report_calls()) - 1


@pytest.mark.django_db
def test_a_truncated_report_fails_the_run_clearly_and_resumes(engage_connection, engage_sandbox):
    use_report(engage_connection)
    engage_sandbox.set_faults(malformed_pages=1)
    run = extract(engage_connection)
    assert run.state == RunState.FAILED and "truncated" in run.error
    assert CallLeg.objects.count() == 0

    services.resume_run(run_id=run.pk, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(engage_connection) == set(report_calls())


@pytest.mark.django_db
def test_the_dst_fall_back_hour_is_read_as_its_first_occurrence_and_noted(engage_connection, engage_sandbox):
    # 2026-11-01 06:30 UTC is 01:30 EST, the second 01:30 of that night in US/Eastern.
    late = generator.build_call(seed=9, index=1, start=datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
                                rng=__import__("random").Random(1))
    late = generator.SimCall(**{**late.__dict__, "direction": "INBOUND", "profile_id": 1111})
    engage_sandbox.app.extra_calls.append(late)
    use_report(engage_connection, zone="US/Eastern")
    run = extract(engage_connection, start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))

    assert run.state == RunState.SUCCEEDED
    leg = CallLeg.objects.get(leg_id=late.uii)
    assert leg.started_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # fold=0: 01:30 EDT
    assert "11/1/26 1:30 AM is ambiguous in US/Eastern (DST fall-back)" in run.chunks.get().error


def test_report_timestamps_are_sent_in_the_report_zone():
    body = report.report_body(account_id="1", profile_groups=[111, None], profiles=[1111],
                              start=datetime(2026, 7, 1, 7, tzinfo=UTC), end=datetime(2026, 7, 2, 7, tzinfo=UTC),
                              zone=ZoneInfo("US/Eastern"))
    criteria = body["reportCriteria"]
    assert criteria["startTimestamp"] == "2026-07-01 03:00:00" and criteria["endTimestamp"] == "2026-07-02 03:00:00"
    assert criteria["timezoneName"] == "US/Eastern" and criteria["cloudProfileGroupIds"] == [111, None]


@pytest.mark.django_db
def test_a_run_up_to_now_stops_five_minutes_short_and_succeeds(engage_connection):
    from django.utils import timezone

    now = timezone.now()
    start = now.replace(microsecond=0) - timedelta(hours=6)
    run = extract(engage_connection, start=start, end=now)

    assert run.state == RunState.SUCCEEDED, run.error
    kinds = set(run.chunks.values_list("kind", flat=True))
    assert kinds == {"job", "query"}  # the last five minutes are the sync tail (§1.7: too recent)
    stored = leg_ids(engage_connection)
    assert set(metadata_calls(start, now - timedelta(minutes=6))) <= stored <= set(metadata_calls(start, now))


@pytest.mark.django_db
def test_a_call_still_in_progress_is_left_for_a_later_run(engage_connection):
    """Regression (a CI run at 01:28 UTC): a call whose first segment had ended but whose dialog
    had not was stored half, from the segments seen so far."""
    call = next(c for c in generator.calls_between(ENGAGE_SEED, START, END, ENGAGE_CALLS_PER_DAY)
                if len(c.segments) > 1 and START + timedelta(hours=7) < c.start)
    midway = call.segments[0].end + timedelta(minutes=6, seconds=1)
    assert midway < call.end  # the first segment ended over five minutes ago, the dialog goes on
    with time_machine.travel(midway, tick=True):
        run = extract(engage_connection, start=midway - timedelta(hours=6), end=midway)
        assert run.state == RunState.SUCCEEDED, run.error
        assert call.uii not in leg_ids(engage_connection)
    run = extract(engage_connection, start=midway - timedelta(hours=6), end=END)
    assert run.state == RunState.SUCCEEDED, run.error
    assert call.uii in leg_ids(engage_connection)
