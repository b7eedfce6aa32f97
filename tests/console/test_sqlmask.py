"""The SQL masking expressions give exactly what cdrweb/masking.py gives, on this database."""

from __future__ import annotations

import pytest
from django.db import connection

from cdrweb import masking
from cdrweb.console import sqlmask
from cdrweb.masking import PiiKind

PHONES = [
    "+14155550188",
    "tel:+1 415 555 0188;ext=12",
    "sip:+442071838750@carrier.example.com",
    "SIPS:4420718387@sbc",
    "  +1 (415) 555-0188  ",
    "+1 415 555 0188 ext. 77",
    "+1 415 555 0188 x 99",
    "0044 20 7183 8750#12",
    "anonymous",
    "123",
    "12345",
    "",
    "Jane Customer",
]
NAMES = ["Jane Customer", "", "   ", "x"]
EMAILS = ["jane@example.com", "JANE@Example.COM ", "no-at-sign", "trailing@", "", "a@b@c.org"]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _masked_in_sql(values: list[str], kind: PiiKind) -> list[str]:
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        sqlmask.register_sqlite(connection.connection)
    selects = ", ".join(
        sqlmask.masked_sql(_literal(v), kind, vendor=connection.vendor) + f" AS c{i}" for i, v in enumerate(values)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selects}")
        return list(cursor.fetchone())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, values",
    [(PiiKind.PHONE, PHONES), (PiiKind.NAME, NAMES), (PiiKind.TEXT, NAMES), (PiiKind.EMAIL, EMAILS)],
    ids=["phone", "name", "text", "email"],
)
def test_sql_masking_matches_the_masking_layer(kind, values):
    assert _masked_in_sql(values, kind) == [masking.mask_value(v, kind) for v in values]


@pytest.mark.django_db
def test_null_stays_null():
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        sqlmask.register_sqlite(connection.connection)
    exprs = ", ".join(sqlmask.masked_sql("NULL", kind, vendor=connection.vendor) for kind in PiiKind)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {exprs}")
        assert cursor.fetchone() == (None, None, None, None)


def test_an_unsupported_database_is_refused():
    with pytest.raises(ValueError, match="mysql"):
        sqlmask.masked_sql("x", PiiKind.PHONE, vendor="mysql")
