"""Composing the SQL that runs: masked CTEs first, the user's query transpiled, comments gone."""

from __future__ import annotations

import pytest
import sqlglot

from cdrweb.console import rewrite
from cdrweb.console.validate import QueryRefused, validate


@pytest.mark.django_db
@pytest.mark.parametrize("vendor", ["sqlite", "postgresql"])
def test_virtual_tables_become_masked_ctes_before_the_users_own(vendor):
    sql = rewrite.compose(
        validate("WITH RECURSIVE mine AS (SELECT ani FROM call_legs) /* xyzzy */ SELECT * FROM mine -- plugh"),
        vendor=vendor, reveal=False,
    )
    assert sql.startswith("WITH RECURSIVE call_legs AS ")
    assert sql.index("call_legs AS") < sql.index("mine AS")
    assert '"t0"."ani" AS "ani"' not in sql  # only the masked expression
    assert "xyzzy" not in sql and "plugh" not in sql  # comments never reach the database
    assert ("NOT MATERIALIZED" in sql) == (vendor == "postgresql")


@pytest.mark.django_db
def test_sqlite_gets_the_consoles_date_functions_and_normalised_literals():
    sql = rewrite.compose(
        validate("SELECT date_trunc('week', started_at), extract(dow FROM started_at) FROM call_legs "
                 "WHERE started_at >= '2026-07-01T02:00:00+02:00' AND started_at < DATE '2026-10-01'"),
        vendor="sqlite", reveal=False,
    )
    assert "CDRWEB_DATE_TRUNC('week', started_at)" in sql
    assert "CDRWEB_EXTRACT('dow', started_at)" in sql
    assert "started_at >= '2026-07-01 00:00:00' AND started_at < '2026-10-01 00:00:00'" in sql


@pytest.mark.django_db
def test_an_unsupported_database_is_refused():
    with pytest.raises(QueryRefused, match="mysql"):
        rewrite.compose(validate("SELECT 1"), vendor="mysql", reveal=False)


def test_the_round_trip_check_catches_sql_that_reads_back_differently():
    tree = sqlglot.parse_one("SELECT 'a' AS x FROM rates", read="postgres")
    rewrite._check_round_trip(tree, "SELECT 'a' AS x FROM rates", "sqlite")
    with pytest.raises(QueryRefused, match="translated safely"):
        rewrite._check_round_trip(tree, "SELECT 'a' AS x FROM rates UNION SELECT password FROM auth_user", "sqlite")
