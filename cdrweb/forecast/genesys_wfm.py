"""Genesys Cloud WFM short-term forecast import (genesys-cloud.md §12), from a finished run.

Real paths only: ``/api/v2/workforcemanagement/businessunits/{bu}/weeks/{weekDateId}/shorttermforecasts``
``/import/uploadurl`` → PUT gzip JSON to the returned url → ``/import``. The tutorial path
``/api/v2/wfm/scheduling/forecasts`` is invented (§13) and never called.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypedDict

import numpy as np

from cdrweb.forecast import selectors, webhook
from cdrweb.forecast.models import ForecastPoint, ForecastRun, ForecastSeries, HandoffTarget

INTERVALS_PER_DAY = 96  # §12: 15-minute intervals
# [A] §12 does not say how a day with a DST change is laid out; we assume 96 intervals every day,
# starting at local midnight in the site TIME_ZONE, which we assume is the business unit's time zone.


class PlanningGroupForecast(TypedDict):
    planningGroupId: str
    offeredPerInterval: list[float]
    averageHandleTimeSecondsPerInterval: list[float]


class BuImportShortTermForecastSchema(TypedDict, total=False):
    description: str
    weekCount: int
    canUseForScheduling: bool
    planningGroups: list[PlanningGroupForecast]
    # longTermPlanningGroups (offeredPerDay) is left out. [A] SDK 269 marks no field of this model
    # as required, so whether Genesys accepts an import without it is unverified.


def week_date_for(day: date, week_start_day: int) -> date:
    """The business unit's first day of the week containing ``day`` (weekDateId must be one, §12)."""
    return day - timedelta(days=(day.weekday() - week_start_day) % 7)


def build_import_body(
    run: ForecastRun, target: HandoffTarget
) -> tuple[date, BuImportShortTermForecastSchema, list[str]]:
    """(weekDate, import body, unmapped codes) for the run's mapped wrap-up codes.

    Daily forecast volume is spread over 15-minute intervals by each code's historical hour-of-day
    profile (equal quarters within an hour). That is an assumption: the daily model knows nothing
    of intraday shape. Days of the first week before the forecast starts, and after it ends, get 0.
    AHT is the historical mean talk time: CallLeg has no hold or after-call work, so it understates
    the handle time WFM expects.
    """
    first = run.history_end + timedelta(days=1)
    week_date = week_date_for(first, target.week_start_day)
    last = first + timedelta(days=run.horizon_days - 1)
    week_count = math.ceil(((last - week_date).days + 1) / 7)
    slots = week_count * 7 * INTERVALS_PER_DAY

    mapping = dict(target.mappings.values_list("wrapup_code", "planning_group_id"))
    ok_codes = set(
        ForecastSeries.objects.filter(run=run, status=ForecastSeries.Status.OK).values_list("wrapup_code", flat=True)
    )
    codes = [c for c in run.wrapup_codes if c in mapping and c in ok_codes]
    unmapped = [c for c in run.wrapup_codes if c not in mapping]
    profiles = selectors.hourly_profile(codes=codes, start=run.history_start, end=run.history_end)
    aht = selectors.average_talk_seconds(codes=codes, start=run.history_start, end=run.history_end)
    points = ForecastPoint.objects.filter(
        series__run=run, series__wrapup_code__in=codes, kind=ForecastPoint.Kind.FORECAST
    ).values_list("series__wrapup_code", "day", "volume")

    offered: dict[str, np.ndarray] = {}
    handle: dict[str, np.ndarray] = {}  # offered × AHT, to average AHT by volume per interval
    daily: dict[str, np.ndarray] = {c: np.zeros(week_count * 7) for c in codes}
    for code, day, volume in points:
        daily[code][(day - week_date).days] = volume
    for code in codes:
        hours = np.array(profiles.get(code, [1 / 24] * 24))  # no history of times: flat day [A]
        slot_share = np.repeat(hours / 4, 4)  # 96 quarter-hours
        per_slot = np.outer(daily[code], slot_share).ravel()
        group = mapping[code]
        offered.setdefault(group, np.zeros(slots))
        handle.setdefault(group, np.zeros(slots))
        offered[group] += per_slot
        handle[group] += per_slot * aht.get(code, 0.0)

    groups: list[PlanningGroupForecast] = []
    for group, volume in offered.items():
        mean_aht = float(handle[group].sum() / volume.sum()) if volume.sum() else 0.0
        per_interval = np.divide(handle[group], volume, out=np.full(slots, mean_aht), where=volume > 0)
        groups.append({
            "planningGroupId": group,
            "offeredPerInterval": [round(float(v), 3) for v in volume],
            "averageHandleTimeSecondsPerInterval": [round(float(v), 1) for v in per_interval],
        })
    body: BuImportShortTermForecastSchema = {
        "description": f"cdrweb forecast #{run.pk} ({run.confidence_pct}% run, mean volumes)"[:100],
        "weekCount": week_count,
        "canUseForScheduling": True,
        "planningGroups": groups,
    }
    return week_date, body, unmapped


