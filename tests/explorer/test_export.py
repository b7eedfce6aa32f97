"""The CSV export of the filtered calls: streamed, masked unless revealed on the list page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse

from cdrweb.models import AuditEntry
from tests.explorer.factories import at, rated_leg, week_dataset

EXPORT = "/calls/export.csv"
WEEK = "?period=custom&start=2026-11-02&end=2026-11-08"


@pytest.fixture
def data(db):
    return week_dataset()


def _rows(response) -> list[dict[str, str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_a_viewer_exports_the_filtered_calls_masked(client, viewer, data):
    client.force_login(viewer)
    response = client.get(EXPORT + WEEK)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _rows(response)
    assert len(rows) == 7
    by_leg = {r["leg_id"]: r for r in rows}
    l1 = by_leg[data["legs"]["L1"].leg_id]
    assert l1["dnis"] == "***0188" and l1["ani"] == "***0100"
    assert (l1["cost"], l1["currency"], l1["carrier"], l1["country"]) == ("1.250000", "USD", "Carrier A", "GB")
    assert by_leg[data["legs"]["L3"].leg_id]["reconciliation"] == "duration mismatch (credited)"
    assert by_leg[data["legs"]["L5"].leg_id]["rating_status"] == "unrated"
    assert "+442079460188" not in str(rows)


def test_the_export_follows_the_url_filters(client, viewer, data):
    client.force_login(viewer)
    b = data["carriers"]["B"]
    rows = _rows(client.get(f"{EXPORT}{WEEK}&carrier={b.pk}"))
    assert sorted(r["leg_id"] for r in rows) == sorted([data["legs"]["L3"].leg_id, data["legs"]["L4"].leg_id])


def test_an_auditor_who_revealed_the_list_exports_numbers(client, auditor, data):
    client.force_login(auditor)
    assert "+442079460188" not in str(_rows(client.get(EXPORT + WEEK)))
    client.post(reverse("pii-reveal"), {"next": "/calls/" + WEEK, "reason": "carrier dispute evidence"})
    rows = _rows(client.get(EXPORT + WEEK))
    assert "+442079460188" in {r["dnis"] for r in rows}
    entry = AuditEntry.objects.filter(action="calls.export").latest("pk")
    assert "revealed" in entry.summary


def test_revealing_another_page_does_not_unmask_the_export(client, auditor, data):
    client.force_login(auditor)
    client.post(reverse("pii-reveal"), {"next": "/", "reason": "looking at the dashboard"})
    assert "+442079460188" not in str(_rows(client.get(EXPORT + WEEK)))


def test_every_export_is_audited(client, viewer, data):
    client.force_login(viewer)
    _rows(client.get(EXPORT + WEEK))
    entry = AuditEntry.objects.get(action="calls.export")
    assert "2026-11-02" in entry.summary and "masked" in entry.summary


def test_users_without_a_role_cannot_export(client, no_role_user, data):
    client.force_login(no_role_user)
    assert client.get(EXPORT + WEEK).status_code == 403


def test_a_bad_filter_is_a_400_not_an_empty_file(client, viewer, data):
    client.force_login(viewer)
    assert client.get(EXPORT + "?period=custom&start=2026-11-09&end=2026-11-01").status_code == 400


def test_spreadsheet_formulas_are_neutralised(client, viewer, db):
    rated_leg(cost="1.00", started_at=at(3, 8), queue_name="=HYPERLINK(\"http://x\")")
    client.force_login(viewer)
    rows = _rows(client.get(EXPORT + WEEK))
    assert rows[0]["queue_name"].startswith("'=")


def test_export_query_count_does_not_grow_with_rows(client, viewer, db, django_assert_max_num_queries):
    for i in range(40):
        rated_leg(cost="1.00", started_at=at(3, 8) + timedelta(minutes=i))
    client.force_login(viewer)
    with django_assert_max_num_queries(10):
        rows = _rows(client.get(EXPORT + WEEK))
    assert len(rows) == 40
