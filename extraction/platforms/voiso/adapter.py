"""The Voiso adapter: v2 CDR paging (page/per_page, then ``search_token``) or v4 cursor paging.

v2 (platforms-and-carriers.md §2.1): ``start_date``/``end_date`` are dates only, so a day is the
smallest window and chunks are one day by default; within a search, pages are walked until a short
page or the 10,000-record cap; then, while the newest ``search_token`` is not null, the search is
repeated with it (page back to 1). ``total`` changes between searches and is never a stop signal.
v4 (§2.2) takes exact instants and a ``cursor`` (``metadata.next_cursor``).

Like Engage there are no async jobs: the job id is the chunk's window, READY at once; the cursor
is our JSON state ``{"token", "page", "newest"}`` (v2) or the platform's cursor (v4).
Connection settings: ``cluster_id``, ``api_version`` (v2|v4), ``per_page``, ``window_days``,
``report_timezone`` (the zone dates are read in, [A] UTC), ``request_limits``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import requests
from django.conf import settings
from django.utils import timezone

from extraction.platforms import FlatPage, JobStatus, Limits, Page, PlatformError
from extraction.platforms.engage.adapter import job_id_for, window_of
from extraction.platforms.engage.calls import rows_for
from extraction.platforms.engage.transport import Pacer, Transport, path_of
from extraction.platforms.voiso import records as vr

if TYPE_CHECKING:
    from extraction.models import Connection

logger = logging.getLogger(__name__)
_KEY_PARAM = re.compile(r"(?<=[?&])key=[^&\s\"]*")


class _RedactKey(logging.Filter):
    """urllib3 logs request lines at DEBUG, and v2 puts the API key in the query string (§2.1)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "key=" in message:
            record.msg, record.args = _KEY_PARAM.sub("key=***", message), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactKey())

CDR_V2 = "/api/v2/cdr"
CDR_V4 = "/api/v4/reporting/cdrs"
SEARCH_CAP = 10_000  # §2.1
V4_LIMIT_MAX = 1000  # §2.2


class VoisoError(PlatformError):
    pass


