"""Factories for objects the demo pipeline does not create (per-user console rows, hand-off targets,
custom column mappings, forecast runs); the rest come from cdrweb.demo through the real pipeline."""

from __future__ import annotations

from datetime import date

import factory

from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.forecast.models import ForecastRun
from reconciliation.models import ColumnMapping
from tests.forecast.factories import HandoffTargetFactory  # noqa: F401 - re-exported for the suite


class SavedQueryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedQuery

    name = factory.Sequence(lambda n: f"saved {n}")
    sql = "SELECT ani, dnis FROM call_legs"


class QueryHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueryHistory

    sql = "SELECT ani, dnis FROM call_legs"
    status = QueryHistory.Status.OK


class ColumnMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ColumnMapping

    name = factory.Sequence(lambda n: f"mapping {n}")
    based_on_preset = "telnyx"
    fields = factory.LazyFunction(dict)


class ForecastRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ForecastRun

    horizon_days = 7
    history_start = date(2026, 10, 1)
    history_end = date(2026, 10, 31)
