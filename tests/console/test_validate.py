"""The validator refuses everything but a single SELECT over the virtual tables."""

from __future__ import annotations

import pytest

from cdrweb.console.validate import QueryRefused, validate

REFUSED = {
    "update": ("UPDATE call_legs SET ani = 'x'", "Only SELECT"),
    "delete": ("DELETE FROM call_legs", "Only SELECT"),
    "insert": ("INSERT INTO call_legs (id) VALUES (1)", "Only SELECT"),
    "drop": ("DROP TABLE call_legs", "Only SELECT"),
    "create_as": ("CREATE TABLE x AS SELECT * FROM call_legs", "Only SELECT"),
    "attach": ("ATTACH DATABASE '/tmp/x.db' AS x", "could not be parsed"),
    "pragma": ("PRAGMA table_info(extraction_callleg)", "Only SELECT"),
    "set": ("SET statement_timeout = 0", "Only SELECT"),
    "copy": ("COPY call_legs TO '/tmp/x.csv'", "Only SELECT"),
    "explain": ("EXPLAIN SELECT * FROM call_legs", "Only SELECT"),
    "two_statements": ("SELECT 1; DELETE FROM call_legs", "one statement"),
    "two_selects": ("SELECT 1; SELECT 2", "one statement"),
    "statement_after_line_comment": ("SELECT 1 -- hidden\n; DROP TABLE call_legs", "one statement"),
    "statement_after_block_comment": ("SELECT 1 /* ; */ ; DROP TABLE call_legs", "one statement"),
    "delete_in_cte": ("WITH d AS (DELETE FROM call_legs RETURNING *) SELECT * FROM d", "Only SELECT"),
    "select_into": ("SELECT * INTO stolen FROM call_legs", "Only SELECT"),
    "for_update": ("SELECT * FROM call_legs FOR UPDATE", "Only SELECT"),
    "unknown_table": ("SELECT * FROM extraction_callleg", "Unknown table"),
    "raw_auth_table": ("SELECT * FROM auth_user", "Unknown table"),
    "sqlite_master": ("SELECT * FROM sqlite_master", "System catalogs"),
    "sqlite_schema": ("SELECT name FROM sqlite_schema", "System catalogs"),
    "pg_catalog": ("SELECT * FROM pg_catalog.pg_user", "Schema-qualified"),
    "pg_tables": ("SELECT * FROM pg_tables", "System catalogs"),
    "information_schema": ("SELECT * FROM information_schema.tables", "Schema-qualified"),
    "schema_qualified_vtable": ("SELECT * FROM main.call_legs", "Schema-qualified"),
    "pg_read_file": ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    "pg_sleep": ("SELECT pg_sleep(10)", "pg_sleep"),
    "load_extension": ("SELECT load_extension('evil')", "load_extension"),
    "readfile": ("SELECT readfile('/etc/passwd')", "readfile"),
    "current_setting": ("SELECT current_setting('data_directory')", "current_setting"),
    "set_config": ("SELECT set_config('statement_timeout', '0', false)", "set_config"),
    "current_user_bare": ("SELECT current_user", "current_user"),
    "user_bare": ("SELECT user FROM call_legs", "user"),
    "function_in_from": ("SELECT * FROM generate_series(1, 10)", "generate_series"),
    "regclass_cast": ("SELECT 'pg_authid'::regclass", "Casting"),
    "placeholder": ("SELECT * FROM call_legs WHERE id = $1", "Only SELECT"),
    "cte_shadowing": ("WITH call_legs AS (SELECT 1 AS ani) SELECT * FROM call_legs", "CTE may not be named"),
    "e_string_escape_injection": (
        "SELECT E'\\\\' AS a, ' UNION SELECT password FROM auth_user --' AS b FROM rates", "plain 'quoted'"),
    "unicode_string": ("SELECT U&'\\0041' FROM rates", "plain 'quoted'"),
    "dollar_quoted": ("SELECT $$x$$ FROM rates", "plain 'quoted'"),
    "hex_string": ("SELECT X'41' FROM rates", "plain 'quoted'"),
    "date_trunc_unit": ("SELECT date_trunc('fortnight', started_at) FROM call_legs", "date_trunc units"),
    "extract_field": ("SELECT extract(epoch FROM started_at) FROM call_legs", "extract fields"),
    "empty": ("   ", "Write a SELECT"),
    "only_comment": ("-- nothing", "Write a SELECT"),
    "garbage": ("SELEC * FORM call_legs", "Only SELECT"),
    "unbalanced": ("SELECT (1 FROM call_legs", "could not be parsed"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("sql, reason", REFUSED.values(), ids=REFUSED.keys())
def test_it_refuses(sql, reason):
    with pytest.raises(QueryRefused) as refused:
        validate(sql)
    assert reason.lower() in str(refused.value).lower()


ALLOWED = {
    "join_and_group": (
        "SELECT c.carrier, date_trunc('week', c.started_at) AS week, sum(c.cost) AS cost, count(d.id) AS flags "
        "FROM costs c LEFT JOIN discrepancies d ON d.call_leg_id = c.call_leg_id "
        "WHERE c.started_at >= '2026-07-01' AND c.started_at < '2026-10-01' GROUP BY 1, 2 ORDER BY 1, 2",
        {"costs", "discrepancies"},
    ),
    "cte_and_window": (
        "WITH x AS (SELECT direction, duration_ms FROM call_legs) "
        "SELECT direction, row_number() OVER (PARTITION BY direction ORDER BY duration_ms) AS n FROM x",
        {"call_legs"},
    ),
    "union": ("SELECT ani FROM call_legs UNION ALL SELECT ani FROM sessions", {"call_legs", "sessions"}),
    "subquery": ("SELECT * FROM (SELECT lower(ani) AS a FROM call_legs) s WHERE a LIKE '%1'", {"call_legs"}),
    "casts": ("SELECT CAST(ani AS text), duration_ms::numeric(12, 2), started_at::date FROM call_legs",
              {"call_legs"}),
    "recursive": ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT i FROM n",
                  set()),
    "comment_is_fine": ("SELECT count(*) /* how many */ FROM rates -- total\n", {"rates"}),
    "case_insensitive_names": ("SELECT COUNT(*) FROM Call_Legs", {"call_legs"}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("sql, tables", ALLOWED.values(), ids=ALLOWED.keys())
def test_it_accepts_selects_over_virtual_tables(sql, tables):
    assert validate(sql).tables == frozenset(tables)
