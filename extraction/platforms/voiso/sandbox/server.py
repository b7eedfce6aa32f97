"""The Voiso simulator: v2 ``/api/v2/cdr`` with page/per_page and ``search_token`` after each
10,000-record search, v4 ``/api/v4/reporting/cdrs`` with a cursor, and the id listings
(platforms-and-carriers.md §2). Keys: v2 takes ``key`` as a query parameter; v4 a bearer key [A].
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from extraction.platforms.engage.sandbox.kit import Request, Response, SandboxApp, SandboxHandle
from extraction.platforms.voiso.sandbox import generator

SEARCH_CAP = 10_000  # §2.1: one search yields at most 10,000 records
V4_LIMIT_MAX = 1000  # §2.2


@dataclass(eq=False)
class VoisoSandbox(SandboxApp):
    seed: int = 1
    records_per_day: int = 60
    api_key: str = "sandbox-voiso-key"
    search_cap: int = SEARCH_CAP
    timezone: str = "UTC"  # [A] the zone start_date/end_date are read in
    retry_after: float = 1.0
    extra_records: list[dict[str, Any]] = field(default_factory=list)

    name = "voiso"

    def __post_init__(self) -> None:
        SandboxApp.__init__(self, retry_after=self.retry_after)
        self._expired_once = False

    def expire_tokens(self) -> None:
        """Keys do not expire; the next call answers 401 once, as an auth hiccup would."""
        with self.lock:
            self._expired_once = True

    def is_api(self, path: str) -> bool:
        return path.startswith("/api/")

    def route(self, request: Request) -> Response:
        if not request.path.startswith("/api/"):
            return Response.of_json({"error": "Not found"}, 404)
        if not self._authorised(request):
            self.count("401")
            return Response.of_json({"error": "Unauthorized"}, 401)
        if request.path == "/api/v2/cdr":
            return self._cdr_v2(request)
        if request.path == "/api/v4/reporting/cdrs":
            return self._cdr_v4(request)
        if request.path == "/api/v2/cdr/queues":
            return Response.of_json([{"id": k, "name": v} for k, v in generator.QUEUES.items()])
        if request.path == "/api/v2/cdr/wrapup_codes":
            return Response.of_json([{"id": k, "name": v} for k, v in generator.WRAPUP_CODES.items()])
        return Response.of_json({"error": "Not found"}, 404)

    def _authorised(self, request: Request) -> bool:
        with self.lock:
            if self._expired_once:
                self._expired_once = False
                return False
        if request.path.startswith("/api/v4/"):
            return request.headers.get("authorization") == f"Bearer {self.api_key}"
        return request.arg("key") == self.api_key

    def _matching(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        day = (start - timedelta(days=1)).date()
        while day <= end.date():
            found.extend(generator.records_for_day(self.seed, day, self.records_per_day))
            day += timedelta(days=1)
        found.extend(self.extra_records)
        found = [r for r in found if start <= datetime.fromisoformat(r["timestamp"]) < end]
        return sorted(found, key=lambda r: (r["timestamp"], r["uuid"]))

    def _cdr_v2(self, request: Request) -> Response:
        zone = ZoneInfo(self.timezone)
        try:
            first = date.fromisoformat(request.arg("start_date"))
            last = date.fromisoformat(request.arg("end_date") or request.arg("start_date"))
            page = int(request.arg("page", "1"))
            per_page = int(request.arg("per_page", "1000"))
        except ValueError:
            return Response.of_json({"errors": {"start_date": ["is invalid"]}}, 422)
        if not 1 <= per_page <= SEARCH_CAP or page < 1:
            return Response.of_json({"errors": {"per_page": ["must be between 1 and 10000"]}}, 422)
        if (page - 1) * per_page >= self.search_cap:
            return Response.of_json({"errors": {"page": ["is beyond the 10000 records of a search"]}}, 422)
        start = datetime.combine(first, time(), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
        matching = self._matching(start, end)
        token = request.arg("search_token")
        if token:
            after = _decode_token(token)
            if after is None:
                return Response.of_json({"errors": {"search_token": ["is invalid"]}}, 422)
            matching = [r for r in matching if (r["timestamp"], r["uuid"]) > after]
        search = matching[: self.search_cap]
        records = search[(page - 1) * per_page: page * per_page]
        more = len(matching) > len(search)
        body = {
            "records": [self._corrupt(dict(r)) for r in records],
            "total": len(matching),  # §2.1: changes between searches; never a stop condition
            "page": page,
            "search_token": _encode_token(search[-1]) if more else None,
        }
        self.count("cdr page")
        return self.malformed(Response.of_json(body))

    def _cdr_v4(self, request: Request) -> Response:
        try:
            start = datetime.fromisoformat(request.arg("started_at[gte]"))
            end = datetime.fromisoformat(request.arg("started_at[lt]"))
            limit = int(request.arg("limit", "100"))
        except ValueError:
            return Response.of_json({"errors": {"started_at": ["is invalid"]}}, 422)
        if not 1 <= limit <= V4_LIMIT_MAX:
            return Response.of_json({"errors": {"limit": ["must be between 1 and 1000"]}}, 422)
        matching = self._matching(start, end)
        cursor = request.arg("cursor")
        if cursor:
            after = _decode_token(cursor)
            if after is None:
                return Response.of_json({"error": "Invalid cursor"}, 400)
            matching = [r for r in matching if (r["timestamp"], r["uuid"]) > after]
        records = matching[:limit]
        body = {"data": [self._corrupt(_as_v4(r)) for r in records],
                "metadata": {"next_cursor": _encode_token(records[-1]) if len(matching) > limit else None}}
        self.count("cdr page")
        return self.malformed(Response.of_json(body))

    def _corrupt(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.take("bad_rows"):
            record["duration"] = "about a minute"
            if "data" in record:
                record["data"]["duration"] = "about a minute"
        return record


def _encode_token(record: dict[str, Any]) -> str:
    """Like the doc's example: base64 of ``[epoch_ms, "cdr_item#<id>"]`` (clients treat it as opaque)."""
    epoch_ms = int(datetime.fromisoformat(record["timestamp"]).timestamp() * 1000)
    return base64.b64encode(json.dumps([epoch_ms, f"cdr_item#{record['uuid']}"]).encode()).decode()


