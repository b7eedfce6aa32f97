"""A local Genesys-compatible HTTP API over real HTTP (genesys-cloud.md §15 simulator checklist).

Serves the generator's deterministic traffic through the real paths and field names, with faults
switchable at start and at runtime (POST /__sandbox__/faults with a JSON object of counts):

- ``rate_limit``: the next N API calls answer 429 with ``Retry-After: <retry_after>`` (§11 body).
- ``server_error``: the next N API calls answer 503.
- ``expire_tokens``: every token issued so far stops working now (the next call gets 401).
- ``stuck_pending``: the next N jobs stay PENDING for ever.
- ``fail_jobs``: the next N jobs end FAILED with an errorMessage.
- ``expire_jobs``: the next N jobs turn EXPIRED after serving their first results page.
- ``malformed_pages``: the next N results pages are truncated, malformed JSON.
- ``query_duplicates``: sync-query pages overlap by one record (§5: pages repeat).

Any host is accepted; only paths matter. The token endpoint is /oauth/token on the same base.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson

from extraction.platforms.genesys.sandbox import generator as gen

logger = logging.getLogger(__name__)

JOBS = "/api/v2/analytics/conversations/details/jobs"
# Generated calls last well under this; older starts cannot overlap a job interval.
MAX_CALL = timedelta(hours=3)
FAULT_NAMES = ("rate_limit", "server_error", "stuck_pending", "fail_jobs", "expire_jobs", "malformed_pages")


@dataclass
class SandboxConfig:
    seed: int = 1
    calls_per_day: int = 200
    client_id: str = ""  # empty: any client id/secret pair is accepted
    client_secret: str = ""
    token_ttl_seconds: int = 86400  # §2 default
    page_size_default: int = 100  # §4.3 [A]
    page_size_max: int = 1000  # [A]
    max_interval_days: int = 31  # §4.4 [A]
    max_concurrent_jobs: int = 5  # §4.4 [A]
    pending_polls: int = 1  # status polls answered QUEUED/PENDING before FULFILLED
    availability_lag_seconds: int = 7200  # §15.6 [A]: now - 2 h
    retry_after: int = 1
    now: datetime | None = None  # None: the real clock


@dataclass
class Job:
    job_id: str
    start: datetime
    end: datetime
    submitted: datetime
    cutoff: datetime  # the data-lake watermark at submission: later starts are not included
    state: str = "QUEUED"
    polls: int = 0
    stuck: bool = False
    fail: bool = False
    expire_after_page: bool = False
    completed: datetime | None = None
    pages_served: int = 0


@dataclass
class SandboxState:
    config: SandboxConfig
    faults: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, datetime] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.config.now or datetime.now(UTC)

    def take(self, name: str) -> bool:
        """Consume one unit of a counted fault."""
        with self.lock:
            left = int(self.faults.get(name) or 0)
            if left <= 0:
                return False
            self.faults[name] = left - 1
            return True

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + 1


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    """``ErrorBody`` (§11)."""
    return {"message": message, "code": code, "status": status, "contextId": str(uuid.uuid4()),
            "details": [], "errors": []}


def _parse_interval(value: Any) -> tuple[datetime, datetime] | None:
    try:
        a, b = str(value).split("/")
        start, end = datetime.fromisoformat(a), datetime.fromisoformat(b)
    except ValueError:
        return None
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        return None
    return start, end


def _encode_cursor(job_id: str, ordinal: int, index: int) -> str:
    return base64.urlsafe_b64encode(f"{job_id}:{ordinal}:{index}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, int, int] | None:
    try:
        job_id, ordinal, index = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        return job_id, int(ordinal), int(index)
    except (ValueError, UnicodeDecodeError):
        return None


def _without_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """Sync query and GET variants use the ...WithoutAttributes models (§4.3)."""
    return {**record, "participants": [
        {k: v for k, v in p.items() if k != "attributes"} for p in record["participants"]
    ]}


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet; counts live in stats
        logger.debug("sandbox %s", format % args)

    # --- plumbing -------------------------------------------------------------------------
    @property
    def state(self) -> SandboxState:
        return self.server.state

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any = None, *, raw: bytes | None = None,
              headers: dict[str, str] | None = None) -> None:
        data = raw if raw is not None else (orjson.dumps(payload) if payload is not None else b"")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ININ-Correlation-Id", str(uuid.uuid4()))
        self.send_header("inin-ratelimit-count", "1")
        self.send_header("inin-ratelimit-allowed", "300")
        self.send_header("inin-ratelimit-reset", "60")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        path = url.path.rstrip("/")
        query = parse_qs(url.query)
        body = self._body()
        self.state.count(f"{method} {path.split('/jobs/')[0]}")
        try:
            if path.startswith("/__sandbox__"):
                return self._control(method, path, body)
            if path == "/oauth/token" and method == "POST":
                return self._token(body)
            if not path.startswith("/api/v2/"):
                return self._send(404, _error(404, "not.found", "No such path"))
            if not self._authorised():
                return self._send(401, _error(401, "bad.credentials", "Invalid login credentials."))
            if self.state.take("rate_limit"):
                retry = str(self.state.config.retry_after)
                message = f"Rate limit exceeded the maximum. Retry the request in [{retry}] seconds"
                return self._send(429, _error(429, "too.many.requests.retry.after", message),
                                  headers={"Retry-After": retry})
            if self.state.take("server_error"):
                return self._send(503, _error(503, "service.unavailable", "Service unavailable (sandbox fault)"))
            return self._route(method, path, query, body)
        except Exception:  # a sandbox bug must not kill the server thread
            logger.exception("sandbox error on %s %s", method, path)
            return self._send(500, _error(500, "internal.server.error", "Sandbox error"))

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            return False
        with self.state.lock:
            expires = self.state.tokens.get(header[7:])
        return expires is not None and expires > datetime.now(UTC)

    # --- endpoints ------------------------------------------------------------------------
    def _token(self, body: bytes) -> None:
        form = parse_qs(body.decode(errors="replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return self._send(400, {"error": "unsupported_grant_type", "description": "grant type not supported",
                                    "error_description": "grant type not supported"})
        try:
            scheme, encoded = (self.headers.get("Authorization") or "").split(" ", 1)
            client_id, secret = base64.b64decode(encoded).decode().split(":", 1)
        except ValueError:
            client_id, secret, scheme = "", "", ""
        config = self.state.config
        bad = scheme != "Basic" or not client_id or not secret
        if config.client_id and (client_id != config.client_id or secret != config.client_secret):
            bad = True
        if bad:
            return self._send(401, {"error": "invalid_client", "description": "client authentication failed",
                                    "error_description": "client authentication failed"})
        token = uuid.uuid4().hex
        with self.state.lock:
            self.state.tokens[token] = datetime.now(UTC) + timedelta(seconds=config.token_ttl_seconds)
        self.state.count("tokens issued")
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": config.token_ttl_seconds})

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        if path == JOBS and method == "POST":
            return self._job_create(body)
        if path == f"{JOBS}/availability" and method == "GET":
            return self._send(200, {"dataAvailabilityDate": gen.iso(self._cutoff())})
        if path.startswith(JOBS + "/"):
            rest = path[len(JOBS) + 1:].split("/")
            job = self.state.jobs.get(rest[0])
            if job is None:
                return self._send(404, _error(404, "not.found", "Unknown job"))
            if len(rest) == 1 and method == "GET":
                return self._job_status(job)
            if len(rest) == 1 and method == "DELETE":
                job.state = "CANCELLED" if job.state in ("QUEUED", "PENDING") else job.state
                with self.state.lock:
                    self.state.jobs.pop(job.job_id, None)
                self.state.count("jobs deleted")
                return self._send(204)
            if rest[1:] == ["results"] and method == "GET":
                return self._job_results(job, query)
        if path == "/api/v2/analytics/conversations/details/query" and method == "POST":
            return self._query(body)
        if path == "/api/v2/analytics/conversations/details" and method == "GET":
            ids = [i for v in query.get("id", []) for i in v.split(",") if i]
            return self._send(200, {"conversations": [
                _without_attributes(gen.as_open(r, self.state.now())) for r in self._by_ids(ids)
            ]})
        if path.startswith("/api/v2/analytics/conversations/") and path.endswith("/details"):
            found = self._by_ids([path.split("/")[5]])
            if not found:
                return self._send(404, _error(404, "not.found", "Unknown conversation"))
            return self._send(200, _without_attributes(gen.as_open(found[0], self.state.now())))
        if path == "/api/v2/routing/wrapupcodes" and method == "GET":
            return self._listing(path, gen.WRAPUP_CODES, query)
        if path == "/api/v2/routing/queues" and method == "GET":
            return self._listing(path, gen.QUEUES, query)
        if path.startswith("/api/v2/organizations/limits/namespaces/") and method == "GET":
            return self._limits(path.rsplit("/", 1)[-1])
        return self._send(404, _error(404, "not.found", "No such path"))

    def _cutoff(self) -> datetime:
        return self.state.now() - timedelta(seconds=self.state.config.availability_lag_seconds)

    def _job_create(self, body: bytes) -> None:
        try:
            request = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return self._send(400, _error(400, "bad.request", "Malformed JSON body"))
        interval = _parse_interval(request.get("interval"))
        if interval is None:
            return self._send(400, _error(400, "bad.request", "interval must be ISO-8601 start/end with start < end"))
        config = self.state.config
        if interval[1] - interval[0] > timedelta(days=config.max_interval_days):
            return self._send(400, _error(400, "bad.request",
                                          f"interval exceeds the maximum of {config.max_interval_days} days"))
        with self.state.lock:
            active = sum(1 for j in self.state.jobs.values() if j.state in ("QUEUED", "PENDING", "FULFILLED"))
        if active >= config.max_concurrent_jobs:
            body_ = _error(429, "too.many.requests", "Too many concurrent detail jobs")
            body_["limit"] = {"key": "details.jobs.concurrent.access.max", "namespace": "analytics",
                              "value": config.max_concurrent_jobs}
            return self._send(429, body_, headers={"Retry-After": str(config.retry_after)})
        job = Job(job_id=str(uuid.uuid4()), start=interval[0], end=interval[1], submitted=self.state.now(),
                  cutoff=self._cutoff())
        # One fault per job, in this order, so each counted fault hits its own job.
        job.stuck = self.state.take("stuck_pending")
        job.fail = not job.stuck and self.state.take("fail_jobs")
        job.expire_after_page = not (job.stuck or job.fail) and self.state.take("expire_jobs")
        with self.state.lock:
            self.state.jobs[job.job_id] = job
        self.state.count("jobs created")
        self._send(202, {"jobId": job.job_id})

    def _job_status(self, job: Job) -> None:
        job.polls += 1
        if job.state in ("QUEUED", "PENDING"):
            if job.stuck:
                job.state = "PENDING"
            elif job.polls > self.state.config.pending_polls:
                job.state = "FAILED" if job.fail else "FULFILLED"
                job.completed = self.state.now()
            else:
                job.state = "PENDING" if job.polls > 1 else "QUEUED"
        status: dict[str, Any] = {"state": job.state, "submissionDate": gen.iso(job.submitted)}
        if job.completed:
            status["completionDate"] = gen.iso(job.completed)
        if job.state in ("FULFILLED", "EXPIRED") and job.completed:
            status["expirationDate"] = gen.iso(job.completed + timedelta(hours=48))  # §4.2 [A]
        if job.state == "FAILED":
            status["errorMessage"] = "Sandbox fault: the job failed"
        self._send(200, status)

    def _job_results(self, job: Job, query: dict[str, list[str]]) -> None:
        if job.state != "FULFILLED":
            return self._send(400, _error(400, "bad.request", f"Job is {job.state}, results unavailable"))
        config = self.state.config
        try:
            page_size = int((query.get("pageSize") or [config.page_size_default])[0])
        except ValueError:
            page_size = 0
        if page_size < 1:
            return self._send(400, _error(400, "bad.request", "pageSize must be at least 1"))
        page_size = min(page_size, config.page_size_max)
        start_ordinal, start_index = (job.start - timedelta(days=1)).date().toordinal(), 0
        if query.get("cursor"):
            decoded = _decode_cursor(query["cursor"][0])
            if decoded is None or decoded[0] != job.job_id:
                return self._send(400, _error(400, "bad.request", "Unknown or expired cursor"))
            _, start_ordinal, start_index = decoded
        records, next_position = self._job_page(job, start_ordinal, start_index, page_size)
        job.pages_served += 1
        if self.state.take("malformed_pages"):
            return self._send(200, raw=orjson.dumps({"conversations": records})[: 200 + len(records)])
        payload: dict[str, Any] = {"conversations": records}
        if next_position is not None:
            payload["cursor"] = _encode_cursor(job.job_id, *next_position)
        payload["dataAvailabilityDate"] = gen.iso(self._cutoff())
        if job.expire_after_page:
            job.state = "EXPIRED"
        self._send(200, payload)

    def _job_page(self, job: Job, ordinal: int, index: int, size: int
                  ) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
        """The next ``size`` conversations overlapping the job interval, ordered by start."""
        config = self.state.config
        now = self.state.now()
        out: list[dict[str, Any]] = []
        last_ordinal = job.end.date().toordinal()
        while ordinal <= last_ordinal:
            day = date.fromordinal(ordinal)
            starts = gen._start_times(config.seed, day, config.calls_per_day)
            while index < len(starts):
                started = starts[index]
                if started >= job.end or started > job.cutoff:
                    return out, None
                if len(out) == size:
                    return out, (ordinal, index)
                if started >= job.start - MAX_CALL:
                    record = gen._conversation(day, config.seed, index, started)
                    if started >= job.start or datetime.fromisoformat(record["conversationEnd"]) >= job.start:
                        out.append(gen.as_open(record, now))
                index += 1
            ordinal, index = ordinal + 1, 0
        return out, None

    def _query(self, body: bytes) -> None:
        try:
            request = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return self._send(400, _error(400, "bad.request", "Malformed JSON body"))
        interval = _parse_interval(request.get("interval"))
        if interval is None:
            return self._send(400, _error(400, "bad.request", "interval must be ISO-8601 start/end"))
        if interval[1] - interval[0] > timedelta(days=7):  # §5 [3P]
            return self._send(400, _error(400, "bad.request", "interval exceeds 7 days"))
        paging = request.get("paging") or {}
        size, number = int(paging.get("pageSize") or 25), int(paging.get("pageNumber") or 1)
        if size < 1 or size > 100 or number < 1:
            return self._send(400, _error(400, "bad.request", "pageSize must be 1..100, pageNumber >= 1"))
        now = self.state.now()
        config = self.state.config
        candidates = [r for r in gen.conversations_started_on_days(config.seed, interval[0], interval[1],
                                                                     config.calls_per_day)
                      if r["conversationStart"] <= gen.iso(now)]
        offset = (number - 1) * size
        if self.state.faults.get("query_duplicates") and number > 1:
            offset -= 1  # §5: pages can repeat records
        page = candidates[offset: offset + size]
        self._send(200, {"conversations": [_without_attributes(gen.as_open(r, now)) for r in page],
                         "totalHits": len(candidates)})

    def _by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        config = self.state.config
        found = (gen.conversation_by_id(config.seed, i, config.calls_per_day) for i in ids)
        return [r for r in found if r is not None and r["conversationStart"] <= gen.iso(self.state.now())]

    def _listing(self, path: str, names: dict[str, str], query: dict[str, list[str]]) -> None:
        size = int((query.get("pageSize") or ["25"])[0])
        number = int((query.get("pageNumber") or ["1"])[0])
        items = list(names.items())
        page = items[(number - 1) * size: number * size]
        count = max(1, -(-len(items) // size))
        kind = "wrapupcodes" if "wrapupcodes" in path else "queues"
        self._send(200, {
            "entities": [{"id": i, "name": n, "selfUri": f"/api/v2/routing/{kind}/{i}"} for i, n in page],
            "pageSize": size, "pageNumber": number, "total": len(items), "pageCount": count,
            "firstUri": f"{path}?pageSize={size}&pageNumber=1",
            "lastUri": f"{path}?pageSize={size}&pageNumber={count}",
            "selfUri": f"{path}?pageSize={size}&pageNumber={number}",
        })

    def _limits(self, namespace: str) -> None:
        config = self.state.config
        entities = []
        if namespace == "analytics":
            entities = [
                {"key": "details.jobs.concurrent.access.max", "namespace": namespace,
                 "value": config.max_concurrent_jobs},
                {"key": "details.jobs.interval.max.days", "namespace": namespace, "value": config.max_interval_days},
                {"key": "details.jobs.results.page.size.max", "namespace": namespace,
                 "value": config.page_size_default},
            ]
        self._send(200, {"entities": entities})

    # --- control --------------------------------------------------------------------------
    def _control(self, method: str, path: str, body: bytes) -> None:
        state = self.state
        if path == "/__sandbox__/faults" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
            except ValueError:
                return self._send(400, {"error": "JSON object expected"})
            if not isinstance(changes, dict):
                return self._send(400, {"error": "JSON object expected"})
            apply_faults(state, changes)
        if path == "/__sandbox__/stats":
            return self._send(200, {"stats": state.stats, "jobs": len(state.jobs)})
        with state.lock:
            return self._send(200, {"faults": dict(state.faults)})


def apply_faults(state: SandboxState, changes: dict[str, Any]) -> None:
    """Merge fault switches; ``expire_tokens`` acts at once, ``retry_after`` sets the 429 delay."""
    with state.lock:
        for key, value in changes.items():
            if key == "expire_tokens":
                if value:
                    state.tokens.clear()
            elif key == "retry_after":
                state.config.retry_after = int(value)
            elif key in FAULT_NAMES or key == "query_duplicates":
                state.faults[key] = value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: SandboxState


@dataclass
class SandboxHandle:
    """A running sandbox: ``base_url``, ``state`` (faults, jobs, stats) and ``stop()``."""

    server: _Server
    thread: threading.Thread
    base_url: str

    @property
    def state(self) -> SandboxState:
        return self.server.state

    def set_faults(self, **changes: Any) -> None:
        apply_faults(self.state, changes)

    def set_now(self, now: datetime | None) -> None:
        self.state.config.now = now

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_sandbox(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    seed: int = 1,
    calls_per_day: int = 200,
    faults: dict[str, Any] | None = None,
    **config: Any,
) -> SandboxHandle:
    """Start the sandbox in a background thread; port 0 picks a free port."""
    state = SandboxState(config=SandboxConfig(seed=seed, calls_per_day=calls_per_day, **config))
    server = _Server((host, port), Handler)
    server.state = state
    if faults:
        apply_faults(state, faults)
    thread = threading.Thread(target=server.serve_forever, name="genesys-sandbox", daemon=True)
    thread.start()
    return SandboxHandle(server=server, thread=thread, base_url=f"http://{host}:{server.server_address[1]}")
