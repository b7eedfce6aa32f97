"""The RingCX (Engage Voice) adapter: interaction metadata first, the deprecated CSV report as fallback.

Neither path has async jobs. ``submit_job`` returns the chunk's interval as the job id (so
``fetch_job_page`` knows its window) and the job is READY at once. Interaction metadata is walked
in windows of at most ``window_seconds`` (≤ 10800 s, §1.7); the cursor is the next window's start.
Rows come per segment and are selected by segment end [A], so a call's early segments can fall in
the previous window: each request reaches ``lookback_seconds`` further back, and a call is kept
only by the window holding its last segment, which then has all of it (calls up to the look-back).
The CSV report is one request per chunk. Connection settings (non-secret): ``rc_account_id``,
``sub_account_id``, ``use_deprecated_report``, ``report_timezone``, ``metadata_timezone``,
``window_seconds``, ``lookback_seconds``, ``min_age_seconds``, ``request_limits`` ([[count, seconds], ...]),
``rc_platform_url``, ``user_id``.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from extraction.platforms import FlatPage, JobStatus, Limits, Page, PlatformError
from extraction.platforms.engage import metadata, report
from extraction.platforms.engage.calls import rows_for
from extraction.platforms.engage.client import EngageClient, MalformedResponse
from extraction.platforms.engage.transport import Pacer, Transport

if TYPE_CHECKING:
    from extraction.models import Connection

logger = logging.getLogger(__name__)

ADMIN = "/v1/admin"
DEFAULT_REQUEST_LIMITS = [[3, 60], [9, 900]]  # §1.7, per sub-account
DEFAULT_MIN_AGE_SECONDS = 300  # §1.7: windows must end at least 5 minutes ago
JOB_TIME = "%Y%m%dT%H%M%SZ"


def _zone(name: Any, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise PlatformError(f"{what} {name!r} is not a tz-database zone name (e.g. US/Eastern)") from None


def job_id_for(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(UTC):{JOB_TIME}}/{end.astimezone(UTC):{JOB_TIME}}"


def window_of(job_id: str) -> tuple[datetime, datetime]:
    try:
        start, end = job_id.split("/")
        return (datetime.strptime(start, JOB_TIME).replace(tzinfo=UTC),
                datetime.strptime(end, JOB_TIME).replace(tzinfo=UTC))
    except ValueError:
        raise PlatformError(f"Not an Engage window id: {job_id[:40]!r}") from None


class EngageAdapter:
    key = "engage"

    def __init__(self, connection: Connection) -> None:
        options = connection.settings or {}
        self.connection = connection
        self.region = connection.default_region or "US"
        self.rc_account_id = str(options.get("rc_account_id") or "")
        self.sub_account_id = str(options.get("sub_account_id") or "")
        self.use_report = bool(options.get("use_deprecated_report", False))
        self.report_zone = _zone(options.get("report_timezone"), "report_timezone")
        # [A] UTC windows avoid DST gaps; the doc's example sends US/Eastern.
        self.metadata_zone = _zone(options.get("metadata_timezone"), "metadata_timezone")
        self.window_seconds = max(60, min(int(options.get("window_seconds", metadata.MAX_INTERVAL_SECONDS)),
                                          metadata.MAX_INTERVAL_SECONDS))
        # The look-back trades requests for whole calls: 1800 s makes each step 2.5 h of new data.
        lookback = max(0, min(int(options.get("lookback_seconds", 1800)), self.window_seconds - 60))
        self.lookback = timedelta(seconds=lookback)
        self.step = timedelta(seconds=self.window_seconds - lookback)
        self.min_age = timedelta(seconds=int(options.get("min_age_seconds", DEFAULT_MIN_AGE_SECONDS)))
        self.user_id = str(options.get("user_id") or "")
        if not self.sub_account_id or (not self.use_report and not self.rc_account_id):
            raise PlatformError("The Engage connection needs settings sub_account_id and (for interaction "
                                "metadata) rc_account_id.")
        transport = Transport(
            platform="RingCX",
            timeout=float(options.get("timeout_seconds", settings.HTTP_TIMEOUT_SECONDS)),
            max_attempts=int(options.get("max_attempts", 6)),
            backoff_base=float(options.get("backoff_base", 0.5)),
        )
        base = (connection.base_url or "").rstrip("/")
        self.client = EngageClient(
            connection, transport=transport, pacer=Pacer(options.get("request_limits", DEFAULT_REQUEST_LIMITS)),
            pace_key=f"engage|{base}|{self.sub_account_id}")
        self._profiles: tuple[list[int | None], list[int]] | None = None

    # --- contract: limits and jobs -----------------------------------------------------------
    def limits(self) -> Limits:
        # One chunk per day, one at a time: the rate limit is per sub-account, so parallel
        # chunks would only wait on each other. page_size is unused (windows are by time).
        return Limits(max_interval_days=1, page_size=self.window_seconds, max_concurrent_jobs=1)

    def data_availability(self) -> datetime | None:
        return timezone.now() - self.min_age

    def submit_job(self, start: datetime, end: datetime) -> str:
        return job_id_for(start, end)

    def job_status(self, job_id: str) -> JobStatus:
        return JobStatus(state="READY", ready=True)

    def delete_job(self, job_id: str) -> None:
        return None

    def fetch_job_page(self, job_id: str, cursor: str | None) -> Page:
        start, end = window_of(job_id)
        if self.use_report:
            return Page(records=self._report_rows(start, end))
        window_start = datetime.strptime(cursor, JOB_TIME).replace(tzinfo=UTC) if cursor else start
        window_end = min(window_start + self.step, end)
        records = self._metadata_rows(window_start, window_end)
        return Page(records=records, next_cursor=f"{window_end:{JOB_TIME}}" if window_end < end else None)

    def fetch_query_page(self, start: datetime, end: datetime, page_number: int) -> Page:
        """Recent data: windows up to the 5-minute horizon; the next scheduled run's overlap gets the rest."""
        horizon = min(end, timezone.now() - self.min_age)
        if self.use_report:
            return Page(records=self._report_rows(start, horizon) if start < horizon else [])
        window_start = start + self.step * (page_number - 1)
        if window_start >= horizon:
            return Page(records=[])
        window_end = min(window_start + self.step, horizon)
        records = self._metadata_rows(window_start, window_end)
        return Page(records=records, next_page_number=page_number + 1 if window_end < horizon else None)

    def fetch_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        return []  # both reports hold finished calls only; nothing is stored open

    # --- contract: flatten -----------------------------------------------------------------
    def flatten(self, records: list[dict[str, Any]]) -> FlatPage:
        """CSV rows and/or metadata segments -> one Conversation and one CallLeg per call."""
        page = FlatPage()
        calls: dict[str, Any] = {}
        skipped: Counter[str] = Counter()
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            if "uii" in record:
                line = record.get(report.LINE, "?")
                try:
                    call, note = report.row_to_call(record, self.report_zone)
                except report.RowError as exc:
                    page.problems.append(f"line {line}, {exc}")
                    continue
                if note:
                    page.problems.append(f"line {line}, {note}")
                calls[call.call_id] = call
                continue
            channel = str(record.get("channelType") or "VOICE").upper()
            if channel != "VOICE":
                skipped[channel.lower()] += 1
                continue
            call_id = str(record.get("interactionId") or record.get("dialogId") or "").strip()
            if not call_id:
                page.problems.append(f"{record.get(metadata.POSITION, 'a segment')}: no interactionId/dialogId")
                continue
            groups.setdefault(call_id, []).append(record)
        for call_id, segments in groups.items():
            where = segments[0].get(metadata.POSITION, "interaction")
            try:
                if not metadata.ends_in_step(segments):
                    continue  # its last segment is in a neighbouring window, which stores it whole
                call, note = metadata.segments_to_call(call_id, segments)
            except metadata.SegmentError as exc:
                page.problems.append(f"{where}: {exc}")
                continue
            if note:
                page.problems.append(f"{where}: {note}")
            calls[call_id] = call
        for call in calls.values():
            conversation, leg = rows_for(call, region=self.region)
            page.conversations.append(conversation)
            page.legs.append(leg)
        page.skipped = dict(skipped)
        return page

    # --- contract: reference data and test ----------------------------------------------------
    def sync_reference_data(self) -> tuple[dict[str, str], dict[str, str]]:
        """Queues = cloud destinations (CSV ``connected_id``) and agent groups (metadata ids)."""
        queues: dict[str, str] = {}
        if self.use_report:
            for group in self._input_controls("CLOUD_DESTINATION"):
                for child in group.get("children") or []:
                    if isinstance(child, dict) and child.get("objId") is not None:
                        queues[str(child["objId"])] = str(child.get("objName") or "")
        else:
            # [A] agent groups listing (current admin API); answer shape assumed [{agentGroupId, groupName}].
            body = self.client.get_json(f"{ADMIN}/accounts/{self.sub_account_id}/agentGroups")
            for group in body if isinstance(body, list) else []:
                if isinstance(group, dict) and group.get("agentGroupId") is not None:
                    queues[str(group["agentGroupId"])] = str(group.get("groupName") or "")
        return {}, queues

    def test(self) -> str:
        """Get a token and list the sub-accounts this login can see."""
        self.client.access_token()
        accounts = self.client.get_json(f"{ADMIN}/accounts")
        count = len(accounts) if isinstance(accounts, list) else 0
        path = "deprecated Call Detail Report" if self.use_report else "interaction metadata"
        return f"Token OK; {count} sub-account(s) visible; extracting with {path}"

    # --- helpers ---------------------------------------------------------------------------
    def _metadata_rows(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Segments of the calls whose last segment ends in [start, end), asked with the look-back."""
        if end > timezone.now() - self.min_age:
            raise PlatformError(f"RingCX only serves windows ending at least {self.min_age} ago; retry later")
        if end <= start:
            return []
        asked = start - self.lookback
        seconds = int((end - asked).total_seconds())
        path = (f"/cx/integration/v1/accounts/{self.rc_account_id}/sub-accounts/{self.sub_account_id}"
                "/interaction-metadata")
        body = self.client.post_json(path, metadata.metadata_body(start=asked, seconds=seconds,
                                                                  zone=self.metadata_zone), paced=True)
        rows = metadata.segment_rows(body)
        if rows is None or any(not isinstance(r, dict) for r in rows):
            raise MalformedResponse("RingCX sent interaction metadata that is not an array of segments")
        for i, row in enumerate(rows, start=1):
            row[metadata.POSITION] = f"segment {i} of window {start:%Y-%m-%d %H:%M}Z"
            row[metadata.STEP] = [start.isoformat(), end.isoformat(), asked.isoformat()]
        return rows

    def _input_controls(self, product: str) -> list[dict[str, Any]]:
        user_id = self.user_id or self._first_user_id()
        body = self.client.get_json(
            f"{ADMIN}/accounts/{self.sub_account_id}/users/{user_id}/reports/inputControls",
            params={"accountIds": self.sub_account_id, "products": product})
        if isinstance(body, dict):
            body = next((body[k] for k in ("groups", "inputControls", "data", "items")
                         if isinstance(body.get(k), list)), [])
        return [g for g in body if isinstance(g, dict)] if isinstance(body, list) else []

    def _first_user_id(self) -> str:
        users = self.client.get_json(f"{ADMIN}/users")
        for user in users if isinstance(users, list) else []:
            if isinstance(user, dict) and user.get("userId") is not None:
                self.user_id = str(user["userId"])
                return self.user_id
        raise PlatformError("RingCX lists no users, so the report's cloud profiles cannot be discovered; "
                            "set user_id in the connection settings")

    def _report_rows(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        if self._profiles is None:
            self._profiles = report.profile_ids(self._input_controls("CLOUD_PROFILE"))
            if not self._profiles[1]:
                raise PlatformError("RingCX lists no cloud profiles for this sub-account: nothing to report on")
        groups, profiles = self._profiles
        body = report.report_body(account_id=self.sub_account_id, profile_groups=groups, profiles=profiles,
                                  start=start, end=end, zone=self.report_zone)
        response = self.client.call("POST", f"{ADMIN}/accounts/{self.sub_account_id}/reportsStreaming",
                                    json_body=body, paced=True)
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedResponse("RingCX sent a Call Detail Report that is not UTF-8 text") from None
        return report.parse_csv(text)