class VoisoAdapter:
    key = "voiso"

    def __init__(self, connection: Connection) -> None:
        options = connection.settings or {}
        self.connection = connection
        self.region = connection.default_region or "US"
        cluster = str(options.get("cluster_id") or connection.region or "").strip()
        if connection.base_url:
            self.base = connection.base_url.rstrip("/")
        elif cluster:
            self.base = f"https://{cluster}.voiso.com"  # §2.1
        else:
            raise VoisoError("The Voiso connection needs a cluster id (settings cluster_id) or a base URL")
        self.key_value = connection.client_secret or ""
        if not self.key_value:
            raise VoisoError("The Voiso connection has no API key (client secret)")
        self.version = str(options.get("api_version") or "v2").lower()
        if self.version not in ("v2", "v4"):
            raise VoisoError(f"api_version must be v2 or v4, not {self.version!r}")
        cap = V4_LIMIT_MAX if self.version == "v4" else SEARCH_CAP
        self.per_page = max(1, min(int(options.get("per_page", 1000)), cap))
        self.search_cap = int(options.get("search_cap", SEARCH_CAP))
        self.window_days = max(1, int(options.get("window_days", 1)))
        try:
            self.zone = ZoneInfo(str(options.get("report_timezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            raise VoisoError(f"report_timezone {options.get('report_timezone')!r} is not a tz-database name") from None
        # [A] The zone Voiso reads start_date/end_date in is unpublished. Unless the admin names it,
        # ask for a day more on each side and keep only the chunk's own instants: more traffic,
        # but no call near midnight is lost to a wrong guess.
        self.date_margin = timedelta(days=int(options.get(
            "date_margin_days", 0 if options.get("report_timezone") else 1)))
        self.transport = Transport(
            platform="Voiso", timeout=float(options.get("timeout_seconds", settings.HTTP_TIMEOUT_SECONDS)),
            max_attempts=int(options.get("max_attempts", 6)), backoff_base=float(options.get("backoff_base", 0.5)))
        # §2.1: numeric limits are unpublished [A]; none by default, 429 + Retry-After is obeyed.
        self.pacer = Pacer(options.get("request_limits", []))
        self._unknown_logged: set[str] = set()

    # --- contract ------------------------------------------------------------------------
    def limits(self) -> Limits:
        return Limits(max_interval_days=self.window_days, page_size=self.per_page, max_concurrent_jobs=1)

    def data_availability(self) -> datetime | None:
        return None

    def submit_job(self, start: datetime, end: datetime) -> str:
        return job_id_for(start, end)

    def job_status(self, job_id: str) -> JobStatus:
        return JobStatus(state="READY", ready=True)

    def delete_job(self, job_id: str) -> None:
        return None

    def fetch_job_page(self, job_id: str, cursor: str | None) -> Page:
        start, end = window_of(job_id)
        if self.version == "v4":
            return self._v4_page(start, end, cursor)
        return self._v2_page(start, end, cursor)

    def fetch_query_page(self, start: datetime, end: datetime, page_number: int) -> Page:
        """Not used while data_availability() is None; walks the whole window as one page."""
        records: list[dict[str, Any]] = []
        job, cursor = job_id_for(start, end), None
        while True:
            page = self.fetch_job_page(job, cursor)
            records.extend(page.records)
            if page.next_cursor is None:
                return Page(records=records)
            cursor = page.next_cursor

    def fetch_by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        return []  # CDRs describe finished calls; nothing is stored open

    def flatten(self, records: list[dict[str, Any]]) -> FlatPage:
        """Voice records -> one Conversation and one CallLeg each; other types skipped and counted."""
        page = FlatPage()
        skipped: Counter[str] = Counter()
        calls = {}
        unknown: set[str] = set()
        for record in records:
            where = record.get(vr.POSITION, "a record")
            try:
                if "data" in record and "id" in record:  # v4
                    kind = str(record.get("type") or "").lower()
                    if kind != "call":
                        skipped[kind or "untyped"] += 1
                        continue
                    call = vr.v4_call(record)
                else:
                    kind = vr.kind_of(record)
                    if kind in vr.NON_VOICE_TYPES:
                        skipped[kind] += 1
                        continue
                    if kind not in vr.INBOUND_TYPES | vr.OUTBOUND_TYPES:
                        skipped[kind or "untyped"] += 1
                        page.problems.append(f"{where}: type {kind[:30]!r} is not a known voice type; skipped")
                        continue
                    unknown |= vr.unknown_fields(record)
                    call = vr.v2_call(record, kind)
            except vr.RecordError as exc:
                page.problems.append(f"{where}, field {exc}")
                continue
            calls[call.call_id] = call
        new = unknown - self._unknown_logged
        if new:
            logger.info("voiso records carry fields we do not map: %s", ", ".join(sorted(new)))
            self._unknown_logged |= new
        for call in calls.values():
            conversation, leg = rows_for(call, region=self.region)
            page.conversations.append(conversation)
            page.legs.append(leg)
        page.skipped = dict(skipped)
        return page

    def sync_reference_data(self) -> tuple[dict[str, str], dict[str, str]]:
        """Wrap-up codes and queues from the v2 lookup endpoints (§2.1; answer shape [A])."""
        return self._listing(f"{CDR_V2}/wrapup_codes"), self._listing(f"{CDR_V2}/queues")

    def test(self) -> str:
        """One small v2/v4 call for today."""
        today = timezone.now().astimezone(self.zone).date()
        if self.version == "v4":
            start = datetime.combine(today, datetime.min.time(), tzinfo=self.zone).astimezone(UTC)
            self._get(CDR_V4, {"limit": 1, "started_at[gte]": _iso(start),
                               "started_at[lt]": _iso(start + timedelta(days=1))})
        else:
            self._get(CDR_V2, {"start_date": today.isoformat(), "end_date": today.isoformat(), "per_page": 1})
        return f"API key OK (CDR {self.version})"

    # --- v2 --------------------------------------------------------------------------------
    def _v2_page(self, start: datetime, end: datetime, cursor: str | None) -> Page:
        state = json.loads(cursor) if cursor else {"token": None, "page": 1, "newest": None}
        first = (start - self.date_margin).astimezone(self.zone).date()
        last = (end - timedelta(microseconds=1) + self.date_margin).astimezone(self.zone).date()
        params: dict[str, Any] = {"start_date": first.isoformat(), "end_date": last.isoformat(),
                                  "page": state["page"], "per_page": self.per_page}
        if state["token"]:
            params["search_token"] = state["token"]
        body = self._get(CDR_V2, params)
        records = body.get("records")
        if not isinstance(records, list) or any(not isinstance(r, dict) for r in records):
            raise VoisoError("Voiso sent a CDR page without a records list")
        # The newest token seen in this search: a null on a later page must not lose an earlier
        # one (continuing costs at most one empty request; stopping early would lose records).
        newest = body.get("search_token") or state.get("newest")
        search_done = len(records) < self.per_page or state["page"] * self.per_page >= self.search_cap
        next_state: dict[str, Any] | None
        if not search_done:
            next_state = {"token": state["token"], "page": state["page"] + 1, "newest": newest}
        elif newest and newest != state["token"]:
            next_state = {"token": newest, "page": 1, "newest": None}  # the next search starts after this one
        else:
            next_state = None  # §2.1: the walk ends on a search whose token is null
        kept = []
        for i, record in enumerate(records, start=1):
            record[vr.POSITION] = f"record {i} of page {state['page']} ({first.isoformat()})"
            stamp = _stamp(record.get("timestamp"))
            # Dates are whole local days; keep the chunk's own instants (others belong to the neighbour
            # chunk). A record without a readable timestamp is kept so flatten reports it.
            if stamp is None or start <= stamp < end:
                kept.append(record)
        return Page(records=kept, next_cursor=json.dumps(next_state) if next_state else None)

    # --- v4 --------------------------------------------------------------------------------
    def _v4_page(self, start: datetime, end: datetime, cursor: str | None) -> Page:
        params: dict[str, Any] = {"limit": self.per_page, "started_at[gte]": _iso(start),
                                  "started_at[lt]": _iso(end)}
        if cursor:
            params["cursor"] = cursor
        body = self._get(CDR_V4, params)
        data = body.get("data")
        if not isinstance(data, list) or any(not isinstance(r, dict) for r in data):
            raise VoisoError("Voiso sent a v4 CDR page without a data list")
        for i, record in enumerate(data, start=1):
            record[vr.POSITION] = f"record {i} after cursor {'start' if not cursor else cursor[:12]}"
        next_cursor = (body.get("metadata") or {}).get("next_cursor")
        return Page(records=data, next_cursor=str(next_cursor) if next_cursor else None)

    # --- HTTP ------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        url = self.base + path
        headers = {"Accept": "application/json"}
        if path.startswith("/api/v4/"):
            headers["Authorization"] = f"Bearer {self.key_value}"  # [A] v4 scopes imply a bearer key
        else:
            params = {**params, "key": self.key_value}  # §2.1: the key is a query parameter
        before = lambda: self.pacer.wait(f"voiso|{self.base}")  # noqa: E731
        for attempt in range(2):
            response = self.transport.send("GET", url, params=params, headers=headers, before=before)
            if response.status_code == 401 and attempt == 0:
                logger.info("voiso 401 on %s: retrying once", path_of(url))
                continue
            break
        if response.status_code >= 400:
            raise _error(response, path)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise VoisoError(f"Voiso sent malformed JSON for GET {path} ({len(response.content)} bytes)") from None
        if not isinstance(body, dict | list):
            raise VoisoError(f"Voiso sent an unexpected payload for GET {path}")
        return body if isinstance(body, dict) else {"records": body}

    def _listing(self, path: str) -> dict[str, str]:
        body = self._get(path, {})
        items = next((body[k] for k in ("records", "data", "items") if isinstance(body.get(k), list)), [])
        names = {}
        for item in items:
            if isinstance(item, dict) and (item.get("id") or item.get("uuid")):
                names[str(item.get("id") or item.get("uuid"))] = str(item.get("name") or item.get("title") or "")
        return names


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _stamp(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value or ""))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _error(response: requests.Response, path: str) -> VoisoError:
    """§2.2 error shapes: ``{"error": "..."}`` or ``{"errors": {"param": ["..."]}}``; never echo the key."""
    try:
        body = orjson.loads(response.content or b"{}")
    except orjson.JSONDecodeError:
        body = {}
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("error") or body.get("errors") or "")[:300]
    status = response.status_code
    if status in (401, 403):
        return VoisoError(f"Voiso refused the API key on GET {path} ({status} {detail}); check the key and its "
                          "Security Access Groups")
    return VoisoError(f"Voiso answered {status} on GET {path}: {detail}")
