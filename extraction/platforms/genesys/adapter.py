"""The Genesys Cloud adapter: async detail jobs, the sync query, listings and limits (genesys-cloud.md)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from extraction.platforms import FlatPage, JobGone, JobStatus, Limits, Page, PlatformError
from extraction.platforms.genesys.client import GenesysClient, GenesysError, JobNotReady, hosts_for
from extraction.platforms.genesys.flatten import flatten_conversations, parse_time

if TYPE_CHECKING:
    from extraction.models import Connection

logger = logging.getLogger(__name__)

JOBS = "/api/v2/analytics/conversations/details/jobs"
QUERY = "/api/v2/analytics/conversations/details/query"
MULTI_GET = "/api/v2/analytics/conversations/details"
AVAILABILITY = "/api/v2/analytics/conversations/details/jobs/availability"
WRAPUP_CODES = "/api/v2/routing/wrapupcodes"
QUEUES = "/api/v2/routing/queues"
LIMITS = "/api/v2/organizations/limits/namespaces/analytics"

# §4.4/§11: only the concurrency key is named anywhere (third-party code, value unknown). The
# interval and page-size keys are our assumption [A]; when absent we use the settings fallbacks.
LIMIT_KEYS = {
    "max_concurrent_jobs": "details.jobs.concurrent.access.max",
    "max_interval_days": "details.jobs.interval.max.days",  # [A]
    "page_size": "details.jobs.results.page.size.max",  # [A]
}
# §5 [3P]: the sync query allows at most 7 days and 100 per page in the wild.
QUERY_PAGE_SIZE = 100
FINISHED_JOB_STATES = {"FAILED", "CANCELLED", "EXPIRED"}


def iso(value: datetime) -> str:
    """UTC ISO-8601 with milliseconds and Z, the form the API uses (§4.1)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def voice_filters() -> dict[str, Any]:
    """Voice conversations only (job_create_request.json)."""
    return {
        "segmentFilters": [
            {"type": "and", "predicates": [
                {"type": "dimension", "dimension": "mediaType", "operator": "matches", "value": "voice"}
            ]}
        ]
    }


def job_body(start: datetime, end: datetime) -> dict[str, Any]:
    """``AsyncConversationQuery``: jobs return every conversation overlapping the interval (§4.1)."""
    return {"interval": f"{iso(start)}/{iso(end)}", "order": "asc", "orderBy": "conversationStart",
            "startOfDayIntervalMatching": False, **voice_filters()}


def query_body(start: datetime, end: datetime, page_number: int, page_size: int) -> dict[str, Any]:
    """``ConversationQuery`` with page-number paging (§5)."""
    return {"interval": f"{iso(start)}/{iso(end)}", "order": "asc", "orderBy": "conversationStart",
            "paging": {"pageSize": page_size, "pageNumber": page_number}, **voice_filters()}


