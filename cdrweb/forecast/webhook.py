"""HTTP delivery for forecast hand-offs: HMAC-SHA256 signing, timeout, retries with backoff on 429/5xx.

Receivers verify ``X-Cdrweb-Signature: sha256=<hex>``, the HMAC-SHA256 (key = the target's secret)
of ``<X-Cdrweb-Timestamp>.<raw body>``; signing the timestamp too lets them refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

import requests

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 60
SIGNATURE_HEADER = "X-Cdrweb-Signature"
TIMESTAMP_HEADER = "X-Cdrweb-Timestamp"


@dataclass(frozen=True)
class Attempt:
    status: int | None  # None when no HTTP response came back
    latency_ms: int
    error: str = ""


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    latency_ms: int  # first request to final answer, backoff included
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    body: bytes = b""
    error: str = ""

    def as_audit(self) -> dict:
        return {
            "ok": self.ok,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "attempts": [
                {"status": a.status, "latency_ms": a.latency_ms, "error": a.error} for a in self.attempts
            ],
            "error": self.error,
        }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def _retry_delay(response: requests.Response | None, attempt: int, backoff: Decimal) -> float:
    """Retry-After (seconds form) when the server sends one, else exponential backoff."""
    if response is not None:
        after = response.headers.get("Retry-After", "")
        if after.strip().isdigit():
            return min(float(after), MAX_RETRY_AFTER_SECONDS)
    return min(float(backoff) * (2 ** (attempt - 1)), MAX_RETRY_AFTER_SECONDS)


def deliver(
    method: str,
    url: str,
    *,
    data: bytes,
    headers: dict[str, str],
    timeout_seconds: float,
    max_attempts: int,
    backoff_seconds: Decimal,
) -> Delivery:
    """Send one request, retrying 429/5xx and network errors up to ``max_attempts``; never raises."""
    attempts: list[Attempt] = []
    started = time.monotonic()
    response: requests.Response | None = None
    for attempt in range(1, max_attempts + 1):
        t0 = time.monotonic()
        response, error = None, ""
        try:
            response = requests.request(method, url, data=data, headers=headers, timeout=timeout_seconds)
        except requests.RequestException as exc:  # timeouts, refused connections
            error = type(exc).__name__
        attempts.append(
            Attempt(response.status_code if response is not None else None,
                    int((time.monotonic() - t0) * 1000), error)
        )
        retryable = response is None or response.status_code in RETRY_STATUSES
        if not retryable or attempt == max_attempts:
            break
        delay = _retry_delay(response, attempt, backoff_seconds)
        logger.info("hand-off attempt %d got %s; retrying in %.1fs", attempt, attempts[-1].status or error, delay)
        time.sleep(delay)
    total_ms = int((time.monotonic() - started) * 1000)
    last = attempts[-1]
    ok = response is not None and 200 <= response.status_code < 300
    return Delivery(
        ok=ok,
        status=last.status,
        latency_ms=total_ms,
        attempts=tuple(attempts),
        body=response.content[:10_000] if response is not None else b"",
        error="" if ok else (last.error or f"HTTP {last.status}"),
    )


def post_signed(
    url: str,
    body: bytes,
    *,
    secret: str,
    timeout_seconds: float,
    max_attempts: int,
    backoff_seconds: Decimal,
) -> Delivery:
    """POST a JSON body with a fresh HMAC signature header, with retries (see :func:`deliver`)."""
    return deliver(
        "POST", url, data=body, headers=signed_headers(secret, body), timeout_seconds=timeout_seconds,
        max_attempts=max_attempts, backoff_seconds=backoff_seconds,
    )
