"""A scripted HTTP receiver on loopback, standing in for webhook endpoints and the Genesys WFM API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base_url: str
    requests: list[Received] = field(default_factory=list)
    # Each reply: (status, headers, body) or a callable(Received) -> that tuple; the last one repeats.
    replies: list = field(default_factory=lambda: [(200, {}, b"{}")])
    routes: dict[str, Callable[[Received], tuple[int, dict, bytes]]] = field(default_factory=dict)

    def reply_for(self, req: Received) -> tuple[int, dict, bytes]:
        for suffix, handler in self.routes.items():
            if req.path.split("?")[0].endswith(suffix):
                return handler(req)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(req) if callable(reply) else reply


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            req = Received(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            rec = state["receiver"]
            rec.requests.append(req)
            status, headers, body = rec.reply_for(req)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_GET = _handle

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()
