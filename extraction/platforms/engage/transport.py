"""HTTP plumbing shared by the Engage and Voiso clients: bounded retries and request pacing.

Retries: 429 honours ``Retry-After`` (capped), 5xx and network errors back off exponentially with
jitter; anything else is returned to the caller, which turns it into a clear ``PlatformError``.
Pacing: RingCX integration reports allow 3 requests/60 s and 9/15 min per sub-account
(platforms-and-carriers.md §1.7), so requests for one key are spaced evenly and never exceed any
(count, period) window. The pacer is per process; a second worker on the same sub-account is held
back by the platform's 429 + Retry-After, which ``Transport`` obeys.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import requests

from extraction.platforms import PlatformError

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 120.0


class Transport:
    """``requests`` with bounded retries; never logs query strings (Voiso puts its key there)."""

    def __init__(self, *, platform: str, timeout: float = 30.0, max_attempts: int = 6, backoff_base: float = 0.5,
                 backoff_cap: float = 30.0, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.platform = platform
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.http = session or requests.Session()
        self.sleep = sleep

    def send(self, method: str, url: str, *, before: Callable[[], None] | None = None,
             **kwargs: Any) -> requests.Response:
        """One request with retries; ``before`` runs before every attempt (pacing)."""
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            if before is not None:
                before()
            try:
                response = self.http.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                last_error = f"network error: {type(exc).__name__}"
                wait = self._backoff(attempt)
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                last_error = f"HTTP {response.status_code}"
                wait = retry_after(response)
                if wait is None:
                    wait = self._backoff(attempt)
            if attempt == self.max_attempts:
                break
            logger.info("%s %s %s: %s, retry %d in %.2fs", self.platform, method, path_of(url), last_error,
                        attempt, wait)
            self.sleep(wait)
        raise PlatformError(f"{self.platform} kept failing on {method} {path_of(url)} ({last_error}) "
                            f"after {self.max_attempts} attempts")

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1))))


def retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return None


def path_of(url: str) -> str:
    """The path only: hosts are configuration and query strings may carry keys."""
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]


class Pacer:
    """Spaces requests per key so no (count, period) limit is exceeded; process-wide state."""

    _history: dict[str, deque[float]] = {}
    _lock = threading.Lock()

    def __init__(self, limits: Sequence[Sequence[float]], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits = [(int(count), float(period)) for count, period in limits if count and period]
        self.clock = clock
        self.sleep = sleep
        # Even spacing (period/count of the strictest limit) avoids a burst then a 12-minute stall,
        # which would outlive a worker's task timeout.
        self.gap = max((period / count for count, period in self.limits), default=0.0)

    def delay(self, key: str) -> float:
        """Seconds to wait before the next request for ``key`` (0 when it may go now)."""
        if not self.limits:
            return 0.0
        now = self.clock()
        with self._lock:
            history = self._history.get(key) or deque()
            waits = [history[-1] + self.gap - now] if history else [0.0]
            for count, period in self.limits:
                recent = [t for t in history if t > now - period]
                if len(recent) >= count:
                    waits.append(recent[-count] + period - now)
            return max(0.0, *waits)

    def wait(self, key: str) -> float:
        """Sleep until a request for ``key`` may go, then record it; returns the seconds slept."""
        if not self.limits:
            return 0.0
        slept = self.delay(key)
        if slept > 0:
            logger.info("pacing %s: waiting %.1fs", key, slept)
            self.sleep(slept)
        longest = max(period for _, period in self.limits)
        now = self.clock()
        with self._lock:
            history = self._history.setdefault(key, deque())
            history.append(now)
            while history and history[0] < now - longest:
                history.popleft()
        return slept

    @classmethod
    def forget(cls, key: str | None = None) -> None:
        """Drop the recorded history (tests, or after a long pause)."""
        with cls._lock:
            if key is None:
                cls._history.clear()
            else:
                cls._history.pop(key, None)
