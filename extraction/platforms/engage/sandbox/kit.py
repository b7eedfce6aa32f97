"""A tiny loopback HTTP server with fault switches, shared by the Engage and Voiso simulators.

The fault switches mirror the Genesys sandbox (set at start, from Python with ``set_faults`` or
over HTTP with ``POST /__sandbox__/faults`` and a JSON object; ``GET /__sandbox__/stats``):

- ``rate_limit``: the next N API calls answer 429 with ``Retry-After: <retry_after>``.
- ``server_error``: the next N API calls answer 503.
- ``expire_tokens``: every token issued so far stops working now (the next call gets 401).
- ``malformed_pages``: the next N data responses are truncated.
- ``bad_rows``: the next N data rows are corrupted (a time or a duration that does not parse).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__sandbox__/"
FAULT_NAMES = ("rate_limit", "server_error", "malformed_pages", "bad_rows")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[-1] if values else default

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(errors="replace"), keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, value: Any, status: int = 200) -> Response:
        return cls(status=status, body=json.dumps(value).encode())

    @classmethod
    def text(cls, value: str, status: int) -> Response:
        return cls(status=status, body=value.encode(), content_type="text/plain")


class SandboxApp:
    """Subclasses implement ``route`` and ``expire_tokens``; the base applies faults and counts calls."""

    name = "sandbox"

    def __init__(self, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        self.faults: dict[str, int] = dict.fromkeys(FAULT_NAMES, 0)
        self.stats: Counter[str] = Counter()
        self.lock = threading.RLock()

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    def take(self, name: str) -> bool:
        """Consume one unit of a counted fault; True when it fires for this request."""
        with self.lock:
            if self.faults.get(name, 0) > 0:
                self.faults[name] -= 1
                self.stats[f"fault {name}"] += 1
                return True
            return False

    def set_faults(self, **changes: Any) -> None:
        for key, value in changes.items():
            if key == "expire_tokens":
                if value:
                    self.expire_tokens()
            elif key == "retry_after":
                self.retry_after = float(value)
            elif key in FAULT_NAMES:
                with self.lock:
                    self.faults[key] = int(value)
            else:
                raise ValueError(f"unknown fault switch {key!r}")

    def expire_tokens(self) -> None:  # pragma: no cover - per simulator
        raise NotImplementedError

    def route(self, request: Request) -> Response:  # pragma: no cover - per simulator
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        self.count(f"{request.method} {request.path}")
        if self.is_api(request.path):
            if self.take("rate_limit"):
                return Response(429, json.dumps({"error": "Too many requests"}).encode(),
                                headers={"Retry-After": f"{self.retry_after:g}"})
            if self.take("server_error"):
                return Response.text("Service Unavailable (sandbox fault)", 503)
        return self.route(request)

    def is_api(self, path: str) -> bool:
        """Faults apply to data/API paths (token endpoints have their own limits)."""
        return True

    def malformed(self, response: Response) -> Response:
        """Cut a data response in half when the malformed-page switch fires."""
        if self.take("malformed_pages"):
            response.body = response.body[: max(1, len(response.body) // 2)]
        return response

    def _control(self, request: Request) -> Response:
        if request.path == CONTROL_PREFIX + "faults" and request.method == "POST":
            try:
                self.set_faults(**(request.json() or {}))
            except (ValueError, TypeError) as exc:
                return Response.of_json({"error": str(exc)}, 400)
            with self.lock:
                return Response.of_json({**self.faults, "retry_after": self.retry_after})
        if request.path == CONTROL_PREFIX + "stats":
            with self.lock:
                return Response.of_json(dict(self.stats))
        return Response.of_json({"error": "unknown control path"}, 404)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=parts.path.rstrip("/") or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        try:
            response = self.server.app.handle(request)
        except Exception:  # a simulator bug must not hang the client
            logger.exception("%s sandbox failed on %s %s", self.server.app.name, request.method, request.path)
            response = Response.text("sandbox error", 500)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = _dispatch  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet; counts live in stats
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class SandboxHandle:
    """A running simulator: ``base_url``, ``app`` (faults, stats), ``set_faults()`` and ``stop()``."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.server = _Server((host, port), app)
        self.base_url = f"http://{host}:{self.server.server_address[1]}"
        self.thread: threading.Thread | None = None

    @property
    def stats(self) -> Counter[str]:
        return self.app.stats

    def set_faults(self, **changes: Any) -> None:
        self.app.set_faults(**changes)

    def start(self) -> SandboxHandle:
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"{self.app.name}-sandbox",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
