"""SIP Call-ID normalisation (platforms-and-carriers.md §3.1): a pure module, no ORM."""

from __future__ import annotations

import re

import pandas as pd

# A leading header name ("Call-ID:" or the compact "i:"), then surrounding quotes and one pair of <>.
_HEADER = re.compile(r"^\s*(?:call-id|i)\s*:\s*", re.IGNORECASE)


def canonical_call_id(value: str | None) -> str:
    """Trim whitespace and quotes, drop a ``Call-ID:``/``i:`` prefix, strip one ``<>`` pair.

    Case and ``@host`` are kept: RFC 3261 compares Call-IDs byte for byte.
    """
    if value is None:
        return ""
    text = str(value).strip()
    text = _HEADER.sub("", text).strip()
    text = text.strip("\"'").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text


def local_part(call_id: str) -> str:
    """The Call-ID before its first ``@`` (the fallback key when one side drops the host)."""
    return call_id.split("@", 1)[0]


def canonical_call_ids(values: pd.Series) -> pd.Series:
    """Vectorised :func:`canonical_call_id` for a Series of strings."""
    s = values.fillna("").astype(str).str.strip()
    s = s.str.replace(_HEADER, "", regex=True).str.strip()
    s = s.str.strip("\"'").str.strip()
    wrapped = s.str.startswith("<") & s.str.endswith(">")
    s = s.where(~wrapped, s.str.slice(1, -1).str.strip())
    return s


def local_parts(call_ids: pd.Series) -> pd.Series:
    return call_ids.str.split("@", n=1).str[0].fillna("")
