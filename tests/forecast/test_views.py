"""Forecast pages per role: picking codes, running, reading, exporting, sending, managing targets."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.urls import reverse

from cdrweb.forecast.models import ForecastRun, ForecastSeries, HandoffTarget
from cdrweb.models import AuditEntry
from tests.forecast.factories import ConnectionFactory, HandoffTargetFactory, bulk_legs

NOW = "2026-03-30 12:00:00+00:00"
CODES = {"c-sales": "Sales", "c-billing": "Billing", "c-tech": "Tech support"}


def grant_run_forecast(user) -> None:
    # The lead adds cdrweb.run_forecast to the Finance Analyst role; until then tests grant it.
    user.user_permissions.add(Permission.objects.get(codename="run_forecast", content_type__app_label="cdrweb"))


@pytest.fixture
def legs(db):
    conn = ConnectionFactory()
    with time_machine.travel(NOW, tick=False):
        from django.utils import timezone

        today = timezone.localdate()
    for n, (code, name) in enumerate(CODES.items()):
        counts = {today - timedelta(days=i): 8 + 3 * n + 4 * ((today - timedelta(days=i)).weekday() < 5) + i % 3
                  for i in range(1, 43)}
        bulk_legs(connection=conn, code=code, name=name, counts=counts, cost=Decimal("0.05"))
    return conn


def run_forecast(client, django_capture_on_commit_callbacks, **data):
    form = {"wrapup_codes": list(CODES), "horizon_days": 30, "confidence_pct": 90, "lookback_days": 91, **data}
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("forecast:run-create"), form)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "index", "create", "targets"),
    [
        ("administrator", 200, 302, 200),
        ("analyst", 200, 302, 403),  # analysts run forecasts; targets are admin-only
        ("viewer", 200, 403, 403),
        ("auditor", 200, 403, 200),  # auditors read every model (view_*), never the secret
        ("none", 403, 403, 403),
    ],
)
def test_role_access(client, role_users, legs, django_capture_on_commit_callbacks, role, index, create, targets):
    client.force_login(role_users[role])
    assert client.get(reverse("forecast:index")).status_code == index
    assert run_forecast(client, django_capture_on_commit_callbacks).status_code == create
    assert client.get(reverse("forecast:target-list")).status_code == targets
    expected_edit = 200 if role == "administrator" else 403
    assert client.get(reverse("forecast:target-create")).status_code == expected_edit


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_login(client):
    response = client.get(reverse("forecast:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_a_planner_forecasts_three_codes_for_30_days(client, analyst, legs, django_capture_on_commit_callbacks):
    grant_run_forecast(analyst)
    client.force_login(analyst)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("forecast:index"))
    for name in CODES.values():
        assert name in page.content.decode()

    response = run_forecast(client, django_capture_on_commit_callbacks)

    run = ForecastRun.objects.get()
    assert response["Location"] == reverse("forecast:run-detail", args=[run.pk])
    assert run.state == ForecastRun.State.DONE and run.created_by == analyst
    assert ForecastSeries.objects.filter(run=run, status="ok").count() == 3
    detail = client.get(response["Location"]).content.decode()
    assert "backtest MAPE, last 14 days" in detail
    assert "90% band" in detail  # the chart's band trace
    assert "outliers (removed)" in detail
    sales = ForecastSeries.objects.get(run=run, wrapup_code="c-sales")
    assert f"{sales.expected_cost} EUR" in detail
    assert "vendor/plotly.min.js" in detail


@pytest.mark.django_db
def test_bad_input_is_shown_on_the_form_not_a_500(client, admin_user_role, legs, django_capture_on_commit_callbacks):
    client.force_login(admin_user_role)
    response = run_forecast(client, django_capture_on_commit_callbacks, horizon_days=120)
    assert response.status_code == 400
    assert "The horizon must be at most 90 days (asked for 120)" in response.content.decode()
    response = run_forecast(client, django_capture_on_commit_callbacks, wrapup_codes=["nope"], horizon_days="x")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not ForecastRun.objects.exists()


@pytest.mark.django_db
def test_progress_partial_and_exports(client, admin_user_role, viewer, legs, django_capture_on_commit_callbacks):
    client.force_login(admin_user_role)
    run_forecast(client, django_capture_on_commit_callbacks)
    run = ForecastRun.objects.get()
    client.force_login(viewer)  # viewers read and export, they do not run
    progress = client.get(reverse("forecast:run-progress", args=[run.pk]))
    assert progress.status_code == 200 and "100%" in progress.content.decode()

    csv_response = client.get(reverse("forecast:run-csv", args=[run.pk]))
    assert csv_response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_response.content.decode())))
    forecast_rows = [r for r in rows[1:] if r[3] == "forecast"]
    assert len(forecast_rows) == 90  # 3 codes × 30 days
    sales_cost = sum(Decimal(r[8]) for r in forecast_rows if r[0] == "c-sales")
    assert sales_cost == ForecastSeries.objects.get(run=run, wrapup_code="c-sales").expected_cost

    payload = json.loads(client.get(reverse("forecast:run-json", args=[run.pk])).content)
    assert {s["wrapup_code"] for s in payload["series"]} == set(CODES)


@pytest.mark.django_db
def test_a_planner_sends_a_forecast_to_a_webhook(client, analyst, legs, receiver, django_capture_on_commit_callbacks):
    grant_run_forecast(analyst)
    client.force_login(analyst)
    run_forecast(client, django_capture_on_commit_callbacks)
    run = ForecastRun.objects.get()
    target = HandoffTargetFactory(url=receiver.base_url + "/in", secret="k")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("forecast:run-send", args=[run.pk]), {"target": target.pk})

    assert response.status_code == 302
    assert len(receiver.requests) == 1
    entry = AuditEntry.objects.get(action="forecast.handoff.webhook")
    assert entry.actor == analyst
    detail = client.get(reverse("forecast:run-detail", args=[run.pk])).content.decode()
    assert "Hand-offs" in detail
    assert f"Forecast #{run.pk} to" in detail and "delivered, HTTP 200, 1 attempt(s)" in detail


@pytest.mark.django_db
def test_viewers_cannot_send(client, viewer, legs, admin_user_role, django_capture_on_commit_callbacks):
    client.force_login(admin_user_role)
    run_forecast(client, django_capture_on_commit_callbacks)
    target = HandoffTargetFactory()
    client.force_login(viewer)
    response = client.post(reverse("forecast:run-send", args=[ForecastRun.objects.get().pk]), {"target": target.pk})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action__startswith="forecast.handoff").exists()


@pytest.mark.django_db
def test_admin_creates_a_target_with_a_write_only_secret_and_mappings(client, admin_user_role):
    client.force_login(admin_user_role)
    form = {
        "name": "Planning hook", "kind": "webhook", "url": "https://hooks.example.com/forecast",
        "secret": "very-secret", "timeout_seconds": 10, "max_attempts": 4, "backoff_seconds": "2",
        "week_start_day": 0, "is_active": "on",
        "mappings-TOTAL_FORMS": 1, "mappings-INITIAL_FORMS": 0,
        "mappings-0-wrapup_code": "c-sales", "mappings-0-planning_group_id": "pg-1",
    }
    assert client.post(reverse("forecast:target-create"), form).status_code == 302
    target = HandoffTarget.objects.get()
    assert target.secret == "very-secret"
    assert list(target.mappings.values_list("wrapup_code", "planning_group_id")) == [("c-sales", "pg-1")]

    edit = client.get(reverse("forecast:target-edit", args=[target.pk])).content.decode()
    assert "very-secret" not in edit
    form.update({"secret": "", "name": "Planning hook 2", "mappings-INITIAL_FORMS": 0, "mappings-TOTAL_FORMS": 0})
    assert client.post(reverse("forecast:target-edit", args=[target.pk]), form).status_code == 302
    target.refresh_from_db()
    assert target.secret == "very-secret"  # blank means keep
    entry = AuditEntry.objects.filter(action="forecast.target.update").get()
    assert "very-secret" not in json.dumps(entry.changes)


@pytest.mark.django_db
def test_target_form_explains_missing_fields(client, admin_user_role):
    client.force_login(admin_user_role)
    response = client.post(reverse("forecast:target-create"), {
        "name": "WFM", "kind": "genesys_wfm", "timeout_seconds": 10, "max_attempts": 4,
        "backoff_seconds": "2", "week_start_day": 0,
        "mappings-TOTAL_FORMS": 0, "mappings-INITIAL_FORMS": 0,
    })
    assert response.status_code == 400
    body = response.content.decode()
    assert "Pick the Genesys connection whose credentials to use." in body
    assert "Give the WFM business unit id." in body
