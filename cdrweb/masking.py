"""The PII masking layer: the one place that decides how personal data is shown.

Every page, export, admin screen, SQL console result and log line goes through here.

- names and free text  -> ``REDACTED``
- phone numbers        -> their last 4 digits only (``***0188``); 4 digits or fewer -> ``****``
- email addresses      -> their domain only (``***@example.com``)

Users holding ``cdrweb.reveal_pii`` still see masked values by default; they reveal one page
at a time with a reason (:func:`grant_reveal`), and every reveal is written to the audit log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from django.http import HttpRequest

REDACTED = "REDACTED"
REVEAL_PERMISSION = "cdrweb.reveal_pii"
_SESSION_KEY = "pii_reveals"


class PiiKind(StrEnum):
    NAME = "name"
    PHONE = "phone"
    EMAIL = "email"
    TEXT = "text"


# --- pure maskers ---------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """None, NaN and pandas.NA all mean "no value"."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the only value unequal to itself
    except TypeError:  # pandas.NA refuses to be a bool
        return True

_EXTENSION = re.compile(r"(?:;ext=|\bext\.?|\bx|#)\s*\d+\s*$", re.IGNORECASE)
_SIP_HOST = re.compile(r"@.*$")


def mask_phone(value: Any) -> str:
    """Keep only the last 4 digits of a phone number; anything shorter is masked whole.

    Extensions are dropped first (``+1 415 555 0188 ext. 12`` -> ``***0188``), SIP/tel URIs are
    reduced to their user part, and a value without digits (``anonymous``) becomes ``REDACTED``.
    """
    if _missing(value):
        return ""
    text = str(value).strip()
    if not text:
        return ""
    text = re.sub(r"^(?:tel|sips?):", "", text, flags=re.IGNORECASE)
    text = _SIP_HOST.sub("", text)
    text = _EXTENSION.sub("", text)
    digits = re.sub(r"\D", "", text)
    if not digits:
        return REDACTED
    if len(digits) <= 4:
        return "****"
    return "***" + digits[-4:]


def mask_name(value: Any) -> str:
    if _missing(value) or str(value).strip() == "":
        return ""
    return REDACTED


def mask_email(value: Any) -> str:
    if _missing(value):
        return ""
    text = str(value).strip()
    if not text:
        return ""
    if "@" not in text:
        return REDACTED
    domain = text.rsplit("@", 1)[1]
    return f"***@{domain}" if domain else REDACTED


def mask_text(value: Any) -> str:
    """Free text (wrap-up notes, participant names) may hold anything: redact it whole."""
    return mask_name(value)


_MASKERS = {
    PiiKind.NAME: mask_name,
    PiiKind.PHONE: mask_phone,
    PiiKind.EMAIL: mask_email,
    PiiKind.TEXT: mask_text,
}


def mask_value(value: Any, kind: PiiKind | str) -> str:
    return _MASKERS[PiiKind(kind)](value)


# Phone-like runs (7+ digits, optionally +, spaces, dots, dashes, brackets) and emails in prose.
_PHONE_IN_TEXT = re.compile(r"(?<![\w])(?:\+|00)?\d[\d\s().\-]{5,}\d(?![\w])")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@([\w-]+\.)+[\w-]+")
_URI_IN_TEXT = re.compile(r"\b(?:tel|sips?):\+?[\w.\-]+(?:@[\w.\-]+)?", re.IGNORECASE)


def scrub(text: str) -> str:
    """Mask phone numbers and emails found anywhere in free text (used for log lines)."""
    if not text:
        return text
    text = _URI_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)

    def _phone(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        # Leave timestamps/dates/ids alone: only runs of 7-15 digits look like numbers.
        if 7 <= len(digits) <= 15 and not re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", match.group(0)):
            return mask_phone(match.group(0))
        return match.group(0)

    return _PHONE_IN_TEXT.sub(_phone, text)


# --- the per-user policy ----------------------------------------------------------------------


@dataclass(frozen=True)
class Masker:
    """Applies masking unless ``reveal`` is true. Callable: ``masker(value, kind)``."""

    reveal: bool = False

    def __call__(self, value: Any, kind: PiiKind | str) -> Any:
        if self.reveal:
            return "" if value is None else value
        return mask_value(value, kind)

    def phone(self, value: Any) -> Any:
        return self(value, PiiKind.PHONE)

    def name(self, value: Any) -> Any:
        return self(value, PiiKind.NAME)

    def email(self, value: Any) -> Any:
        return self(value, PiiKind.EMAIL)

    def text(self, value: Any) -> Any:
        return self(value, PiiKind.TEXT)

    def row(self, row: Mapping[str, Any], fields: Mapping[str, PiiKind | str]) -> dict[str, Any]:
        """A copy of ``row`` with each key named in ``fields`` masked by its kind."""
        out = dict(row)
        if self.reveal:
            return out
        for key, kind in fields.items():
            if key in out:
                out[key] = mask_value(out[key], kind)
        return out

    def rows(self, rows: Iterable[Mapping[str, Any]], fields: Mapping[str, PiiKind | str]):
        for row in rows:
            yield self.row(row, fields)

    def frame(self, df: pd.DataFrame, fields: Mapping[str, PiiKind | str]) -> pd.DataFrame:
        """Mask the named columns of a DataFrame (returns a copy)."""
        if self.reveal:
            return df
        df = df.copy()
        for column, kind in fields.items():
            if column in df.columns:
                func = _MASKERS[PiiKind(kind)]
                df[column] = df[column].map(func, na_action=None)
        return df


MASKED = Masker(reveal=False)
REVEALED = Masker(reveal=True)


def can_reveal(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(REVEAL_PERMISSION))


def _reveals(request: HttpRequest) -> dict[str, float]:
    return dict(request.session.get(_SESSION_KEY, {}))


def is_revealed(request: HttpRequest, scope: str | None = None) -> bool:
    """True when this user may and did reveal the page ``scope`` (default: this path)."""
    if not can_reveal(getattr(request, "user", None)):
        return False
    scope = scope or request.path
    expires = _reveals(request).get(scope)
    return bool(expires and expires > time.time())


def grant_reveal(request: HttpRequest, *, scope: str, seconds: int) -> None:
    """Reveal one page for ``seconds``; the caller checks permission and writes the audit entry."""
    reveals = {k: v for k, v in _reveals(request).items() if v > time.time()}
    reveals[scope] = time.time() + seconds
    request.session[_SESSION_KEY] = reveals


def hide(request: HttpRequest, *, scope: str) -> None:
    reveals = _reveals(request)
    reveals.pop(scope, None)
    request.session[_SESSION_KEY] = reveals


def masker_for(request: HttpRequest, scope: str | None = None) -> Masker:
    """The masker for this request: revealed only for a permitted user who revealed this page."""
    return REVEALED if is_revealed(request, scope) else MASKED


def masker_for_user(user: Any, *, reveal: bool = False) -> Masker:
    """For exports and commands: reveal only when asked *and* the user holds the permission."""
    return REVEALED if reveal and can_reveal(user) else MASKED