def _hosts(target: HandoffTarget) -> tuple[str, str]:
    """(API base, token base): §1, api.<domain> and login.<domain>; an explicit base URL serves both."""
    connection = target.connection
    if connection.base_url:
        base = connection.base_url.rstrip("/")
        return base, base
    return f"https://api.{connection.region}", f"https://login.{connection.region}"


def _combine(steps: list[webhook.Delivery], error: str = "") -> webhook.Delivery:
    last = steps[-1] if steps else None
    ok = bool(steps) and all(s.ok for s in steps) and not error
    return webhook.Delivery(
        ok=ok,
        status=last.status if last else None,
        latency_ms=sum(s.latency_ms for s in steps),
        attempts=tuple(a for s in steps for a in s.attempts),
        error=error or (last.error if last and not last.ok else ""),
    )


def _json(delivery: webhook.Delivery) -> dict[str, Any]:
    try:
        return json.loads(delivery.body or b"{}")
    except ValueError:
        return {}


def import_forecast(*, run: ForecastRun, target: HandoffTarget) -> webhook.Delivery:
    """Token, upload URL, gzip PUT, import: the three §12 steps; stops at the first failed step."""
    week_date, body, _unmapped = build_import_body(run, target)
    if not body["planningGroups"]:
        return _combine([], error="No forecast wrap-up code of this run is mapped to a planning group.")
    api, login = _hosts(target)
    retry = {"timeout_seconds": target.timeout_seconds, "max_attempts": target.max_attempts,
             "backoff_seconds": Decimal(target.backoff_seconds)}
    basic = base64.b64encode(f"{target.connection.client_id}:{target.connection.client_secret}".encode()).decode()
    steps = [webhook.deliver(
        "POST", f"{login}/oauth/token", data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        **retry,
    )]
    token = _json(steps[-1]).get("access_token")
    if not steps[-1].ok or not token:
        return _combine(steps, error="token: " + (steps[-1].error or "no access_token"))
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    base = (f"{api}/api/v2/workforcemanagement/businessunits/{target.business_unit_id}"
            f"/weeks/{week_date.isoformat()}/shorttermforecasts")
    payload = gzip.compress(json.dumps(body, separators=(",", ":")).encode())
    steps.append(webhook.deliver(
        "POST", f"{base}/import/uploadurl", data=json.dumps({"contentLengthBytes": len(payload)}).encode(),
        headers=auth, **retry,
    ))
    upload = _json(steps[-1])
    if not steps[-1].ok or not upload.get("url") or not upload.get("uploadKey"):
        return _combine(steps, error="uploadurl: " + (steps[-1].error or "no url/uploadKey"))
    steps.append(webhook.deliver(
        "PUT", upload["url"], data=payload, headers=dict(upload.get("headers") or {}), **retry,
    ))
    if not steps[-1].ok:
        return _combine(steps, error="upload: " + steps[-1].error)
    steps.append(webhook.deliver(
        "POST", f"{base}/import", data=json.dumps({"uploadKey": upload["uploadKey"]}).encode(),
        headers=auth, **retry,
    ))
    return _combine(steps, error="" if steps[-1].ok else "import: " + steps[-1].error)
