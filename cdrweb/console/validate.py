"""Parse and check a console query with sqlglot before anything reaches the database.

Rules (docs/SQL_CONSOLE.md): one SELECT (CTEs and set operations allowed), only the virtual
tables (and the query's own CTEs), no schema-qualified names, functions and casts from an
allowlist, no parameters, locks or SELECT INTO. The console speaks PostgreSQL-flavoured SQL;
sqlglot transpiles it for SQLite. Comments are dropped when the query is regenerated from the
parsed tree, so a comment can never hide a second statement.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from cdrweb.console.vtables import virtual_tables

INPUT_DIALECT = "postgres"
MAX_SQL_CHARS = 20_000

# Allowlisted by sqlglot's canonical name; each runs the same way on SQLite and PostgreSQL
# (date_trunc and extract are provided for SQLite by the console, see execute.py).
ALLOWED_FUNCTIONS = frozenset({
    "AND", "OR", "CASE", "IF", "CAST", "COALESCE", "NULLIF", "GREATEST", "LEAST",
    "COUNT", "SUM", "AVG", "MIN", "MAX", "GROUP_CONCAT",
    "ROUND", "ABS", "CEIL", "FLOOR",
    "LENGTH", "LOWER", "UPPER", "TRIM", "SUBSTRING", "REPLACE", "STR_POSITION",
    "DATE", "DATE_TRUNC", "TIMESTAMP_TRUNC", "EXTRACT", "EXISTS",
    "ROW_NUMBER", "RANK", "DENSE_RANK", "NTILE", "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE",
})

_T = exp.DataType.Type
ALLOWED_CAST_TYPES = frozenset({
    _T.TEXT, _T.VARCHAR, _T.CHAR, _T.NVARCHAR, _T.NCHAR,
    _T.INT, _T.BIGINT, _T.SMALLINT, _T.TINYINT,
    _T.DECIMAL, _T.DOUBLE, _T.FLOAT,
    _T.DATE, _T.DATETIME, _T.TIMESTAMP, _T.TIMESTAMPTZ, _T.BOOLEAN,
})

# Statement kinds that must never appear anywhere in the tree (e.g. a DELETE inside a CTE).
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.DML, exp.DDL, exp.Command, exp.Pragma, exp.Set, exp.Copy, exp.Into, exp.Lock,
    exp.Placeholder, exp.Parameter, exp.SessionParameter, exp.Transaction, exp.Commit,
    exp.Rollback, exp.Use, exp.Describe, exp.Show, exp.Kill, exp.Grant, exp.Analyze,
    exp.Merge, exp.Cache, exp.Uncache, exp.Refresh, exp.LoadData, exp.Export, exp.Install,
    exp.Attach, exp.Detach, exp.Declare,
)

# String forms whose escaping differs between sqlglot and the databases (E'\\' ends an E-string
# early in PostgreSQL): only plain 'quoted' strings are accepted, so what runs is what was checked.
_SPECIAL_STRINGS: tuple[type[exp.Expression], ...] = (
    exp.ByteString, exp.HexString, exp.BitString, exp.RawString, exp.UnicodeString, exp.National,
)

# What the console's SQLite date_trunc/extract implement (execute.py), so both databases agree.
DATE_TRUNC_UNITS = frozenset({"second", "minute", "hour", "day", "week", "month", "quarter", "year"})
EXTRACT_FIELDS = frozenset({
    "year", "quarter", "month", "week", "isoyear", "day", "dow", "isodow", "doy", "hour", "minute", "second",
})

# Bare words PostgreSQL reads as functions of the session, not as columns.
_SESSION_WORDS = frozenset({
    "user", "current_user", "session_user", "current_role", "current_catalog", "current_schema",
})
_SYSTEM_PREFIXES = ("sqlite_", "pg_", "information_schema")


class QueryRefused(ValueError):
    """The query breaks a console rule; the message says which, for the user."""


@dataclass(frozen=True)
class ValidatedQuery:
    sql: str
    tree: exp.Query
    tables: frozenset[str]  # virtual tables the query reads


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    return node.sql_name().upper()


def _parse_one(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read=INPUT_DIALECT) if s is not None]
    except SqlglotError as err:
        first = str(err).splitlines()[0] if str(err) else "syntax error"
        raise QueryRefused(f"The query could not be parsed: {first}") from err
    except RecursionError as err:
        raise QueryRefused("The query is nested too deeply.") from err
    if not statements:
        raise QueryRefused("Write a SELECT query.")
    if len(statements) > 1:
        raise QueryRefused("Only one statement is allowed per query.")
    return statements[0]


def _check_nodes(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise QueryRefused(f"Only SELECT queries are allowed ({node.key.upper()} is not).")
        if isinstance(node, _SPECIAL_STRINGS):
            raise QueryRefused("Only plain 'quoted' strings are allowed (no E'', U&'', X'', B'', N'' or $$).")
        if isinstance(node, exp.Func) and _function_name(node) not in ALLOWED_FUNCTIONS:
            raise QueryRefused(
                f"The function {_function_name(node).lower()}() is not allowed in the console."
            )
        if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
            unit = node.args.get("unit")
            if unit is None or unit.name.lower() not in DATE_TRUNC_UNITS:
                raise QueryRefused(f"date_trunc units are: {', '.join(sorted(DATE_TRUNC_UNITS))}.")
        if isinstance(node, exp.Extract) and node.this.name.lower() not in EXTRACT_FIELDS:
            raise QueryRefused(f"extract fields are: {', '.join(sorted(EXTRACT_FIELDS))}.")
        if isinstance(node, (exp.Cast, exp.TryCast)):
            target = node.args.get("to")
            if not isinstance(target, exp.DataType) or target.this not in ALLOWED_CAST_TYPES:
                raise QueryRefused(f"Casting to {target.sql() if target else '?'} is not allowed.")
        if isinstance(node, exp.Column):
            if node.args.get("db") or node.args.get("catalog"):
                raise QueryRefused("Schema-qualified column names are not allowed.")
            if not node.table and node.name.lower() in _SESSION_WORDS:
                raise QueryRefused(f"{node.name} is not a column of the console's tables.")


def _check_tables(tree: exp.Expression) -> frozenset[str]:
    known = virtual_tables()
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    clash = cte_names & set(known)
    if clash:
        raise QueryRefused(f"A CTE may not be named like a console table ({', '.join(sorted(clash))}).")
    used: set[str] = set()
    for table in tree.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            raise QueryRefused(
                f"Schema-qualified names ({table.sql(dialect=INPUT_DIALECT)}) are not allowed; "
                "use the console's tables."
            )
        if not isinstance(table.this, exp.Identifier):
            raise QueryRefused("Table functions are not allowed in FROM; use the console's tables.")
        name = table.name.lower()
        if name in cte_names:
            continue
        if name in known:
            used.add(name)
            continue
        if name.startswith(_SYSTEM_PREFIXES):
            raise QueryRefused(f"System catalogs ({table.name}) are not available in the console.")
        raise QueryRefused(
            f"Unknown table {table.name}. The console's tables are: {', '.join(sorted(known))}."
        )
    return frozenset(used)


def validate(sql: str) -> ValidatedQuery:
    """Parse ``sql`` and check every console rule; raises QueryRefused with the reason."""
    sql = (sql or "").strip()
    if not sql:
        raise QueryRefused("Write a SELECT query.")
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRefused(f"The query is longer than {MAX_SQL_CHARS} characters.")
    tree = _parse_one(sql)
    if not isinstance(tree, (exp.Select, exp.SetOperation)):
        raise QueryRefused("Only SELECT queries are allowed.")
    _check_nodes(tree)
    tables = _check_tables(tree)
    return ValidatedQuery(sql=sql, tree=tree, tables=tables)
