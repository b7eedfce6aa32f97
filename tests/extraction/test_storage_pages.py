"""extraction/storage.py: one page stored set-based, the same rows on SQLite (executemany) and
PostgreSQL (COPY + staging), idempotent when stored again, and updated when a conversation changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db_connection

from extraction import services
from extraction.models import CallLeg, Conversation, Participant, RunState, Segment, Session, SessionMetric
from extraction.platforms import FlatPage, PlatformError
from extraction.platforms.genesys.adapter import GenesysAdapter
from extraction.platforms.genesys.flatten import flatten_conversations
from extraction.platforms.genesys.sandbox import generator
from extraction.services import _merged
from extraction.storage import Names, prepare_rows, store_flat_page
from tests.extraction.conftest import CALLS_PER_DAY, SEED
from tests.extraction.factories import ConnectionFactory

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def _records():
    return generator.conversations_for_day(SEED, DAY.date(), CALLS_PER_DAY)


def _store(connection, records, prepared=False):
    """``prepared``: with the rows the read-ahead thread builds (storage.prepare_rows), which
    SQLite uses for conversations not stored yet and PostgreSQL ignores: the same rows either way."""
    page = flatten_conversations(records)
    rows = prepare_rows(page, connection_pk=connection.pk) if prepared else None
    return store_flat_page(connection=connection, page=page, names=Names.for_connection(connection), rows=rows)


PREPARED = pytest.mark.parametrize("prepared", [False, True], ids=["built by the writer", "prepared ahead"])


def _expected(records):
    """What the tables must hold for these records, straight from the flattener (no database)."""
    page = flatten_conversations(records)
    out = {"participants": set(), "sessions": set(), "segments": set(), "metrics": set(), "legs": set()}
    for c in page.conversations:
        cid = c["conversation_id"]
        for p in c["participants"]:
            out["participants"].add((cid, p["participant_id"], p["participant_name"], p["purpose"], p["user_id"],
                                     repr(p["attributes"])))
            for s in p["sessions"]:
                out["sessions"].add((cid, p["participant_id"], s["session_id"], s["ani"], s["protocol_call_id"],
                                     s["t_talk_ms"], s["t_handle_ms"], s["n_transferred"]))
                for seg in s["segments"]:
                    out["segments"].add((cid, s["session_id"], seg["segment_index"], seg["segment_start"],
                                         seg["segment_end"], seg["queue_id"], repr(seg["sip_response_codes"])))
                for m in s["metrics"]:
                    out["metrics"].add((cid, s["session_id"], m["name"], m["value"], m["emit_date"]))
    for leg in page.legs:
        out["legs"].add((leg["external_call_id"], leg["leg_id"], leg["sip_call_id"], leg["ani_e164"],
                         leg["started_at"], leg["ended_at"], leg["duration_ms"], leg["is_open"]))
    return out


def _stored():
    """The same shape read back through the ORM."""
    return {
        "participants": {(p.conversation.conversation_id, p.participant_id, p.participant_name, p.purpose,
                          p.user_id, repr(p.attributes))
                         for p in Participant.objects.select_related("conversation")},
        "sessions": {(s.conversation.conversation_id, s.participant.participant_id, s.session_id, s.ani,
                      s.protocol_call_id, s.t_talk_ms, s.t_handle_ms, s.n_transferred)
                     for s in Session.objects.select_related("conversation", "participant")},
        "segments": {(g.conversation.conversation_id, g.session.session_id, g.segment_index, g.segment_start,
                      g.segment_end, g.queue_id, repr(g.sip_response_codes))
                     for g in Segment.objects.select_related("conversation", "session")},
        "metrics": {(m.conversation.conversation_id, m.session.session_id, m.name, m.value, m.emit_date)
                    for m in SessionMetric.objects.select_related("conversation", "session")},
        "legs": {(leg.conversation.conversation_id, leg.leg_id, leg.sip_call_id, leg.ani_e164, leg.started_at,
                  leg.ended_at, leg.duration_ms, leg.is_open)
                 for leg in CallLeg.objects.select_related("conversation")},
    }


def _counts():
    return [m.objects.count() for m in (Conversation, Participant, Session, Segment, SessionMetric, CallLeg)]


@PREPARED
@pytest.mark.django_db
def test_a_stored_page_holds_exactly_the_flattened_rows(prepared):
    # Runs on SQLite (executemany) and PostgreSQL (COPY and staged upserts): both must hold these rows.
    connection = ConnectionFactory()
    records = _records()
    counts = _store(connection, records, prepared)
    assert counts.conversations == len(records)
    assert _stored() == _expected(records)
    conversation = Conversation.objects.get(conversation_id=records[0]["conversationId"])
    assert conversation.conversation_start.isoformat().startswith(records[0]["conversationStart"][:19])
    assert conversation.division_ids == (records[0].get("divisionIds") or [])


@PREPARED
@pytest.mark.django_db
def test_storing_the_same_page_again_changes_nothing(prepared):
    connection = ConnectionFactory()
    records = _records()
    _store(connection, records, prepared)
    before_counts, before_rows = _counts(), _stored()
    leg_pks = set(CallLeg.objects.values_list("pk", flat=True))
    conversation_pks = set(Conversation.objects.values_list("pk", flat=True))
    _store(connection, records, prepared)  # the task delivered twice
    assert _counts() == before_counts
    assert _stored() == before_rows
    # Legs and conversations keep their keys (billing's CostRecord hangs on legs).
    assert set(CallLeg.objects.values_list("pk", flat=True)) == leg_pks
    assert set(Conversation.objects.values_list("pk", flat=True)) == conversation_pks


@PREPARED
@pytest.mark.django_db
def test_a_page_mixing_new_and_stored_conversations_stores_each_once(prepared):
    connection = ConnectionFactory()
    records = _records()
    half = len(records) // 2
    _store(connection, records[:half], prepared)
    _store(connection, records, prepared)  # overlaps the first page (incremental runs overlap by design)
    assert Conversation.objects.count() == len(records)
    assert _stored() == _expected(records)


@pytest.mark.django_db
def test_an_open_conversation_fetched_again_is_updated_and_loses_stale_rows():
    connection = ConnectionFactory()
    record = next(r for r in _records() if len(r["participants"]) > 2)
    ended = datetime.fromisoformat(record["conversationEnd"])
    _store(connection, [generator.as_open(record, ended - timedelta(seconds=1))])
    assert Conversation.objects.get().is_open

    # Closed now, and (to test the clean-up) one participant fewer than the platform reported before.
    closed = copy.deepcopy(record)
    closed["participants"] = closed["participants"][:-1]
    _store(connection, [closed])
    conversation = Conversation.objects.get()
    assert not conversation.is_open and conversation.conversation_end == ended
    assert _stored() == _expected([closed])
    assert not CallLeg.objects.filter(is_open=True).exists()


@PREPARED
@pytest.mark.django_db
def test_repeats_within_one_page_are_stored_once(prepared):
    connection = ConnectionFactory()
    records = _records()[:5]
    counts = _store(connection, [*records, records[0]], prepared)
    assert Conversation.objects.count() == 5
    assert counts.call_legs == CallLeg.objects.count()
    assert _stored() == _expected(records)


@PREPARED
@pytest.mark.django_db
def test_children_ids_follow_the_record_order(prepared):
    # The call explorer lists participants and sessions by primary key.
    connection = ConnectionFactory()
    record = next(r for r in _records() if len(r["participants"]) > 2)
    _store(connection, [record], prepared)
    stored = list(Participant.objects.order_by("pk").values_list("participant_id", flat=True))
    assert stored == [p["participantId"] for p in record["participants"]]
    sessions = list(Session.objects.order_by("pk").values_list("session_id", flat=True))
    assert sessions == [s["sessionId"] for p in record["participants"] for s in p.get("sessions") or ()]


@pytest.mark.django_db
def test_new_conversations_delete_nothing(django_assert_max_num_queries):
    # A first extraction only inserts: no per-page DELETE whose cost grows with the tables (issue 3).
    connection = ConnectionFactory()
    page = flatten_conversations(_records())
    names = Names.for_connection(connection)
    with django_assert_max_num_queries(12) as captured:
        store_flat_page(connection=connection, page=page, names=names)
    # (new conversations' legs go in without a staging table either, so nothing is emptied)
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    assert deletes == []


@pytest.mark.django_db
def test_job_pages_read_ahead_are_each_stored_once_in_order(connection, sandbox):
    # services._Worker fetches page k+1 in a thread while page k is stored: the run still stores
    # every page once (page counts per chunk as the sandbox pages them) and exactly the sandbox's rows.
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)
    run = services.start_extraction(connection=connection, start=start, end=end, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED, run.error
    page_size = 25  # the sandbox fixture's default page size
    for chunk in run.chunks.all():
        assert chunk.pages_fetched == max(1, -(-chunk.conversations // page_size)) > 2
    records = generator.conversations_overlapping(SEED, start, end, CALLS_PER_DAY)
    assert run.conversations == len(records)
    assert _stored() == _expected(records)


@pytest.mark.django_db
def test_pages_read_ahead_are_committed_together_with_the_cursor_after_the_last(connection, sandbox):
    # pages_per_commit=3: the first page alone (nothing read ahead yet), then three per transaction.
    connection.settings = {**connection.settings, "pages_per_commit": 3}
    connection.save()
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)
    commits: list[int] = []
    run = services.start_extraction(connection=connection, start=start, end=end, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk, progress=lambda r: commits.append(r.pages_fetched))
    assert run.state == RunState.SUCCEEDED, run.error
    pages = run.chunks.get().pages_fetched
    assert pages > 4
    stored_per_commit = [b - a for a, b in zip([0, *commits], commits, strict=False) if b != a]
    assert stored_per_commit[0] == 1 and set(stored_per_commit[1:-1]) == {3} and 1 <= stored_per_commit[-1] <= 3
    assert sum(stored_per_commit) == pages
    records = generator.conversations_overlapping(SEED, start, end, CALLS_PER_DAY)
    assert _stored() == _expected(records)


@pytest.mark.django_db
def test_a_page_failing_inside_a_read_ahead_batch_keeps_the_pages_before_it(connection, sandbox, monkeypatch):
    # The third fetch (second page read ahead) fails: page 2 is still stored with its cursor, the run
    # fails with the platform's error, and a resumed run fetches from page 3 to the exact rows.
    connection.settings = {**connection.settings, "pages_per_commit": 3}
    connection.save()
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)
    fetch, calls = GenesysAdapter.fetch_job_page, []

    def third_fails(self, job_id, cursor):
        calls.append(cursor)
        if len(calls) == 3:
            raise PlatformError("results page 3 unreadable")
        return fetch(self, job_id, cursor)

    monkeypatch.setattr(GenesysAdapter, "fetch_job_page", third_fails)
    run = services.start_extraction(connection=connection, start=start, end=end, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.FAILED and "page 3 unreadable" in run.error
    chunk = run.chunks.get()
    assert chunk.pages_fetched == 2 and chunk.cursor == calls[2]  # resumes at the page that failed
    assert Conversation.objects.count() == chunk.conversations == 50  # two whole pages of 25

    services.resume_run(run_id=run.pk, enqueue_task=False)
    run = services.run_extraction(run_id=run.pk)
    assert run.state == RunState.SUCCEEDED, run.error
    records = generator.conversations_overlapping(SEED, start, end, CALLS_PER_DAY)
    assert run.conversations == len(records)
    assert _stored() == _expected(records)


def test_merged_pages_keep_the_later_copy_of_a_repeated_record():
    first = FlatPage(conversations=[{"conversation_id": "a", "v": 1}], legs=[{"leg_id": "x", "v": 1}],
                     problems=["p1"], skipped={"sms": 1})
    second = FlatPage(conversations=[{"conversation_id": "a", "v": 2}], legs=[{"leg_id": "x", "v": 2}],
                      problems=["p2"], skipped={"sms": 2, "fax": 1})
    merged = _merged([first, second])
    assert [c["v"] for c in merged.conversations] == [1, 2]  # store_flat_page keeps the last copy
    assert merged.problems == ["p1", "p2"] and merged.skipped == {"sms": 3, "fax": 1}
    assert _merged([first]) is first


def _orphans() -> dict[str, int]:
    """Child rows whose parent is gone (the child tables have no database foreign keys)."""
    tables = {"participant": [("conversation_id", Conversation)],
              "session": [("conversation_id", Conversation), ("participant_id", Participant)],
              "segment": [("conversation_id", Conversation), ("session_id", Session)],
              "metric": [("conversation_id", Conversation), ("session_id", Session)]}
    models = {"participant": Participant, "session": Session, "segment": Segment, "metric": SessionMetric}
    out = {}
    with db_connection.cursor() as cursor:
        for name, parents in tables.items():
            for column, parent in parents:
                cursor.execute(f"SELECT COUNT(*) FROM {models[name]._meta.db_table} c WHERE NOT EXISTS "
                               f"(SELECT 1 FROM {parent._meta.db_table} p WHERE p.id = c.{column})")
                out[f"{name}.{column}"] = cursor.fetchone()[0]
    return out


@pytest.mark.django_db
def test_replacing_and_deleting_conversations_leaves_no_orphans():
    connection = ConnectionFactory()
    records = _records()
    _store(connection, records)
    shrunk = copy.deepcopy(records)
    for record in shrunk:
        record["participants"] = record["participants"][:-1]  # each conversation loses a participant
    _store(connection, shrunk)
    assert set(_orphans().values()) == {0}
    assert _stored() == _expected(shrunk)

    Conversation.objects.filter(conversation_id=records[0]["conversationId"]).delete()  # the ORM cascades
    connection.delete()
    assert set(_orphans().values()) == {0}
    assert _counts() == [0, 0, 0, 0, 0, 0]


@pytest.mark.django_db
def test_a_leg_id_already_stored_under_another_conversation_is_updated_not_refused():
    # New conversations' legs go in with a plain insert; a leg id the platform reused falls back
    # to the upsert (keyed on connection and leg id) instead of failing the page.
    connection = ConnectionFactory()
    first, second = copy.deepcopy(_records()[:2])
    _store(connection, [first])
    leg = CallLeg.objects.filter(conversation__conversation_id=first["conversationId"]).first()
    reused = next(s for p in second["participants"] for s in p.get("sessions") or ()
                  if s["sessionId"] in {x["sessionId"] for q in second["participants"] for x in q.get("sessions") or ()}
                  and s.get("protocolCallId"))
    reused["sessionId"] = leg.leg_id
    _store(connection, [second])
    moved = CallLeg.objects.get(connection=connection, leg_id=leg.leg_id)
    assert moved.pk == leg.pk and moved.conversation.conversation_id == second["conversationId"]
    assert Conversation.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.skipif(db_connection.vendor != "sqlite", reason="prepared rows are SQLite's path")
def test_sqlite_inserts_prepared_rows_with_the_reserved_keys_added_in_sql(django_assert_max_num_queries):
    connection = ConnectionFactory()
    ConnectionFactory(name="other")  # keys already taken: the offsets must not start at 1
    _store(ConnectionFactory(name="earlier"), _records()[:3])
    records = _records()[3:]
    page = flatten_conversations(records)
    rows, names = prepare_rows(page, connection_pk=connection.pk), Names.for_connection(connection)
    with django_assert_max_num_queries(12) as captured:  # as many statements as without prepared rows
        store_flat_page(connection=connection, page=page, names=names, rows=rows)
    inserts = [q["sql"] for q in captured.captured_queries if "INSERT INTO extraction_session " in q["sql"]]
    assert len(inserts) == 1 and "VALUES (%s + " in inserts[0]
    assert {row for row in _stored()["sessions"] if row[0] in {r["conversationId"] for r in records}} \
        == _expected(records)["sessions"]
    assert not Participant.objects.filter(conversation__isnull=True).exists()