class GenesysAdapter:
    key = "genesys"

    def __init__(self, connection: Connection) -> None:
        api_base, login_base = hosts_for(region=connection.region, base_url=connection.base_url)
        options = connection.settings or {}
        self.connection = connection
        self.region = connection.default_region or "US"
        self.client = GenesysClient(
            api_base=api_base,
            login_base=login_base,
            client_id=connection.client_id,
            client_secret=connection.client_secret or "",
            timeout=float(options.get("timeout_seconds", settings.HTTP_TIMEOUT_SECONDS)),
            max_attempts=int(options.get("max_attempts", getattr(settings, "GENESYS_MAX_ATTEMPTS", 6))),
            backoff_base=float(options.get("backoff_base", getattr(settings, "GENESYS_BACKOFF_BASE", 0.5))),
        )
        self._limits: Limits | None = None

    def fork(self) -> GenesysAdapter:
        """A copy with its own HTTP session, for reading job pages ahead from another thread.

        It shares the limits already read and the process-wide token cache, and never touches the
        database, so the pipeline may use it while the main thread stores a page.
        """
        clone = GenesysAdapter(self.connection)
        clone._limits = self._limits
        return clone

    def fallback_limits(self) -> Limits:
        return Limits(
            max_interval_days=settings.GENESYS_MAX_JOB_INTERVAL_DAYS,
            page_size=settings.GENESYS_PAGE_SIZE,
            max_concurrent_jobs=settings.GENESYS_MAX_CONCURRENT_JOBS,
        )

    def limits(self) -> Limits:
        """Live values from the organization limits endpoint (§11), settings for what is missing."""
        if self._limits is not None:
            return self._limits
        fallback = self.fallback_limits()
        values: dict[str, int] = {}
        try:
            listing = self.client.get(LIMITS) or {}
            by_key = {e.get("key"): e.get("value") for e in listing.get("entities") or []}
            for name, key in LIMIT_KEYS.items():
                if isinstance(by_key.get(key), int | float) and by_key[key] > 0:
                    values[name] = int(by_key[key])
        except PlatformError as exc:
            logger.warning("genesys limits unavailable (%s); using the settings fallbacks", exc)
        self._limits = Limits(
            max_interval_days=values.get("max_interval_days", fallback.max_interval_days),
            page_size=values.get("page_size", fallback.page_size),
            max_concurrent_jobs=values.get("max_concurrent_jobs", fallback.max_concurrent_jobs),
        )
        return self._limits

    def data_availability(self) -> datetime | None:
        body = self.client.get(AVAILABILITY) or {}
        return parse_time(body.get("dataAvailabilityDate"))

    def submit_job(self, start: datetime, end: datetime) -> str:
        body = self.client.post(JOBS, job_body(start, end)) or {}
        job_id = body.get("jobId")
        if not job_id:
            raise PlatformError("Genesys accepted the job but sent no jobId")
        return str(job_id)

    def job_status(self, job_id: str) -> JobStatus:
        try:
            body = self.client.get(f"{JOBS}/{job_id}") or {}
        except JobNotReady:
            return JobStatus(state="EXPIRED", gone=True, error="the platform no longer knows this job")
        state = str(body.get("state") or "")
        return JobStatus(
            state=state,
            ready=state == "FULFILLED",
            gone=state in FINISHED_JOB_STATES,
            error=str(body.get("errorMessage") or ""),
            expires_at=parse_time(body.get("expirationDate")),
        )

    def delete_job(self, job_id: str) -> None:
        try:
            self.client.delete(f"{JOBS}/{job_id}")
        except PlatformError as exc:  # deleting is tidiness, never a reason to fail a run
            logger.info("genesys job %s not deleted: %s", job_id, exc)

    def fetch_job_page(self, job_id: str, cursor: str | None) -> Page:
        params: dict[str, Any] = {"pageSize": self.limits().page_size}
        if cursor:
            params["cursor"] = cursor
        try:
            body = self.client.get(f"{JOBS}/{job_id}/results", params=params)
        except GenesysError as exc:
            # §11: results of a job that is not FULFILLED (or an expired cursor) answer 400/404/409;
            # ask the job's state to tell "resubmit" from a real error.
            if exc.status not in (400, 404, 409):
                raise
            status = self.job_status(job_id)
            if status.gone or not status.ready:
                raise JobGone(f"job {status.state or 'unknown'}: {exc}") from exc
            raise
        body = _object(body, "job results")
        return Page(
            records=_conversations(body),
            next_cursor=body.get("cursor") or None,  # absent on the last page (§4.3)
            data_availability=parse_time(body.get("dataAvailabilityDate")),
        )

    def fetch_query_page(self, start: datetime, end: datetime, page_number: int) -> Page:
        page_size = min(QUERY_PAGE_SIZE, self.limits().page_size)
        body = _object(self.client.post(QUERY, query_body(start, end, page_number, page_size)), "query")
        records = _conversations(body)
        total = int(body.get("totalHits") or 0)
        # §5: stop on a short page or when pageNumber*pageSize >= totalHits (which is approximate).
        more = len(records) == page_size and page_number * page_size < total
        return Page(records=records, next_page_number=page_number + 1 if more else None)

    def fetch_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for i in range(0, len(ids), 100):
            body = _object(self.client.get(MULTI_GET, params={"id": ",".join(ids[i:i + 100])}), "multi-get")
            records.extend(_conversations(body))
        return records

    def flatten(self, records: list[dict[str, Any]]) -> FlatPage:
        return flatten_conversations(records, region=self.region)

    def sync_reference_data(self) -> tuple[dict[str, str], dict[str, str]]:
        return self._listing(WRAPUP_CODES), self._listing(QUEUES)

    def _listing(self, path: str) -> dict[str, str]:
        names: dict[str, str] = {}
        page_number = 1
        while True:
            body = _object(self.client.get(path, params={"pageSize": 100, "pageNumber": page_number}), path)
            for entity in body.get("entities") or []:
                if entity.get("id"):
                    names[str(entity["id"])] = str(entity.get("name") or "")
            if page_number >= int(body.get("pageCount") or 1) or not body.get("entities"):
                return names
            page_number += 1

    def test(self) -> str:
        """Get a token and make one cheap call (the data-lake watermark)."""
        self.client.token(force=True)
        available = self.data_availability()
        return f"Token OK; data available up to {available:%Y-%m-%d %H:%M} UTC" if available else "Token OK"


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PlatformError(f"Genesys sent an unexpected {what} payload (not a JSON object)")
    return body


def _conversations(body: dict[str, Any]) -> list[dict[str, Any]]:
    records = body.get("conversations") or []
    if not isinstance(records, list) or any(
        not isinstance(r, dict) or not r.get("conversationId") or not r.get("conversationStart") for r in records
    ):
        raise PlatformError("Genesys sent conversations without conversationId/conversationStart")
    return records
