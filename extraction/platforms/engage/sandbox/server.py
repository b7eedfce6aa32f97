"""The RingCX simulator: RC JWT grant, token exchange/refresh with rotation, admin listings, the
deprecated ``reportsStreaming`` CSV and the interaction-metadata API (platforms-and-carriers.md §1).
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from extraction.platforms.engage.sandbox import generator
from extraction.platforms.engage.sandbox.kit import Request, Response, SandboxApp, SandboxHandle

INPUT_CONTROLS = re.compile(r"^/voice/api/v1/admin/accounts/(\w+)/users/(\w+)/reports/inputControls$")
REPORT = re.compile(r"^/voice/api/v1/admin/accounts/(\w+)/reportsStreaming$")
METADATA = re.compile(r"^/voice/api/cx/integration/v1/accounts/(\w+)/sub-accounts/(\w+)/interaction-metadata$")
MAX_INTERVAL_SECONDS = 10_800  # §1.7
MIN_AGE = timedelta(minutes=5)  # §1.7: only windows ending at least 5 minutes ago


@dataclass
class _Issued:
    expires_at: float
    revoked: bool = False


@dataclass(eq=False)
class EngageSandbox(SandboxApp):
    seed: int = 1
    calls_per_day: int = 40
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"  # noqa: S105 - a simulator credential
    jwt: str = "sandbox-jwt"
    rc_account_id: str = "99990000"
    sub_account_id: str = "99990001"
    user_id: str = "5001"
    token_ttl_seconds: float = 300.0  # §1.3: RingCX access tokens live 5 minutes
    exchange_limit_per_minute: int = 5  # §1.3
    metadata_limits: tuple[tuple[int, float], ...] = ((3, 60.0), (9, 900.0))  # §1.7, per sub-account
    wem_access: bool = True
    retry_after: float = 1.0
    extra_calls: list[generator.SimCall] = field(default_factory=list)

    name = "engage"

    def __post_init__(self) -> None:
        SandboxApp.__init__(self, retry_after=self.retry_after)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rc_tokens: set[str] = set()
        self._access: dict[str, _Issued] = {}
        self._refresh: dict[str, bool] = {}  # token -> still valid (rotation invalidates)
        self._exchanges: deque[float] = deque()
        self._metadata_calls: dict[str, deque[float]] = {}

    # --- control -----------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every access token issued so far now answers 401 ``Jwt is expired``."""
        with self._lock:
            for issued in self._access.values():
                issued.revoked = True

    def is_api(self, path: str) -> bool:
        return path.startswith("/voice/api/")

    # --- routing -----------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/restapi/oauth/token" and request.method == "POST":
            return self._rc_token(request)
        if path == "/api/auth/login/rc/accesstoken" and request.method == "POST":
            return self._exchange(request)
        if path == "/api/auth/token/refresh" and request.method == "POST":
            return self._refresh_token(request)
        if not path.startswith("/voice/api/"):
            return Response.of_json({"generalMessage": "not found"}, 404)
        if not self._authorised(request):
            self.count("401")
            return Response.text("Jwt is expired", 401)  # §1.3: text/plain, not JSON
        if path == "/voice/api/v1/admin/accounts":
            return Response.of_json([{"accountId": self.sub_account_id, "accountName": "Sandbox Sub-account",
                                      "mainAccountId": self.rc_account_id}])
        if path == f"/voice/api/v1/admin/accounts/{self.sub_account_id}/agentGroups":
            return Response.of_json([{"agentGroupId": gid, "groupName": name}
                                     for gid, (name, _) in generator.DESTINATIONS.items()])
        if path == "/voice/api/v1/admin/users":
            return Response.of_json([{"userId": int(self.user_id), "userName": "sandbox.admin"}])
        if match := INPUT_CONTROLS.match(path):
            return self._input_controls(request)
        if (match := REPORT.match(path)) and request.method == "POST":
            return self._report(request, match.group(1))
        if (match := METADATA.match(path)) and request.method == "POST":
            return self._metadata(request, match.group(1), match.group(2))
        return Response.of_json({"generalMessage": "not found"}, 404)

    # --- auth --------------------------------------------------------------------------
    def _rc_token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = request.form()
        if request.headers.get("authorization") != f"Basic {expected}" or form.get("assertion") != self.jwt:
            return Response.of_json({"error": "invalid_client", "error_description": "bad credentials"}, 400)
        token = f"rc-{next(self._ids)}"
        with self._lock:
            self._rc_tokens.add(token)
        return Response.of_json({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def _limited(self) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._exchanges and self._exchanges[0] < now - 60:
                self._exchanges.popleft()
            if len(self._exchanges) >= self.exchange_limit_per_minute:
                return True
            self._exchanges.append(now)
            return False

    def _issue(self) -> dict[str, object]:
        access, refresh = f"cx-{next(self._ids)}", f"rt-{next(self._ids)}"
        with self._lock:
            self._access[access] = _Issued(time.monotonic() + self.token_ttl_seconds)
            self._refresh[refresh] = True
        return {"accessToken": access, "refreshToken": refresh, "tokenType": "Bearer",
                "mainAccountId": self.rc_account_id, "adminId": int(self.user_id),
                "agentDetails": [{"accountId": self.sub_account_id, "agentId": 1, "rcUserId": 1}],
                "adminUrl": "", "agentUrl": "", "ssoLogin": True}

    def _exchange(self, request: Request) -> Response:
        if self._limited():
            return Response.of_json({"error": "Too many requests"}, 429)
        form = request.form()
        with self._lock:
            known = form.get("rcAccessToken") in self._rc_tokens
        if not known or form.get("rcTokenType") != "Bearer":
            return Response.text("Invalid RingCentral token", 401)
        self.count("exchange")
        return Response.of_json(self._issue())

    def _refresh_token(self, request: Request) -> Response:
        if self._limited():
            return Response.of_json({"error": "Too many requests"}, 429)
        token = request.form().get("refresh_token", "")
        with self._lock:
            valid = self._refresh.get(token, False)
            if valid:
                self._refresh[token] = False  # §1.3: every refresh rotates the refresh token
        if not valid:
            self.count("refresh-rejected")
            return Response.text("Invalid refresh token", 401)
        self.count("refresh")
        return Response.of_json(self._issue())

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").removeprefix("bearer ")
        with self._lock:
            issued = self._access.get(token)
        return bool(issued) and not issued.revoked and issued.expires_at > time.monotonic()

    # --- data --------------------------------------------------------------------------
    def _input_controls(self, request: Request) -> Response:
        # §1.5: only "groups with groupId, children with objId" is documented; the rest is [A].
        if request.arg("products") == "CLOUD_PROFILE":
            groups = [{"groupId": gid, "groupName": f"Group {gid}" if gid else "Ungrouped",
                       "children": [{"objId": pid, "objName": generator.PROFILES[pid]} for pid in pids]}
                      for gid, pids in generator.PROFILE_GROUPS.items()]
        else:
            groups = [{"groupId": None, "groupName": "Ungrouped",
                       "children": [{"objId": did, "objName": name} for did, (name, _) in
                                    generator.DESTINATIONS.items()]}]
        return Response.of_json(groups)

    def _report(self, request: Request, account_id: str) -> Response:
        body = request.json() or {}
        criteria = body.get("reportCriteria") or {}
        if body.get("reportTypeName") != "Cloud_Call_Detail_Download" or criteria.get("groupBy") != "PROFILE":
            return Response.of_json({"generalMessage": "unsupported report request"}, 400)
        try:
            zone = ZoneInfo(criteria.get("timezoneName") or "UTC")
            start = _local(criteria["startTimestamp"], zone)
            end = _local(criteria["endTimestamp"], zone)
        except (KeyError, ValueError, ZoneInfoNotFoundError) as exc:
            return Response.of_json({"generalMessage": f"bad criteria: {exc}"}, 400)
        profiles = set(criteria.get("cloudProfileIds") or [])
        calls = [c for c in generator.calls_between(self.seed, start, end, self.calls_per_day, tuple(self.extra_calls))
                 if c.direction == "INBOUND" and start <= c.start < end and c.profile_id in profiles]
        calls.sort(key=lambda c: c.start)
        lines = [generator.CSV_HEADER]
        for call in calls:
            row = generator.csv_row(call, zone)
            if self.take("bad_rows"):
                cells = row.split(",")
                cells[13] = "yesterday-ish"  # enqueue_time no longer parses
                row = ",".join(cells)
            lines.append(row)
        self.count("report")
        return self.malformed(Response(body=("\r\n".join(lines) + "\r\n").encode(), content_type="text/csv"))

    def _metadata(self, request: Request, rc_account_id: str, sub_account_id: str) -> Response:
        if not self.wem_access:
            return Response.of_json({"generalMessage": "WEM Access is not enabled for this account"}, 403)
        if self._metadata_limited(sub_account_id):
            return Response.of_json({"generalMessage": "Too many requests"}, 429)
        body = request.json() or {}
        try:
            zone = ZoneInfo(body.get("timeZone") or "UTC")
            start = _local(body["segmentEndTime"], zone)  # §1.7: despite the name, the window start
            interval = int(body["timeInterval"])
        except (KeyError, ValueError, TypeError, ZoneInfoNotFoundError) as exc:
            return Response.of_json({"generalMessage": f"bad request: {exc}"}, 400)
        if not 0 < interval <= MAX_INTERVAL_SECONDS:
            return Response.of_json({"generalMessage": f"timeInterval must be 1..{MAX_INTERVAL_SECONDS}"}, 400)
        end = start + timedelta(seconds=interval)
        if end > datetime.now(UTC) - MIN_AGE:
            return Response.of_json({"generalMessage": "the window must end at least 5 minutes ago"}, 400)
        rows = []
        now = datetime.now(UTC)
        for call in generator.calls_between(self.seed, start - timedelta(hours=1), end, self.calls_per_day,
                                            tuple(self.extra_calls)):
            if call.end > now:
                # [A] A dialog's segments are served once the dialog has ended (§1.7 says GCTD
                # calls appear after hang-up; nothing says metadata shows calls in progress).
                continue
            for row in generator.metadata_rows(call, sub_account_id):
                # [A] rows are selected by segment end time inside the window.
                if start <= datetime.fromisoformat(str(row["segmentEndTimeMs"])) < end:
                    if self.take("bad_rows"):
                        row["dialogStartTimeMs"] = "not-a-time"
                    rows.append(row)
        self.count("metadata")
        return self.malformed(Response.of_json(rows))

    def _metadata_limited(self, sub_account_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            calls = self._metadata_calls.setdefault(sub_account_id, deque())
            longest = max((p for _, p in self.metadata_limits), default=0)
            while calls and calls[0] < now - longest:
                calls.popleft()
            for count, period in self.metadata_limits:
                if sum(1 for t in calls if t >= now - period) >= count:
                    return True
            calls.append(now)
            return False


def _local(text: str, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` in a tz-database zone -> aware UTC."""
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).astimezone(UTC)


def start_sandbox(port: int = 0, *, host: str = "127.0.0.1", faults: dict[str, object] | None = None,
                  **config: object) -> SandboxHandle:
    """Start the RingCX simulator in a background thread; port 0 picks a free port."""
    app = EngageSandbox(**config)  # type: ignore[arg-type]
    if faults:
        app.set_faults(**faults)
    return SandboxHandle(app, host=host, port=port).start()
