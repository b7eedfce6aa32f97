"""Connection and run pages: the role matrix, write-only secrets, audit, live progress."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from cdrweb.models import AuditEntry
from extraction.models import Connection, ExtractionRun, RunState
from tests.extraction.factories import ConnectionFactory


@pytest.fixture
def run(db):
    connection = ConnectionFactory()
    return ExtractionRun.objects.create(connection=connection, start=datetime(2026, 3, 1, tzinfo=UTC),
                                        end=datetime(2026, 3, 2, tzinfo=UTC), state=RunState.RUNNING)


ADMIN_ONLY = ["extraction:connection-list", "extraction:connection-create"]
READABLE = ["extraction:run-list"]


@pytest.mark.django_db
@pytest.mark.parametrize("role, url_name, status", [
    *[(role, name, 200 if role == "administrator" else 403)
      for role in ("administrator", "analyst", "viewer", "auditor", "none") for name in ADMIN_ONLY],
    *[(role, name, 403 if role == "none" else 200)
      for role in ("administrator", "analyst", "viewer", "auditor", "none") for name in READABLE],
    *[(role, "extraction:run-create", 200 if role == "administrator" else 403)
      for role in ("administrator", "analyst", "viewer", "auditor", "none")],
])
def test_role_access(client, role_users, role, url_name, status):
    client.force_login(role_users[role])
    assert client.get(reverse(url_name)).status_code == status


@pytest.mark.django_db
def test_run_detail_and_progress_poll_render_the_same_partial(client, viewer, run):
    client.force_login(viewer)
    page = client.get(reverse("extraction:run-detail", args=[run.pk]))
    poll = client.get(reverse("extraction:run-progress", args=[run.pk]))
    assert page.status_code == poll.status_code == 200
    assert f'hx-get="/extraction/runs/{run.pk}/progress/"' in poll.content.decode()
    assert b"progressbar" in page.content
    assert client.post(reverse("extraction:run-cancel", args=[run.pk])).status_code == 403


@pytest.mark.django_db
def test_an_admin_adds_a_connection_secret_encrypted_write_only_and_audited(client, admin_user_role):
    client.force_login(admin_user_role)
    response = client.post(reverse("extraction:connection-create"), {
        "platform": "genesys", "name": "prod", "region": "mypurecloud.ie", "base_url": "",
        "client_id": "abc", "client_secret": "very-secret-1", "default_region": "gb", "is_active": "on",
    })
    assert response.status_code == 302
    connection = Connection.objects.get(name="prod")
    assert connection.client_secret == "very-secret-1" and connection.default_region == "GB"
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM extraction_connection WHERE id = %s", [connection.pk])
        assert "very-secret-1" not in cursor.fetchone()[0]

    edit = client.get(reverse("extraction:connection-edit", args=[connection.pk]))
    assert b"very-secret-1" not in edit.content

    client.post(reverse("extraction:connection-edit", args=[connection.pk]), {
        "platform": "genesys", "name": "prod", "region": "mypurecloud.de", "base_url": "",
        "client_id": "abc", "client_secret": "", "default_region": "GB", "is_active": "on",
    })
    connection.refresh_from_db()
    assert connection.client_secret == "very-secret-1"  # blank keeps it
    assert connection.region == "mypurecloud.de"
    entries = AuditEntry.objects.filter(action__startswith="extraction.connection").order_by("pk")
    assert [e.action for e in entries] == ["extraction.connection.create", "extraction.connection.update"]
    assert entries[1].changes["region"] == {"before": "mypurecloud.ie", "after": "mypurecloud.de"}
    assert "very-secret-1" not in str([e.changes for e in entries])


@pytest.mark.django_db
def test_a_connection_needs_a_region_or_base_url(client, admin_user_role):
    client.force_login(admin_user_role)
    response = client.post(reverse("extraction:connection-create"), {
        "platform": "genesys", "name": "x", "region": "", "base_url": "", "client_id": "abc",
        "client_secret": "s", "default_region": "US",
    })
    assert response.status_code == 400
    assert b"Choose a region or give an explicit base URL" in response.content


@pytest.mark.django_db
def test_test_connection_shows_the_result_and_records_it(client, admin_user_role, connection):
    client.force_login(admin_user_role)
    response = client.post(reverse("extraction:connection-test", args=[connection.pk]), follow=True)
    assert b"Token OK" in response.content
    connection.refresh_from_db()
    assert connection.last_success_at is not None

    bad = ConnectionFactory(name="bad", region="", base_url="http://127.0.0.1:9")  # nothing listens on 9
    bad.settings = {**bad.settings, "max_attempts": 1}
    bad.save()
    response = client.post(reverse("extraction:connection-test", args=[bad.pk]), follow=True)
    assert b"network error" in response.content
    bad.refresh_from_db()
    assert bad.last_error and bad.last_error_at


@pytest.mark.django_db
def test_an_admin_starts_a_run_from_the_form_and_watches_it_finish(client, admin_user_role, connection,
                                                                    django_capture_on_commit_callbacks):
    client.force_login(admin_user_role)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("extraction:run-create"), {
            "connection": connection.pk, "start": "2026-03-01", "end": "2026-03-02"})
    run = ExtractionRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("extraction:run-detail", args=[run.pk])
    assert run.state == RunState.SUCCEEDED and run.end == datetime(2026, 3, 3, tzinfo=UTC)
    page = client.get(reverse("extraction:run-detail", args=[run.pk])).content.decode()
    assert f"{run.conversations} conversations" in page and "100%" in page


@pytest.mark.django_db
def test_bad_run_input_is_a_400_not_a_500(client, admin_user_role, connection):
    client.force_login(admin_user_role)
    response = client.post(reverse("extraction:run-create"), {
        "connection": connection.pk, "start": "2026-03-05", "end": "2026-03-01"})
    assert response.status_code == 400
    assert b"The last day is before the first day" in response.content
    assert client.post(reverse("extraction:run-create"), {"start": "nonsense"}).status_code == 400


@pytest.mark.django_db
def test_admin_masks_numbers_and_never_shows_the_secret(client, admin_user_role):
    from extraction.models import CallLeg

    connection = ConnectionFactory(client_secret="admin-secret-9")
    CallLeg.objects.create(connection=connection, platform="genesys", external_call_id="c1", leg_id="l1",
                           direction="inbound", ani="tel:+13125550142", dnis="tel:+14155550100",
                           started_at=datetime(2026, 3, 1, tzinfo=UTC))
    client.force_login(admin_user_role)
    legs = client.get("/admin/extraction/callleg/").content.decode()
    assert "+13125550142" not in legs and "l1" in legs
    page = client.get(f"/admin/extraction/connection/{connection.pk}/change/").content.decode()
    assert "admin-secret-9" not in page


@pytest.mark.django_db
def test_an_admin_adds_an_engage_connection_with_a_write_only_token_and_settings(client, admin_user_role):
    client.force_login(admin_user_role)
    response = client.post(reverse("extraction:connection-create"), {
        "platform": "engage", "name": "ringcx", "region": "", "base_url": "https://ringcx.ringcentral.com/voice",
        "client_id": "rc-app", "client_secret": "rc-secret-1", "api_token": "rc-jwt-1",
        "settings": '{"rc_account_id": "111", "sub_account_id": "222"}', "default_region": "US",
        "is_active": "on",
    })
    assert response.status_code == 302, response.content
    connection = Connection.objects.get(name="ringcx")
    assert connection.api_token == "rc-jwt-1"
    assert connection.settings == {"rc_account_id": "111", "sub_account_id": "222"}
    edit = client.get(reverse("extraction:connection-edit", args=[connection.pk]))
    assert b"rc-jwt-1" not in edit.content and b"rc-secret-1" not in edit.content
    bad = client.post(reverse("extraction:connection-edit", args=[connection.pk]), {
        "platform": "engage", "name": "ringcx", "base_url": "https://ringcx.ringcentral.com/voice",
        "settings": "[1, 2]", "default_region": "US", "is_active": "on",
    })
    assert bad.status_code in (200, 400) and b"JSON object" in bad.content
    connection.refresh_from_db()
    assert connection.api_token == "rc-jwt-1"  # nothing changed by the refused form
    entry = AuditEntry.objects.filter(action="extraction.connection.create").get()
    assert entry.changes["api_token"] == "(secret changed)"
    assert "rc-jwt-1" not in str(entry.changes)
