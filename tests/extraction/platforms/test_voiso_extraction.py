"""Voiso through the shared pipeline, over real HTTP against the simulator."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extraction import services
from extraction.models import CallLeg, Conversation, Participant, Platform, RunState
from extraction.platforms import adapter_for
from extraction.platforms.engage.adapter import job_id_for
from extraction.platforms.voiso.sandbox import generator
from tests.extraction.platforms.conftest import VOISO_PER_DAY, VOISO_SEED
from tests.extraction.platforms.factories import VoisoConnectionFactory

DATA = Path(__file__).parent / "data"
START = datetime(2026, 11, 2, tzinfo=UTC)
END = datetime(2026, 11, 5, tzinfo=UTC)


def extract(connection, start=START, end=END, progress=None):
    run = services.start_extraction(connection=connection, start=start, end=end, enqueue_task=False)
    return services.run_extraction(run_id=run.pk, progress=progress)


def expected(start=START, end=END, per_day=VOISO_PER_DAY):
    return {r["uuid"]: r for r in generator.voice_records(VOISO_SEED, start, end, per_day)}


def leg_ids(connection):
    return set(CallLeg.objects.filter(connection=connection).values_list("leg_id", flat=True))


def configure(connection, **options):
    connection.settings.update(options)
    connection.save(update_fields=["settings"])


@pytest.mark.django_db
def test_a_v2_run_stores_every_voice_record_and_skips_the_rest(voiso_connection, voiso_sandbox):
    run = extract(voiso_connection)  # no report_timezone: each day is asked with a day either side

    assert run.state == RunState.SUCCEEDED, run.error
    want = expected()
    assert leg_ids(voiso_connection) == set(want)
    assert Conversation.objects.filter(connection=voiso_connection).count() == len(want)
    assert [c.error for c in run.chunks.all()] == ["", "", ""]  # skipped SMS/WhatsApp are not problems
    answered = next(r for r in want.values() if r["disposition"] == "answered" and r["type"] == "dialer")
    leg = CallLeg.objects.get(leg_id=answered["uuid"])
    h, m, s = (int(x) for x in answered["duration"].split(":"))
    assert leg.platform == Platform.VOISO and leg.direction == "outbound" and leg.sip_call_id == ""
    assert leg.duration_ms == (h * 3600 + m * 60 + s) * 1000
    assert leg.started_at == leg.connected_at == datetime.fromisoformat(answered["timestamp"])
    assert leg.ani_e164 == "+" + answered["from"] and leg.dnis_e164 == "+" + answered["to"].lstrip("+")
    agent = Participant.objects.get(conversation__conversation_id=answered["uuid"])
    assert agent.participant_name == answered["agent"] and agent.user_id == str(answered["agent_id"])
    queued = next(r for r in want.values() if r.get("queue_id"))
    leg = CallLeg.objects.get(leg_id=queued["uuid"])
    assert leg.queue_id == queued["queue_id"] and leg.queue_name == generator.QUEUES[queued["queue_id"]]
    missed = next(r for r in want.values() if r["disposition"] != "answered")
    leg = CallLeg.objects.get(leg_id=missed["uuid"])
    assert leg.connected_at is None and leg.duration_ms == 0


@pytest.mark.django_db
def test_search_tokens_are_followed_to_the_end_without_trusting_total(voiso_connection, voiso_sandbox):
    voiso_sandbox.app.search_cap = 15  # a small cap so one day needs several searches
    configure(voiso_connection, per_page=4, search_cap=15, report_timezone="UTC")  # no extra margin days
    run = extract(voiso_connection)

    assert run.state == RunState.SUCCEEDED, run.error
    assert leg_ids(voiso_connection) == set(expected())
    # 40 records a day = searches of 15, 15 and 10; pages of 4 within each (4 + 4 + 3), per day.
    assert voiso_sandbox.stats["cdr page"] == 3 * 11


def test_the_10000_record_cap_is_never_crossed_and_the_token_walk_gets_the_rest(voiso_sandbox):
    voiso_sandbox.app.records_per_day = 12_500
    connection = VoisoConnectionFactory.build(base_url=voiso_sandbox.base_url,
                                              settings={"per_page": 5000, "backoff_base": 0.01,
                                                        "report_timezone": "UTC"})
    adapter = adapter_for(connection)
    day = datetime(2026, 11, 3, tzinfo=UTC)
    job, cursor, seen, requests_made = job_id_for(day, day.replace(day=4)), None, [], 0
    while True:
        page = adapter.fetch_job_page(job, cursor)
        requests_made += 1
        seen.extend(r["uuid"] for r in page.records)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        if requests_made == 2:  # the search hit its 10,000 records: continue with the newest token
            assert json.loads(cursor) == {"token": json.loads(cursor)["token"], "page": 1, "newest": None}

    assert len(seen) == len(set(seen)) == 12_500
    # Pages 1-2 (10,000) of search one; search two's page 1 is short (2,500) and its token is null.
    assert requests_made == 3
    assert voiso_sandbox.stats.get("fault rate_limit", 0) == 0


def test_the_sample_page_maps_tolerantly(voiso_sandbox):
    records = json.loads((DATA / "voiso_cdr_page1.json").read_text())["records"]
    connection = VoisoConnectionFactory.build(base_url=voiso_sandbox.base_url)
    flat = adapter_for(connection).flatten(records)

    assert flat.skipped == {"outbound_sms": 1} and flat.problems == []
    legs = {leg["leg_id"]: leg for leg in flat.legs}
    assert len(legs) == 11
    first = legs["acfeb169-35e7-4597-ac29-b7ce3db7d352"]
    assert first["duration_ms"] == 107_000 and first["direction"] == "outbound"
    assert first["dnis_e164"] == "+12025550143" and first["ani_e164"] == "+13125550101"
    assert legs["c7da59c2-5fbf-4fd2-8124-0472d42190e5"]["ani_e164"] == "+15125550164"  # kept its '+'
    abandoned = legs["d020f095-eccd-417a-b111-3db2c3817964"]
    assert abandoned["connected_at"] is None and abandoned["duration_ms"] == 0
    assert legs["20289e55-3bbb-4af0-8c26-53b52ba7c0b8"]["direction"] == "outbound"  # dialer
    assert legs["1cb1c209-7dc8-44ea-9165-fbd6ec10a2fa"]["duration_ms"] == 1_244_000  # 00:20:44
    last = json.loads((DATA / "voiso_cdr_page_last.json").read_text())
    assert last["search_token"] is None and last["records"] == []


@pytest.mark.django_db
def test_a_v4_connection_uses_cursor_paging(voiso_connection, voiso_sandbox):
    configure(voiso_connection, api_version="v4", per_page=7)
    run = extract(voiso_connection)

    assert run.state == RunState.SUCCEEDED, run.error
    assert leg_ids(voiso_connection) == set(expected())
    assert voiso_sandbox.stats["GET /api/v4/reporting/cdrs"] >= 3 * 6
    assert voiso_sandbox.stats.get("GET /api/v2/cdr", 0) == 0


@pytest.mark.django_db
def test_bad_records_are_reported_by_position_and_field_and_the_rest_is_stored(voiso_connection, voiso_sandbox):
    configure(voiso_connection, report_timezone="UTC")
    voiso_sandbox.set_faults(bad_rows=1)
    run = extract(voiso_connection)

    assert run.state == RunState.SUCCEEDED
    first = generator.records_for_day(VOISO_SEED, START.date(), VOISO_PER_DAY)[0]
    assert generator.VOICE_TYPES & {first["type"].replace("-", "_")}, "the corrupted record is a voice one"
    assert ("record 1 of page 1 (2026-11-02), field duration: 'about a minute' is not HH:MM:SS"
            in run.chunks.get(index=0).error)
    assert leg_ids(voiso_connection) == set(expected()) - {first["uuid"]}
    assert run.chunks.get(index=1).error == ""


@pytest.mark.django_db
def test_a_run_killed_after_page_k_resumes_without_duplicates(voiso_connection):
    configure(voiso_connection, per_page=6, report_timezone="UTC")

    def kill_after_four(run):
        if run.pages_fetched == 4:
            raise KeyboardInterrupt("worker killed")

    run = services.start_extraction(connection=voiso_connection, start=START, end=END, enqueue_task=False)
    with pytest.raises(KeyboardInterrupt):
        services.run_extraction(run_id=run.pk, progress=kill_after_four)
    assert 0 < CallLeg.objects.count() < len(expected())

    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(voiso_connection) == set(expected())
    assert CallLeg.objects.count() == len(expected())


@pytest.mark.django_db
def test_429s_5xx_and_an_auth_hiccup_are_ridden_out(voiso_connection, voiso_sandbox):
    voiso_sandbox.set_faults(rate_limit=3, server_error=2, expire_tokens=True)
    run = extract(voiso_connection)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(voiso_connection) == set(expected())
    assert voiso_sandbox.stats["401"] == 1


@pytest.mark.django_db
def test_a_malformed_page_fails_the_run_clearly_and_resume_completes_it(voiso_connection, voiso_sandbox):
    configure(voiso_connection, per_page=10)

    broken = []

    def break_page_three(run):
        if run.pages_fetched == 2 and not broken:
            broken.append(True)
            voiso_sandbox.set_faults(malformed_pages=1)

    run = extract(voiso_connection, progress=break_page_three)
    assert run.state == RunState.FAILED and "malformed JSON" in run.error

    services.resume_run(run_id=run.pk, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(voiso_connection) == set(expected())


@pytest.mark.django_db
def test_a_wrong_key_fails_clearly_without_showing_the_key(voiso_connection):
    voiso_connection.client_secret = "not-the-key-123"
    voiso_connection.save()
    run = extract(voiso_connection)
    assert run.state == RunState.FAILED
    assert "refused the API key" in run.error and "not-the-key-123" not in run.error


@pytest.mark.django_db
def test_unknown_fields_are_logged_by_name_only_and_unknown_types_reported(voiso_sandbox, caplog):
    connection = VoisoConnectionFactory.build(base_url=voiso_sandbox.base_url)
    records = [
        {"uuid": "u-1", "timestamp": "2026-11-03T10:00:00Z", "type": "outbound", "from": "13125550101",
         "to": "12025550143", "duration": "00:01:00", "disposition": "answered", "caller_note": "call Bob"},
        {"uuid": "u-2", "timestamp": "2026-11-03T10:05:00Z", "type": "video-call", "duration": "00:00:09"},
        {"uuid": "u-3", "timestamp": "2026-11-03T10:06:00Z", "type": "queue-callback", "from": "13125550101",
         "to": "12025550143", "duration": "1:02:03", "disposition": "answered"},
    ]
    with caplog.at_level(logging.INFO, logger="extraction.platforms.voiso.adapter"):
        flat = adapter_for(connection).flatten(records)

    assert {leg["leg_id"] for leg in flat.legs} == {"u-1", "u-3"}
    assert flat.legs[1]["duration_ms"] == 3_723_000
    assert flat.skipped == {"video_call": 1}
    assert flat.problems == ["a record: type 'video_call' is not a known voice type; skipped"]
    assert "caller_note" in caplog.text and "call Bob" not in caplog.text


@pytest.mark.django_db
def test_dates_are_asked_in_the_named_zone_and_records_outside_the_chunk_are_left_to_its_neighbour(
        voiso_connection, voiso_sandbox):
    voiso_sandbox.app.timezone = "Asia/Tokyo"
    configure(voiso_connection, report_timezone="Asia/Tokyo")
    run = extract(voiso_connection)
    assert run.state == RunState.SUCCEEDED
    assert leg_ids(voiso_connection) == set(expected())


def test_the_api_key_never_reaches_the_logs(voiso_sandbox, caplog):
    connection = VoisoConnectionFactory.build(base_url=voiso_sandbox.base_url)
    with caplog.at_level(logging.DEBUG, logger="urllib3"):  # WARNING in settings; DEBUG shows request lines
        adapter_for(connection).sync_reference_data()
    assert "/api/v2/cdr/queues" in caplog.text
    assert connection.client_secret not in caplog.text and "key=***" in caplog.text