def _decode_token(token: str) -> tuple[str, str] | None:
    try:
        epoch_ms, item = json.loads(base64.b64decode(token))
        stamp = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
        return generator.iso(stamp), item.split("#", 1)[1]
    except (ValueError, TypeError, IndexError):
        return None


def _as_v4(record: dict[str, Any]) -> dict[str, Any]:
    """§2.2: ``id, type, started_at, ended_at, data{...}``; the data keys are [A]."""
    kind = record["type"].replace("-", "_")
    h, m, s = (int(x) for x in record["duration"].split(":"))
    started = datetime.fromisoformat(record["timestamp"])
    v4_type = "sms" if kind == "outbound_sms" else "conversation" if kind == "whatsapp" else "call"
    return {
        "id": record["uuid"], "type": v4_type, "started_at": record["timestamp"],
        "ended_at": generator.iso(started + timedelta(hours=h, minutes=m, seconds=s)),
        "data": {"direction": "inbound" if kind == "inbound" else "outbound", "from": record["from"],
                 "to": record["to"], "duration": record["duration"], "disposition": record["disposition"],
                 "agent_id": record["agent_id"], "agent_name": record["agent"], "subtype": kind,
                 "queue_id": record.get("queue_id")},
    }


def start_sandbox(port: int = 0, *, host: str = "127.0.0.1", faults: dict[str, object] | None = None,
                  **config: Any) -> SandboxHandle:
    """Start the Voiso simulator in a background thread; port 0 picks a free port."""
    app = VoisoSandbox(**config)
    if faults:
        app.set_faults(**faults)
    return SandboxHandle(app, host=host, port=port).start()
