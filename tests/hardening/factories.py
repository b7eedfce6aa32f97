"""Factories for objects the demo pipeline does not create (per-user console rows, hand-off targets,
custom column mappings, forecast runs); the rest come from cdrweb.demo through the real pipeline."""

from __future__ import annotations

import factory

from tests import factories as base
from tests.factories import ColumnMappingFactory, ForecastRunFactory, HandoffTargetFactory  # noqa: F401


class SavedQueryFactory(base.SavedQueryFactory):
    """Saved and past queries that read personal columns, so masking has something to mask."""

    name = factory.Sequence(lambda n: f"saved {n}")
    sql = "SELECT ani, dnis FROM call_legs"


class QueryHistoryFactory(base.QueryHistoryFactory):
    sql = "SELECT ani, dnis FROM call_legs"
