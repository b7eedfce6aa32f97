"""Genesys WFM short-term forecast import (genesys-cloud.md §12) against a local HTTP receiver."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from cdrweb.forecast import genesys_wfm, services
from cdrweb.forecast.models import ForecastPoint, ForecastRun, HandoffTarget, PlanningGroupMapping
from cdrweb.models import AuditEntry
from tests.forecast.factories import ConnectionFactory, HandoffTargetFactory, bulk_legs

AS_OF = date(2026, 3, 30)  # Monday: the forecast starts on a Monday
BU = "bu-0001"


@pytest.fixture
def run(db, django_capture_on_commit_callbacks) -> ForecastRun:
    conn = ConnectionFactory()
    for n, code in enumerate(["c-sales", "c-billing", "c-tech"]):
        counts = {AS_OF - timedelta(days=i): 10 + n + 3 * ((AS_OF - timedelta(days=i)).weekday() < 5) + i % 2
                  for i in range(1, 36)}
        bulk_legs(connection=conn, code=code, name=code.upper(), counts=counts, hour=10, cost=Decimal("0.1"))
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_forecast_run(user=None, wrapup_codes=["c-sales", "c-billing", "c-tech"],
                                          horizon_days=30, confidence_pct=90, lookback_days=35, as_of=AS_OF)
    run.refresh_from_db()
    return run


@pytest.fixture
def wfm_target(receiver) -> HandoffTarget:
    conn = ConnectionFactory(base_url=receiver.base_url, client_id="cid", client_secret="csecret")
    target = HandoffTargetFactory(kind=HandoffTarget.Kind.GENESYS_WFM, url="", secret="", connection=conn,
                                  business_unit_id=BU, week_start_day=0)
    PlanningGroupMapping.objects.create(target=target, wrapup_code="c-sales", planning_group_id="pg-voice")
    PlanningGroupMapping.objects.create(target=target, wrapup_code="c-billing", planning_group_id="pg-voice")
    return target


def wfm_routes(receiver) -> None:
    receiver.routes = {
        "/oauth/token": lambda req: (200, {}, b'{"access_token":"tok-1","token_type":"bearer","expires_in":86400}'),
        "/import/uploadurl": lambda req: (200, {}, json.dumps({
            "uploadKey": "upload-key-1", "url": receiver.base_url + "/s3/upload-1",
            "headers": {"Content-Encoding": "gzip", "Content-Type": "application/json"},
        }).encode()),
        "/s3/upload-1": lambda req: (200, {}, b""),
        "/shorttermforecasts/import": lambda req: (202, {}, b'{"status":"Processing","operationId":"op-1"}'),
    }


def test_week_date_is_the_business_units_first_day_of_week():
    assert genesys_wfm.week_date_for(date(2026, 4, 1), 0) == date(2026, 3, 30)  # Wednesday -> Monday
    assert genesys_wfm.week_date_for(date(2026, 4, 1), 6) == date(2026, 3, 29)  # -> Sunday
    assert genesys_wfm.week_date_for(date(2026, 3, 30), 0) == date(2026, 3, 30)


@pytest.mark.django_db
def test_import_follows_the_three_real_steps(run, wfm_target, receiver):
    wfm_routes(receiver)

    delivery = services.send_forecast(run=run, target=wfm_target, actor="system")

    assert delivery.ok, delivery.error
    token, upload_url, put, do_import = receiver.requests
    assert (token.method, token.path) == ("POST", "/oauth/token")
    assert token.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert token.body == b"grant_type=client_credentials"
    base = f"/api/v2/workforcemanagement/businessunits/{BU}/weeks/2026-03-30/shorttermforecasts"
    assert (upload_url.method, upload_url.path) == ("POST", base + "/import/uploadurl")
    assert upload_url.headers["Authorization"] == "Bearer tok-1"
    assert json.loads(upload_url.body) == {"contentLengthBytes": len(put.body)}
    assert (put.method, put.path) == ("PUT", "/s3/upload-1")
    assert put.headers["Content-Encoding"] == "gzip"
    assert (do_import.method, do_import.path) == ("POST", base + "/import")
    assert json.loads(do_import.body) == {"uploadKey": "upload-key-1"}
    assert not any(r.path.startswith("/api/v2/wfm/") for r in receiver.requests)  # the invented path

    body = json.loads(gzip.decompress(put.body))
    assert set(body) == {"description", "weekCount", "canUseForScheduling", "planningGroups"}
    assert body["weekCount"] == 5  # 30 days from Monday 30 March end on Tuesday 28 April
    (group,) = body["planningGroups"]
    assert set(group) == {"planningGroupId", "offeredPerInterval", "averageHandleTimeSecondsPerInterval"}
    assert group["planningGroupId"] == "pg-voice"
    offered = group["offeredPerInterval"]
    assert len(offered) == len(group["averageHandleTimeSecondsPerInterval"]) == 5 * 7 * 96
    expected = sum(ForecastPoint.objects.filter(
        series__run=run, series__wrapup_code__in=["c-sales", "c-billing"], kind="forecast"
    ).values_list("volume", flat=True))
    assert sum(offered) == pytest.approx(expected, abs=0.1)
    # Every call was at 10:00-10:59 local: the hour-of-day profile puts volume only there.
    first_day = offered[:96]
    assert all(v == 0 for i, v in enumerate(first_day) if not 40 <= i < 44)
    assert first_day[40] == pytest.approx(first_day[43]) and first_day[40] > 0
    assert sum(offered[30 * 96:]) == 0  # after the horizon
    assert set(group["averageHandleTimeSecondsPerInterval"]) == {120.0}  # talk_ms 120 000

    entry = AuditEntry.objects.get(action="forecast.handoff.genesys_wfm")
    assert entry.changes["ok"] is True and entry.changes["status"] == 202
    assert len(entry.changes["attempts"]) == 4
    assert "tok-1" not in json.dumps(entry.changes) and "csecret" not in json.dumps(entry.changes)


@pytest.mark.django_db
def test_a_sunday_week_start_pads_the_first_day(run, wfm_target):
    wfm_target.week_start_day = 6
    week_date, body, unmapped = genesys_wfm.build_import_body(run, wfm_target)
    assert week_date == date(2026, 3, 29)
    assert unmapped == ["c-tech"]
    offered = body["planningGroups"][0]["offeredPerInterval"]
    assert sum(offered[:96]) == 0 and sum(offered[96:192]) > 0


@pytest.mark.django_db
def test_nothing_is_sent_without_a_mapping(run, wfm_target, receiver):
    wfm_target.mappings.all().delete()
    delivery = services.send_forecast(run=run, target=wfm_target, actor="system")
    assert not delivery.ok
    assert receiver.requests == []
    entry = AuditEntry.objects.get(action="forecast.handoff.genesys_wfm")
    assert entry.changes["error"] == "No forecast wrap-up code of this run is mapped to a planning group."


@pytest.mark.django_db
def test_a_rejected_token_stops_the_import(run, wfm_target, receiver):
    receiver.routes = {"/oauth/token": lambda req: (401, {}, b'{"error":"invalid_client"}')}
    delivery = services.send_forecast(run=run, target=wfm_target, actor="system")
    assert not delivery.ok and delivery.status == 401
    assert delivery.error == "token: HTTP 401"
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_import_body_uses_only_fields_of_the_sdk_models(run, wfm_target):
    models = pytest.importorskip("PureCloudPlatformClientV2.models")  # test-only dependency
    _, body, _ = genesys_wfm.build_import_body(run, wfm_target)
    assert set(body) <= set(models.BuImportShortTermForecastSchema().attribute_map.values())
    for group in body["planningGroups"]:
        assert set(group) <= set(models.ForecastPlanningGroupData().attribute_map.values())
