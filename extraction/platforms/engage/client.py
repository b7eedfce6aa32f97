"""RingCX HTTP client: RingCentral JWT -> RingCX token exchange, rotating refresh, paced calls.

Auth (platforms-and-carriers.md §1.3): a RingCentral access token (JWT grant) is exchanged for a
RingCX access token that lives about 5 minutes plus a refresh token; every refresh returns a new
refresh token and invalidates the old one; an expired token answers 401 with a text/plain body
(``Jwt is expired``); the exchange endpoint allows about 5 calls a minute. So the access token and
the refresh token live on the Connection row (encrypted), shared by every worker, and a refresh
happens under a row lock (``select_for_update``): whoever waits on the lock finds the fresh token
and does not refresh again, so there is one refresher per credential.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import requests
from django.db import transaction
from django.utils import timezone

from extraction.platforms import PlatformError
from extraction.platforms.engage.transport import Pacer, Transport, path_of

if TYPE_CHECKING:
    from extraction.models import Connection

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://ringcx.ringcentral.com"  # §1.2
DEFAULT_RC_PLATFORM_URL = "https://platform.ringcentral.com"  # §1.2 (sandbox: platform.devtest...)
EXCHANGE = "/api/auth/login/rc/accesstoken"
REFRESH = "/api/auth/token/refresh"
RC_OAUTH_PATH = "/restapi/oauth/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_SECONDS = 300  # §1.3: RingCX access tokens expire after 5 minutes
TOKEN_MARGIN_SECONDS = 60


class EngageError(PlatformError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MalformedResponse(EngageError):
    """A 2xx answer whose body is not what we expect; the page is not stored."""


class EngageClient:
    """Authenticated RingCX calls: bearer token from the connection row, one re-auth on 401."""

    def __init__(self, connection: Connection, *, transport: Transport, pacer: Pacer | None = None,
                 pace_key: str = "") -> None:
        options = connection.settings or {}
        self.connection = connection
        self.base = (connection.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.rc_platform = str(options.get("rc_platform_url") or DEFAULT_RC_PLATFORM_URL).rstrip("/")
        self.transport = transport
        self.pacer = pacer
        self.pace_key = pace_key
        self.token_lifetime = float(options.get("token_lifetime_seconds", TOKEN_LIFETIME_SECONDS))

    def __repr__(self) -> str:  # never show a secret
        return f"EngageClient({self.base!r}, connection={self.connection.pk})"

    # --- tokens ---------------------------------------------------------------------------
    def access_token(self, *, stale: str = "") -> str:
        """A live RingCX access token; ``stale`` is one the platform just refused (401)."""
        from extraction.models import Connection  # the registry imports adapters before apps load

        row = Connection.objects.filter(pk=self.connection.pk).values("access_token", "token_expires_at").first()
        if row and _usable(row["access_token"], row["token_expires_at"], stale):
            return row["access_token"]
        with transaction.atomic():
            # One refresher per credential: a second worker blocks here, then finds the new token.
            locked = Connection.objects.select_for_update().get(pk=self.connection.pk)
            if _usable(locked.access_token, locked.token_expires_at, stale):
                return locked.access_token
            body = self._refresh(locked.refresh_token) if locked.refresh_token else None
            if body is None:
                body = self._exchange(self._rc_token(locked))
            access, refresh = body.get("accessToken"), body.get("refreshToken")
            if not access or not refresh:
                raise MalformedResponse("RingCX sent a token response without accessToken/refreshToken")
            expires = timezone.now() + timedelta(seconds=max(self.token_lifetime - TOKEN_MARGIN_SECONDS,
                                                             self.token_lifetime / 2))
            # Stored in the same transaction as the lock: the rotated refresh token is never lost
            # to a second refresher, and update() encrypts it (EncryptedTextField).
            Connection.objects.filter(pk=locked.pk).update(
                access_token=access, refresh_token=refresh, token_expires_at=expires)
        logger.info("ringcx token renewed for connection %s", self.connection.pk)
        return str(access)

    def _rc_token(self, connection: Connection) -> str:
        """RingCentral platform token by JWT grant (the app's client id/secret + the user's JWT)."""
        if not (connection.client_id and connection.client_secret and connection.api_token):
            raise EngageError("The Engage connection needs the RingCentral app client id and secret and a "
                              "JWT credential (or a stored refresh token).")
        basic = base64.b64encode(f"{connection.client_id}:{connection.client_secret}".encode()).decode()
        response = self.transport.send(
            "POST", self.rc_platform + RC_OAUTH_PATH,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            data={"grant_type": JWT_GRANT, "assertion": connection.api_token})
        if response.status_code >= 400:
            detail = str(_json_or_empty(response).get("error_description") or "")[:200]
            raise EngageError(f"RingCentral rejected the app credentials or the JWT ({response.status_code} "
                              f"{detail}).", status=response.status_code)
        token = _decode(response, "RingCentral token").get("access_token")
        if not token:
            raise MalformedResponse("The RingCentral token response has no access_token")
        return str(token)

    def _exchange(self, rc_token: str) -> dict[str, Any]:
        response = self.transport.send(
            "POST", self.base + EXCHANGE, params={"includeRefresh": "true"},
            data={"rcAccessToken": rc_token, "rcTokenType": "Bearer"}, headers={"Accept": "application/json"})
        if response.status_code >= 400:
            raise EngageError(f"RingCX refused the RingCentral token ({response.status_code}): the user needs "
                              "RingCX admin rights and the app the ReadAccounts scope.", status=response.status_code)
        return _decode(response, "token exchange")

    def _refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """Rotate the refresh token; None when it was refused (the exchange starts over)."""
        response = self.transport.send("POST", self.base + REFRESH, data={"refresh_token": refresh_token},
                                       headers={"Accept": "application/json"})
        if response.status_code in (400, 401, 403):
            logger.warning("ringcx refused the stored refresh token (%s); exchanging again", response.status_code)
            return None
        if response.status_code >= 400:
            raise EngageError(f"RingCX token refresh failed ({response.status_code})", status=response.status_code)
        return _decode(response, "token refresh")

    # --- calls ----------------------------------------------------------------------------
    def call(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None,
             paced: bool = False) -> requests.Response:
        """One API call under ``/voice/api``; a 401 (``Jwt is expired``) renews the token once."""
        url = f"{self.base}/voice/api{path}"
        data = orjson.dumps(json_body) if json_body is not None else None
        before = (lambda: self.pacer.wait(self.pace_key)) if paced and self.pacer else None
        token = self.access_token()
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/csv"}
            if data is not None:
                headers["Content-Type"] = "application/json;charset=UTF-8"
            response = self.transport.send(method, url, data=data, params=params, headers=headers, before=before)
            if response.status_code == 401 and attempt == 0:
                # §1.3: the body is text/plain ("Jwt is expired"), not JSON.
                logger.info("ringcx 401 on %s (%s): renewing the token", path_of(url), response.text[:40])
                token = self.access_token(stale=token)
                continue
            break
        if response.status_code >= 400:
            raise _error(response, f"{method} {path_of(url)}")
        return response

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return _decode(self.call("GET", path, params=params), f"GET {path}")

    def post_json(self, path: str, body: Any, *, paced: bool = False) -> Any:
        return _decode(self.call("POST", path, json_body=body, paced=paced), f"POST {path}")


def _usable(token: str | None, expires_at: datetime | None, stale: str) -> bool:
    return bool(token) and token != stale and expires_at is not None and expires_at > timezone.now()


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _decode(response: requests.Response, what: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise MalformedResponse(f"RingCX sent malformed JSON for {what} ({len(response.content)} bytes)") from None


def _error(response: requests.Response, what: str) -> EngageError:
    """§1.4 ``Errors {generalMessage, details, validationErrors...}``; plain text otherwise."""
    body = _json_or_empty(response)
    message = str(body.get("generalMessage") or body.get("details") or body.get("error") or "")[:300]
    status = response.status_code
    if status == 401:
        return EngageError(f"RingCX refused the token on {what} (401) even after renewing it.", status=status)
    if status == 403:
        return EngageError(f"RingCX refused {what} (403): the account lacks the permission or feature "
                           f"(interaction metadata needs WEM Access). {message}", status=status)
    return EngageError(f"RingCX answered {status} on {what}: {message}", status=status)
