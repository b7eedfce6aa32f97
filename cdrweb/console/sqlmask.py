"""The masking layer's rules (cdrweb/masking.py) as SQL expressions, so masked columns never leave
the database unmasked.

SQLite: the console registers the masking.py functions themselves on its connection, so the
rules are identical by construction. PostgreSQL: the same steps written as regular expressions;
tests compare them with masking.py value by value. NULL stays NULL in both (SQL semantics),
where masking.py's display helpers show an empty string.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from cdrweb import masking
from cdrweb.masking import PiiKind

SQLITE_FUNCTIONS: dict[PiiKind, str] = {
    PiiKind.PHONE: "cdrweb_mask_phone",
    PiiKind.NAME: "cdrweb_mask_name",
    PiiKind.EMAIL: "cdrweb_mask_email",
    PiiKind.TEXT: "cdrweb_mask_text",
}


def _null_safe(func: Callable[[Any], str]) -> Callable[[Any], str | None]:
    def wrapped(value: Any) -> str | None:
        return None if value is None else func(value)

    return wrapped


def register_sqlite(raw: sqlite3.Connection) -> None:
    """Register the masking functions on a raw sqlite3 connection (idempotent)."""
    for kind, name in SQLITE_FUNCTIONS.items():
        raw.create_function(name, 1, _null_safe(masking._MASKERS[kind]), deterministic=True)


def _pg_phone(col: str) -> str:
    # masking.mask_phone step by step: drop a tel:/sip: scheme, the SIP host, an extension,
    # then keep the digits. \m is PostgreSQL's "start of word", Python's \b before a letter.
    stripped = f"btrim({col}, E' \\t\\r\\n')"
    no_scheme = f"regexp_replace({stripped}, '^(tel|sips?):', '', 'i')"
    no_host = f"regexp_replace({no_scheme}, '@.*$', '')"
    no_ext = f"regexp_replace({no_host}, '(;ext=|\\mext\\.?|\\mx|#)\\s*\\d+\\s*$', '', 'i')"
    digits = f"regexp_replace({no_ext}, '\\D', '', 'g')"
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN {stripped} = '' THEN '' "
        f"WHEN {digits} = '' THEN 'REDACTED' "
        f"WHEN length({digits}) <= 4 THEN '****' "
        f"ELSE '***' || right({digits}, 4) END"
    )


def _pg_name(col: str) -> str:
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN btrim({col}, E' \\t\\r\\n') = '' THEN '' "
        f"ELSE 'REDACTED' END"
    )


def _pg_email(col: str) -> str:
    stripped = f"btrim({col}, E' \\t\\r\\n')"
    domain = f"regexp_replace({stripped}, '^.*@', '')"
    return (
        f"CASE WHEN {col} IS NULL THEN NULL WHEN {stripped} = '' THEN '' "
        f"WHEN strpos({stripped}, '@') = 0 OR {domain} = '' THEN 'REDACTED' "
        f"ELSE '***@' || {domain} END"
    )


_PG = {PiiKind.PHONE: _pg_phone, PiiKind.NAME: _pg_name, PiiKind.EMAIL: _pg_email, PiiKind.TEXT: _pg_name}


def masked_sql(column_sql: str, kind: PiiKind, *, vendor: str) -> str:
    """An SQL expression yielding ``column_sql`` masked by ``kind`` on this database vendor."""
    if vendor == "sqlite":
        return f"{SQLITE_FUNCTIONS[kind]}({column_sql})"
    if vendor == "postgresql":
        return _PG[kind](column_sql)
    raise ValueError(f"the SQL console does not support the {vendor} database")
