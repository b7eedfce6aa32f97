"""Console pages: access by role, run/plan/fetch flow, results, CSV, chart, saved queries, history."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.models import AuditEntry
from extraction.models import ChunkState, ExtractionChunk, ExtractionRun, RunState
from tests.console.factories import (
    CallLegFactory,
    CarrierFactory,
    ConnectionFactory,
    CostRecordFactory,
    QueryHistoryFactory,
    SavedQueryFactory,
)

INDEX = reverse("console:index")


def _login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "role, status",
    [("administrator", 200), ("analyst", 200), ("auditor", 200), ("viewer", 403), ("none", 403)],
)
def test_the_console_is_for_analysts_administrators_and_auditors(client, role_users, role, status):
    _login(client, role_users[role])
    assert client.get(INDEX).status_code == status
    assert client.post(INDEX, {"sql": "SELECT 1"}).status_code in ({200} if status == 200 else {403})
    assert client.get(reverse("console:history")).status_code == status


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(INDEX)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_page_shows_the_schema_browser(client, analyst):
    html = _login(client, analyst).get(INDEX).content.decode()
    for name in ("conversations", "participants", "sessions", "segments", "metrics", "call_legs", "costs",
                 "carrier_cdrs", "discrepancies", "rate_cards", "rates"):
        assert f"<code>{name}</code>" in html
    assert "extraction_callleg" not in html


def test_running_a_query_shows_masked_rows(client, analyst):
    CallLegFactory(ani="+14155550188")
    response = _login(client, analyst).post(INDEX, {"sql": "SELECT ani, lower(ani) AS l FROM call_legs"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<td>***0188</td>" in html
    assert "4155550188" not in html
    assert QueryHistory.objects.get().status == "ok"


def test_a_refused_query_says_why_with_a_400(client, analyst):
    response = _login(client, analyst).post(INDEX, {"sql": "SELECT * FROM sqlite_master"})
    assert response.status_code == 400
    assert "System catalogs" in response.content.decode()


def test_an_empty_query_is_a_form_error(client, analyst):
    assert _login(client, analyst).post(INDEX, {"sql": ""}).status_code == 400


Q3 = ("SELECT carrier, sum(cost) AS cost FROM costs "
      "WHERE started_at >= '2026-07-01' AND started_at < '2026-10-01' GROUP BY 1")


def test_a_query_over_unextracted_time_shows_the_plan_first(client, analyst):
    ConnectionFactory(name="genesys-eu")
    response = _login(client, analyst).post(INDEX, {"sql": Q3})
    html = response.content.decode()
    assert 'id="plan"' in html
    assert "genesys-eu" in html
    assert "2026-07-01 00:00 → 2026-10-01 00:00" in html
    assert "3 platform jobs" in html  # 92 days at the default 31-day job limit
    assert 'id="result"' not in html
    assert not QueryHistory.objects.exists()


def test_run_on_what_is_extracted_skips_the_plan(client, analyst):
    ConnectionFactory()
    response = _login(client, analyst).post(INDEX, {"sql": Q3, "skip_plan": "on"})
    assert 'id="result"' in response.content.decode()
    assert 'id="plan"' not in response.content.decode()


def test_results_are_paged(client, analyst):
    CallLegFactory.create_batch(60)
    client = _login(client, analyst)
    first = client.post(INDEX, {"sql": "SELECT leg_id FROM call_legs ORDER BY leg_id"}).content.decode()
    history = QueryHistory.objects.get()
    assert "Page 1 of 2" in first
    assert f"?h={history.pk}&amp;page=2" in first
    second = client.get(INDEX, {"h": history.pk, "page": 2}).content.decode()
    assert second.count("<td>leg-") == 10
    assert AuditEntry.objects.filter(action="console.query").count() == 2  # every run is audited


def test_someone_elses_history_is_not_found(client, analyst, auditor):
    history = QueryHistoryFactory(user=auditor)
    client = _login(client, analyst)
    assert client.get(INDEX, {"h": history.pk}).status_code == 404
    assert client.get(reverse("console:export", args=[history.pk])).status_code == 404


def test_the_csv_export_is_masked_and_audited(client, analyst):
    CostRecordFactory(leg=CallLegFactory(ani="+14155550188"), cost=Decimal("1.250000"), carrier__name="Alpha")
    history = QueryHistoryFactory(user=analyst, sql="SELECT l.ani, c.carrier, c.cost FROM call_legs l "
                                                    "JOIN costs c ON c.call_leg_id = l.id")
    response = _login(client, analyst).get(reverse("console:export", args=[history.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["ani", "carrier", "cost"], ["***0188", "Alpha", "1.25"]]
    assert AuditEntry.objects.filter(action="console.export").count() == 1


def test_an_auditor_who_revealed_the_console_exports_raw_numbers(client, auditor):
    CallLegFactory(ani="+14155550188")
    history = QueryHistoryFactory(user=auditor, sql="SELECT ani FROM call_legs")
    client = _login(client, auditor)
    client.post(reverse("pii-reveal"), {"reason": "dispute evidence", "next": INDEX})
    rows = list(csv.reader(io.StringIO(client.get(reverse("console:export", args=[history.pk])).content.decode())))
    assert rows[1] == ["'+14155550188"]  # kept from running as a spreadsheet formula
    page = client.get(INDEX, {"h": history.pk}).content.decode()
    assert "<td>+14155550188</td>" in page
    history.refresh_from_db()
    assert history.revealed is True


def test_a_failed_export_goes_back_with_the_error(client, analyst):
    history = QueryHistoryFactory(user=analyst, sql="SELECT nope FROM call_legs")
    response = _login(client, analyst).get(reverse("console:export", args=[history.pk]))
    assert response.status_code == 302


def test_the_chart_picker_draws_a_plotly_figure(client, analyst):
    alpha, beta = CarrierFactory(name="Alpha"), CarrierFactory(name="Beta")
    for day, carrier in [(6, alpha), (7, alpha), (7, beta)]:
        CostRecordFactory(leg=CallLegFactory(started_at=datetime(2026, 7, day, tzinfo=UTC)), carrier=carrier)
    history = QueryHistoryFactory(
        user=analyst,
        sql="SELECT date(started_at) AS day, carrier, sum(cost) AS cost FROM costs GROUP BY 1, 2 ORDER BY 1, 2",
    )
    client = _login(client, analyst)
    page = client.get(INDEX, {"h": history.pk}).content.decode()
    assert 'name="y"' in page and '<option value="cost">' in page
    page = client.get(INDEX, {"h": history.pk, "x": "day", "y": "cost", "series": "carrier", "kind": "bar"})
    html = page.content.decode()
    assert 'id="console-figure"' in html
    assert "vendor/plotly.min.js" in html
    figure = page.context["figure"]
    assert [t["name"] for t in figure["data"]] == ["Alpha", "Beta"]
    assert figure["data"][0]["x"] == ["2026-07-06", "2026-07-07"]


def test_saved_queries_are_named_per_user(client, analyst, auditor):
    client = _login(client, analyst)
    response = client.post(reverse("console:save"), {"name": "Q3 by carrier", "sql": Q3})
    saved = SavedQuery.objects.get()
    assert response.status_code == 302 and (saved.owner, saved.name, saved.sql) == (analyst, "Q3 by carrier", Q3)
    assert Q3.split()[0] in client.get(INDEX, {"saved": saved.pk}).content.decode()
    client.post(reverse("console:save"), {"name": "Q3 by carrier", "sql": "SELECT 1"})
    assert SavedQuery.objects.get().sql == "SELECT 1"  # same name overwrites

    other = SavedQueryFactory(owner=auditor)
    assert client.get(INDEX, {"saved": other.pk}).status_code == 404
    client.post(reverse("console:saved-delete", args=[other.pk]))
    assert SavedQuery.objects.filter(pk=other.pk).exists()
    client.post(reverse("console:saved-delete", args=[saved.pk]))
    assert not SavedQuery.objects.filter(pk=saved.pk).exists()


def test_an_invalid_query_is_not_saved(client, analyst):
    _login(client, analyst).post(reverse("console:save"), {"name": "bad", "sql": "DROP TABLE rates"})
    assert not SavedQuery.objects.exists()


def test_history_lists_only_my_queries(client, analyst, auditor):
    QueryHistoryFactory(user=analyst, sql="SELECT count(*) AS mine FROM rates")
    QueryHistoryFactory(user=auditor, sql="SELECT count(*) AS theirs FROM rates")
    html = _login(client, analyst).get(reverse("console:history")).content.decode()
    assert "mine" in html and "theirs" not in html


def test_a_waiting_query_polls_then_runs_when_extraction_finishes(client, analyst):
    connection = ConnectionFactory()
    run = ExtractionRun.objects.create(connection=connection, start=datetime(2026, 7, 1, tzinfo=UTC),
                                       end=datetime(2026, 7, 2, tzinfo=UTC), state=RunState.RUNNING)
    chunk = ExtractionChunk.objects.create(run=run, index=0, interval_start=run.start, interval_end=run.end)
    history = QueryHistoryFactory(user=analyst, status=QueryHistory.Status.WAITING, extraction_run_ids=[run.pk])
    client = _login(client, analyst)

    page = client.get(INDEX, {"h": history.pk}).content.decode()
    assert 'id="waiting"' in page and reverse("console:poll", args=[history.pk]) in page
    poll = client.get(reverse("console:poll", args=[history.pk]))
    assert "HX-Refresh" not in poll

    chunk.state = ChunkState.DONE
    chunk.save()
    ExtractionRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    poll = client.get(reverse("console:poll", args=[history.pk]))
    assert poll["HX-Refresh"] == "true"
    page = client.get(INDEX, {"h": history.pk}).content.decode()
    assert 'id="result"' in page
    history.refresh_from_db()
    assert history.status == QueryHistory.Status.OK


def test_a_failed_extraction_offers_to_run_anyway(client, analyst):
    run = ExtractionRun.objects.create(connection=ConnectionFactory(), start=datetime(2026, 7, 1, tzinfo=UTC),
                                       end=datetime(2026, 7, 2, tzinfo=UTC), state=RunState.FAILED)
    history = QueryHistoryFactory(user=analyst, status=QueryHistory.Status.WAITING, extraction_run_ids=[run.pk])
    client = _login(client, analyst)
    page = client.get(INDEX, {"h": history.pk}).content.decode()
    assert "failed" in page and "run=1" in page
    assert 'id="result"' in client.get(INDEX, {"h": history.pk, "run": "1"}).content.decode()


def test_a_bad_chart_choice_draws_nothing_and_does_not_fail(client, analyst):
    CallLegFactory()
    history = QueryHistoryFactory(user=analyst, sql="SELECT direction, count(*) AS n FROM call_legs GROUP BY 1")
    page = _login(client, analyst).get(INDEX, {"h": history.pk, "x": "nope", "y": "direction"})
    assert page.status_code == 200
    assert page.context["figure"] is None
    assert 'id="console-figure"' not in page.content.decode()
