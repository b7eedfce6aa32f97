"""Genesys Cloud HTTP client on ``requests``: client-credentials token, retries, clear errors.

Paths and field names: genesys-cloud.md §2-§5, §10, §11. No SDK at run time (test-only).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from extraction.platforms import PlatformError

logger = logging.getLogger(__name__)

# genesys-cloud.md §1 (SDK PureCloudRegionHosts): region key -> domain. API = api.<domain>,
# login = login.<domain>.
REGIONS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "eu_west_1": "mypurecloud.ie",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "eu_central_1": "mypurecloud.de",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "ap_northeast_2": "apne2.pure.cloud",
    "eu_west_2": "euw2.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "us_east_2": "use2.us-gov-pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
    "eu_central_2": "euc2.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
}
REGION_CHOICES = [(domain, f"{domain} ({key})") for key, domain in REGIONS.items()]

# Refresh this long before the token's expires_in runs out (§2: "a few minutes").
TOKEN_MARGIN_SECONDS = 180
MAX_RETRY_AFTER_SECONDS = 120.0


class GenesysError(PlatformError):
    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class MalformedResponse(GenesysError):
    """A 2xx answer whose body is not the JSON we expect; never retried blindly."""


class JobNotReady(GenesysError):
    """Results asked for a job that is not FULFILLED (or unknown/expired cursor)."""


def hosts_for(*, region: str = "", base_url: str = "") -> tuple[str, str]:
    """(API base, login base): an explicit base URL serves both (sandbox, proxy)."""
    if base_url:
        base = base_url.rstrip("/")
        return base, base
    domain = region.strip().lower().removeprefix("api.").removeprefix("login.")
    if not domain:
        raise GenesysError("The connection needs a Genesys region or a base URL")
    return f"https://api.{domain}", f"https://login.{domain}"


@dataclass
class _Token:
    value: str
    expires_at: float


# Tokens are shared by every client of the same credentials in this process (a token costs a call
# and counts against client.credentials.token.rate.per.minute, §11).
_TOKENS: dict[str, _Token] = {}
_TOKENS_LOCK = threading.Lock()
# One token request at a time per credentials: threads that find the token missing or rejected at
# the same moment (the read-ahead and the writer after an expiry) wait for one new token.
_FETCH_LOCKS: dict[str, threading.Lock] = {}


class GenesysClient:
    """Authenticated JSON calls with bounded retries on 429/5xx/network errors and one re-auth on 401."""

    def __init__(
        self,
        *,
        api_base: str,
        login_base: str,
        client_id: str,
        client_secret: str,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.login_base = login_base.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.http = session or requests.Session()
        digest = hashlib.sha256(f"{client_id}:{client_secret}".encode()).hexdigest()
        self._token_key = f"{self.login_base}|{digest}"

    def __repr__(self) -> str:  # never show the secret
        return f"GenesysClient({self.api_base!r}, client_id={self.client_id!r})"

    # --- token --------------------------------------------------------------------------
    def token(self, *, force: bool = False, stale: str = "") -> str:
        """A cached bearer token, fetched again shortly before it expires, when forced, or when the
        cached one is ``stale`` (it was just refused); a token another thread fetched meanwhile is
        used as it is."""
        if not force and (cached := self._cached()) and cached.value != stale:
            return cached.value
        with _TOKENS_LOCK:
            fetch_lock = _FETCH_LOCKS.setdefault(self._token_key, threading.Lock())
        with fetch_lock:
            if not force and (cached := self._cached()) and cached.value != stale:
                return cached.value
            return self._fetch_token()

    def _cached(self) -> _Token | None:
        with _TOKENS_LOCK:
            cached = _TOKENS.get(self._token_key)
        return cached if cached and cached.expires_at > time.time() else None

    def _fetch_token(self) -> str:
        basic = base64.b64encode(f"{self.client_id}:{self._secret}".encode()).decode()
        response = self._send(
            "POST",
            f"{self.login_base}/oauth/token",
            headers={"Authorization": f"Basic {basic}",
                     "Content-Type": "application/x-www-form-urlencoded"},
            data="grant_type=client_credentials",
        )
        if response.status_code in (400, 401):
            body = _json_or_empty(response)
            detail = body.get("error_description") or body.get("description") or body.get("error") or ""
            raise GenesysError(
                f"Genesys rejected the OAuth client credentials ({response.status_code} {detail}).",
                status=response.status_code, code=str(body.get("error", "")),
            )
        self._raise_for_status(response, "POST /oauth/token")
        body = self._decode(response, "POST /oauth/token")
        value = body.get("access_token")
        if not value:
            raise MalformedResponse("The token response has no access_token")
        # Default lifetime 86400 s when expires_in is absent (§2).
        lifetime = float(body.get("expires_in") or 86400)
        expires_at = time.time() + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
        with _TOKENS_LOCK:
            _TOKENS[self._token_key] = _Token(value, expires_at)
        return value

    # --- calls --------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body=body)

    def delete(self, path: str) -> None:
        self.call("DELETE", path, expect_body=False)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        expect_body: bool = True,
    ) -> Any:
        """One API call; 401 refreshes the token once, 429/5xx retry inside ``_send``."""
        what = f"{method} {path}"
        data = orjson.dumps(body) if body is not None else None
        used = ""
        for auth_attempt in range(2):
            used = self.token(stale=used)  # after a 401: a new token, unless another call got one
            headers = {"Authorization": f"Bearer {used}", "Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            response = self._send(method, self.api_base + path, params=params, data=data, headers=headers)
            if response.status_code == 401 and auth_attempt == 0:
                logger.info("genesys 401 on %s: refreshing the token once", what)
                continue
            break
        self._raise_for_status(response, what)
        if not expect_body or response.status_code == 204 or not response.content:
            return None
        return self._decode(response, what)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send with retries on 429 (honouring Retry-After), 5xx and network errors; bounded."""
        last_error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.http.request(method, url, timeout=self.timeout, **kwargs)
            except requests.RequestException as exc:
                last_error = f"network error: {type(exc).__name__}"
                wait = self._backoff(attempt)
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                last_error = f"HTTP {response.status_code}"
                wait = self._retry_after(response)
                if wait is None:
                    wait = self._backoff(attempt)
            if attempt == self.max_attempts:
                break
            logger.info("genesys %s %s: %s, retry %d in %.2fs", method, _path(url), last_error, attempt, wait)
            time.sleep(wait)
        raise GenesysError(
            f"Genesys kept failing on {method} {_path(url)} ({last_error}) after {self.max_attempts} attempts",
            status=None,
        )

    def _backoff(self, attempt: int) -> float:
        # Exponential with full jitter, capped.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1))))

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        try:
            return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
        except ValueError:
            return None

    @staticmethod
    def _raise_for_status(response: requests.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        body = _json_or_empty(response)
        message = str(body.get("message") or "")[:300]
        code = str(body.get("code") or "")
        if status == 403:
            raise GenesysError(
                f"Genesys refused {what} (403 {code}): the OAuth client lacks a permission. "
                "Job create/results need analytics:conversationDetail:view; wrap-up codes need "
                f"routing:wrapupCode:view; queues need routing:queue:view. {message}",
                status=status, code=code,
            )
        if status == 400:
            raise GenesysError(f"Genesys rejected {what} (400 {code}): {message}", status=status, code=code)
        if status == 401:
            raise GenesysError(f"Genesys refused the token on {what} (401 {code})", status=status, code=code)
        if status in (404, 409):
            raise JobNotReady(f"Genesys: {what} is not available ({status} {code}) {message}",
                              status=status, code=code)
        raise GenesysError(f"Genesys answered {status} on {what}: {message}", status=status, code=code)

    @staticmethod
    def _decode(response: requests.Response, what: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise MalformedResponse(
                f"Genesys sent malformed JSON for {what} ({len(response.content)} bytes)"
            ) from None


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
