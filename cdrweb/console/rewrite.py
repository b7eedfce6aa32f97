"""Turn a validated console query into the SQL the database runs.

The virtual tables become CTEs of their (masked) SELECTs placed before the user's own CTEs, so
the raw columns never enter the user's part of the query. Then the tree is transpiled to the
connection's dialect with comments dropped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from cdrweb.console import vtables
from cdrweb.console.validate import QueryRefused, ValidatedQuery

SQLGLOT_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres"}
SQLITE_DATE_TRUNC = "cdrweb_date_trunc"
SQLITE_EXTRACT = "cdrweb_extract"

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def parse_time_literal(node: exp.Expression) -> datetime | None:
    """A string/DATE/TIMESTAMP literal as an aware UTC datetime (date-only = midnight)."""
    if isinstance(node, (exp.Cast, exp.TryCast)):
        node = node.this
    if not isinstance(node, exp.Literal) or not node.is_string:
        return None
    text = node.this.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # the console works in UTC (docs/SQL_CONSOLE.md)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """UTC text the way Django stores datetimes on SQLite, so comparisons agree on both DBs."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")


def _is_time_column(node: exp.Expression, names: set[str]) -> bool:
    return isinstance(node, exp.Column) and node.name.lower() in names


def _normalise_time_literals(tree: exp.Expression) -> None:
    """'2026-07-01T00:00Z' or DATE '2026-07-01' next to a timestamp column -> '2026-07-01 00:00:00'.

    SQLite compares the stored text, so every literal must have Django's storage format.
    """
    names = vtables.timestamp_columns()

    def replace(node: exp.Expression) -> None:
        value = parse_time_literal(node)
        if value is not None:
            node.replace(exp.Literal.string(format_timestamp(value)))

    for node in list(tree.find_all(*_COMPARISONS)):
        left, right = node.this, node.expression
        if _is_time_column(left, names):
            replace(right)
        elif _is_time_column(right, names):
            replace(left)
    for node in list(tree.find_all(exp.Between)):
        if _is_time_column(node.this, names):
            replace(node.args["low"])
            replace(node.args["high"])


def _sqlite_date_functions(tree: exp.Expression) -> None:
    """date_trunc/extract have no SQLite equivalent: call the console's registered functions."""
    for node in list(tree.find_all(exp.TimestampTrunc, exp.DateTrunc)):
        unit = node.args.get("unit")
        node.replace(exp.Anonymous(
            this=SQLITE_DATE_TRUNC,
            expressions=[exp.Literal.string(unit.name.lower() if unit else ""), node.this],
        ))
    for node in list(tree.find_all(exp.Extract)):
        node.replace(exp.Anonymous(
            this=SQLITE_EXTRACT,
            expressions=[exp.Literal.string(node.this.name.lower()), node.expression],
        ))


def _name_unaliased_columns(tree: exp.Expression) -> None:
    """Give expressions without an alias the same column name on both databases (their SQL)."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this  # a set operation takes its column names from the first SELECT
    if not isinstance(select, exp.Select):
        return
    for projection in list(select.expressions):
        if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            continue
        name = projection.sql(dialect="postgres", comments=False)[:63]  # PostgreSQL's name limit
        projection.replace(exp.alias_(projection.copy(), name, quoted=True))


def _cap(tree: exp.Expression, limit: int) -> None:
    """LIMIT the outer query to ``limit`` rows unless the user's own LIMIT is already lower."""
    if tree.args.get("fetch") is not None:
        return
    existing = tree.args.get("limit")
    if existing is not None:
        value = existing.expression
        if not (isinstance(value, exp.Literal) and not value.is_string and int(value.this) > limit):
            return  # a smaller (or computed) limit: the runner's fetch cap still applies
    tree.set("limit", exp.Limit(expression=exp.Literal.number(limit)))


def _fingerprint(tree: exp.Expression) -> tuple[list[str], list[str]]:
    strings = sorted(str(n.this) for n in tree.find_all(exp.Literal) if n.is_string)
    tables = sorted(n.name.lower() for n in tree.find_all(exp.Table))
    return strings, tables


def _check_round_trip(tree: exp.Expression, sql: str, dialect: str) -> None:
    """Defence in depth: the generated SQL must read back, in the target dialect, with the same
    string literals and tables, so quoting or escaping can never turn a checked literal into SQL."""
    again = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    if len(again) != 1 or _fingerprint(again[0]) != _fingerprint(tree):
        raise QueryRefused("The query could not be translated safely for this database; simplify it.")


def compose(query: ValidatedQuery, *, vendor: str, reveal: bool, limit: int | None = None) -> str:
    """The SQL to run: masked virtual-table CTEs, then the user's query in ``vendor``'s dialect.

    ``limit`` caps the outer query (the runner fetches one row more than it shows, to know).
    """
    dialect = SQLGLOT_DIALECTS.get(vendor)
    if dialect is None:
        raise QueryRefused(f"The SQL console does not support the {vendor} database.")
    tree = query.tree.copy()
    for table in tree.find_all(exp.Table):
        if table.name.lower() in query.tables:
            table.set("this", exp.to_identifier(table.name.lower()))
    _normalise_time_literals(tree)
    _name_unaliased_columns(tree)
    if limit is not None:
        _cap(tree, limit)
    if vendor == "sqlite":
        _sqlite_date_functions(tree)

    options = {"dialect": dialect, "comments": False, "unsupported_level": ErrorLevel.RAISE}
    try:
        _check_round_trip(tree, tree.sql(**options), dialect)
        # The user's CTEs go after ours, in one WITH list.
        with_ = tree.args.get("with_")
        tree.set("with_", None)
        user_ctes = [cte.sql(**options) for cte in with_.expressions] if with_ else []
        body = tree.sql(**options)
    except SqlglotError as err:
        raise QueryRefused(f"This query cannot run on {vendor}: {err}") from err

    # PostgreSQL would materialise a CTE used twice (no index use); inline ours like a view.
    hint = "NOT MATERIALIZED " if vendor == "postgresql" else ""
    ours = [
        f"{name} AS {hint}({vtables.select_sql(name, vendor=vendor, reveal=reveal)})"
        for name in sorted(query.tables)
    ]
    ctes = ours + user_ctes
    if not ctes:
        return body
    recursive = "RECURSIVE " if with_ is not None and with_.args.get("recursive") else ""
    return f"WITH {recursive}{', '.join(ctes)} {body}"
