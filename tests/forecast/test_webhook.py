"""Webhook hand-off over real HTTP on loopback: signing, retries with backoff, timeouts and audit."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from cdrweb.forecast import services, webhook
from cdrweb.forecast.models import ForecastRun
from cdrweb.models import AuditEntry
from tests.forecast.factories import ConnectionFactory, HandoffTargetFactory, bulk_legs

AS_OF = date(2026, 3, 30)


@pytest.fixture
def done_run(db, django_capture_on_commit_callbacks) -> ForecastRun:
    conn = ConnectionFactory()
    counts = {AS_OF - timedelta(days=i): 20 + 5 * ((AS_OF - timedelta(days=i)).weekday() < 5) + i % 3
              for i in range(1, 36)}
    bulk_legs(connection=conn, code="c-sales", name="Sales", counts=counts, cost=Decimal("0.10"))
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_forecast_run(user=None, wrapup_codes=["c-sales"], horizon_days=30,
                                          confidence_pct=90, lookback_days=35, as_of=AS_OF)
    run.refresh_from_db()
    assert run.state == ForecastRun.State.DONE
    return run


def test_signature_is_hmac_sha256_of_timestamp_and_body():
    body = b'{"a":1}'
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook.signature("key", "1700000000", body) == f"sha256={expected}"
    headers = webhook.signed_headers("key", body, now=1700000000)
    assert headers["X-Cdrweb-Timestamp"] == "1700000000"
    assert headers["X-Cdrweb-Signature"] == f"sha256={expected}"


@pytest.mark.django_db
def test_a_signed_forecast_reaches_the_receiver_and_is_audited(done_run, receiver, admin_user_role):
    target = HandoffTargetFactory(url=receiver.base_url + "/hook", secret="shared-key")

    delivery = services.send_forecast(run=done_run, target=target, actor=admin_user_role)

    assert delivery.ok and delivery.status == 200
    (req,) = receiver.requests
    assert req.method == "POST" and req.path == "/hook"
    assert req.headers["Content-Type"] == "application/json"
    mac = hmac.new(b"shared-key", req.headers["X-Cdrweb-Timestamp"].encode() + b"." + req.body, hashlib.sha256)
    assert req.headers["X-Cdrweb-Signature"] == "sha256=" + mac.hexdigest()
    payload = json.loads(req.body)
    assert payload["run_id"] == done_run.pk
    assert len(payload["series"][0]["days"]) == 30
    assert payload["series"][0]["expected_cost"]["mean"] == str(done_run.series.get().expected_cost)
    entry = AuditEntry.objects.get(action="forecast.handoff.webhook")
    assert entry.actor == admin_user_role
    assert entry.object_id == str(done_run.pk)
    assert entry.changes["status"] == 200 and entry.changes["ok"] is True
    assert isinstance(entry.changes["latency_ms"], int)
    assert "shared-key" not in json.dumps(entry.changes) + entry.summary


@pytest.mark.django_db
def test_429_then_200_is_retried_and_both_attempts_audited(done_run, receiver):
    receiver.replies = [(429, {"Retry-After": "0"}, b'{"message":"slow down"}'), (200, {}, b"ok")]
    target = HandoffTargetFactory(url=receiver.base_url + "/hook", max_attempts=3)

    delivery = services.send_forecast(run=done_run, target=target, actor="system")

    assert delivery.ok
    assert [a.status for a in delivery.attempts] == [429, 200]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    entry = AuditEntry.objects.get(action="forecast.handoff.webhook")
    assert [a["status"] for a in entry.changes["attempts"]] == [429, 200]
    assert "delivered, HTTP 200, 2 attempt(s)" in entry.summary


@pytest.mark.django_db
def test_5xx_exhausts_the_attempts_and_is_audited_as_failed(done_run, receiver):
    receiver.replies = [(503, {}, b"down")]
    target = HandoffTargetFactory(url=receiver.base_url + "/hook", max_attempts=3)

    delivery = services.send_forecast(run=done_run, target=target, actor="system")

    assert not delivery.ok and delivery.status == 503
    assert len(receiver.requests) == 3
    entry = AuditEntry.objects.get(action="forecast.handoff.webhook")
    assert entry.changes["ok"] is False and entry.changes["error"] == "HTTP 503"
    assert "FAILED, HTTP 503, 3 attempt(s)" in entry.summary


@pytest.mark.django_db
def test_a_4xx_is_not_retried(done_run, receiver):
    receiver.replies = [(400, {}, b"bad"), (200, {}, b"ok")]
    target = HandoffTargetFactory(url=receiver.base_url + "/hook", max_attempts=3)
    delivery = services.send_forecast(run=done_run, target=target, actor="system")
    assert not delivery.ok and delivery.status == 400
    assert len(receiver.requests) == 1


def test_retry_delay_prefers_retry_after_then_doubles():
    import requests

    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert webhook._retry_delay(response, 1, Decimal("2")) == 7
    assert webhook._retry_delay(None, 1, Decimal("2")) == 2
    assert webhook._retry_delay(None, 3, Decimal("2")) == 8
    assert webhook._retry_delay(None, 10, Decimal("2")) == webhook.MAX_RETRY_AFTER_SECONDS


@pytest.mark.django_db
def test_an_unreachable_receiver_fails_cleanly(done_run):
    target = HandoffTargetFactory(url="http://127.0.0.1:9/hook", max_attempts=2, timeout_seconds=1)
    delivery = services.send_forecast(run=done_run, target=target, actor="system")
    assert not delivery.ok and delivery.status is None
    assert [a.error for a in delivery.attempts] == ["ConnectionError", "ConnectionError"]
    assert AuditEntry.objects.get(action="forecast.handoff.webhook").changes["error"] == "ConnectionError"


@pytest.mark.django_db
def test_a_receiver_that_never_answers_times_out(done_run):
    import socket

    with socket.socket() as silent:  # listens (the kernel accepts) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        target = HandoffTargetFactory(url=url, max_attempts=1, timeout_seconds=1)
        delivery = services.send_forecast(run=done_run, target=target, actor="system")
    assert not delivery.ok and delivery.status is None
    assert delivery.attempts[0].error == "ReadTimeout"
