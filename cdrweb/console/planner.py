"""SQL-to-Analytics planning: which extraction jobs a console query needs before it can run.

The time range comes from the query's WHERE clauses on a virtual table's start-time column
(conversations.conversation_start, call_legs.started_at, costs.started_at): comparisons and
BETWEEN against literal dates/timestamps. For each active connection the extraction app says
which parts of that range are not extracted yet, and how it would batch them into jobs no longer
than the platform's maximum job interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from sqlglot import exp

from cdrweb.console.rewrite import parse_time_literal
from cdrweb.console.validate import ValidatedQuery
from cdrweb.console.vtables import virtual_tables


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime  # exclusive


@dataclass(frozen=True)
class PlannedJob:
    connection_id: int
    connection_name: str
    start: datetime
    end: datetime
    batches: tuple[tuple[datetime, datetime], ...]  # one platform job each


@dataclass(frozen=True)
class Plan:
    range: TimeRange | None
    jobs: tuple[PlannedJob, ...] = ()
    unavailable: str = ""  # why the extraction app could not be asked

    @property
    def needs_extraction(self) -> bool:
        return bool(self.jobs)

    @property
    def batch_count(self) -> int:
        return sum(len(job.batches) for job in self.jobs)


def _planning_aliases(tree: exp.Expression) -> dict[str, str]:
    """{alias or table name: time column} for every virtual table with a start-time column."""
    known = virtual_tables()
    aliases: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        vtable = known.get(table.name.lower())
        if vtable and vtable.time_column:
            aliases[table.alias_or_name.lower()] = vtable.time_column
            aliases[table.name.lower()] = vtable.time_column
    return aliases


def _is_planning_column(node: exp.Expression, aliases: dict[str, str]) -> bool:
    if not isinstance(node, exp.Column):
        return False
    name = node.name.lower()
    if node.table:
        return aliases.get(node.table.lower()) == name
    return name in aliases.values()


def time_range(query: ValidatedQuery, *, now: datetime | None = None) -> TimeRange | None:
    """The period the query reads, or None when it has no lower bound on a start-time column.

    Several bounds (sub-queries, OR) widen the range: planning fetches too much, never too little.
    A missing upper bound means "until now"; the future is never planned.
    """
    now = now or timezone.now()
    tree = query.tree
    aliases = _planning_aliases(tree)
    if not aliases:
        return None
    lows: list[datetime] = []
    highs: list[datetime] = []

    def bound(column_side: exp.Expression, literal_side: exp.Expression, *, column_is_left: bool, op: type) -> None:
        if not _is_planning_column(column_side, aliases):
            return
        value = parse_time_literal(literal_side)
        if value is None:
            return
        lower_ops, upper_ops = (exp.GT, exp.GTE), (exp.LT, exp.LTE)
        if not column_is_left:
            lower_ops, upper_ops = upper_ops, lower_ops
        if op in lower_ops:
            lows.append(value)
        elif op in upper_ops:
            highs.append(value)
        elif op is exp.EQ:
            lows.append(value)
            highs.append(value)

    for node in tree.find_all(exp.GT, exp.GTE, exp.LT, exp.LTE, exp.EQ):
        bound(node.this, node.expression, column_is_left=True, op=type(node))
        bound(node.expression, node.this, column_is_left=False, op=type(node))
    for node in tree.find_all(exp.Between):
        if _is_planning_column(node.this, aliases):
            low, high = parse_time_literal(node.args["low"]), parse_time_literal(node.args["high"])
            if low is not None and high is not None:
                lows.append(low)
                highs.append(high)
    if not lows:
        return None
    start = min(lows)
    end = min(max(highs), now) if highs else now
    if end <= start:
        return None
    return TimeRange(start=start, end=end)


def _interval(item: Any) -> tuple[datetime, datetime]:
    """Accept (start, end) tuples or objects with .start/.end from the extraction app."""
    if isinstance(item, (tuple, list)):
        return item[0], item[1]
    return item.start, item.end


def _intervals(items: Iterable[Any]) -> list[tuple[datetime, datetime]]:
    return [_interval(item) for item in items]


def plan_query(query: ValidatedQuery, *, now: datetime | None = None) -> Plan:
    """The extraction jobs needed before ``query`` sees complete data (none: run it now)."""
    period = time_range(query, now=now)
    if period is None:
        return Plan(range=None)
    try:
        from extraction import selectors as extraction_selectors
        from extraction import services as extraction_services
    except ImportError:
        return Plan(range=period, unavailable="The extraction app cannot plan jobs yet.")
    from extraction.models import Connection

    jobs = []
    for connection in Connection.objects.filter(is_active=True).order_by("name"):
        missing = extraction_selectors.missing_intervals(
            connection=connection, start=period.start, end=period.end
        )
        for start, end in _intervals(missing):
            batches = extraction_services.plan_chunks(connection=connection, start=start, end=end)
            jobs.append(PlannedJob(
                connection_id=connection.pk,
                connection_name=connection.name,
                start=start,
                end=end,
                batches=tuple(_intervals(batches)),
            ))
    return Plan(range=period, jobs=tuple(jobs))
