"""Forecast test data: the shared factories with inbound legs carrying wrap-up codes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import CostRecord
from extraction.models import CallLeg, Connection
from tests import factories as base
from tests.factories import HandoffTargetFactory  # noqa: F401 - re-exported


class ConnectionFactory(base.ConnectionFactory):
    class Meta:
        django_get_or_create = ()

    name = factory.Sequence(lambda n: f"conn-{n}")
    region = "mypurecloud.ie"
    client_id = "client-id"
    client_secret = "client-secret"  # noqa: S105


class CallLegFactory(base.CallLegFactory):
    connection = factory.SubFactory(ConnectionFactory)
    direction = "inbound"
    started_at = factory.LazyFunction(timezone.now)
    duration_ms = 60_000
    talk_ms = 180_000
    wrapup_code = "code-sales"
    wrapup_name = "Sales"


def bulk_legs(
    *, connection: Connection, code: str, name: str, counts: dict[date, int], hour: int = 10,
    cost: Decimal | None = None, currency: str = "EUR",
) -> list[CallLeg]:
    """Create ``counts[day]`` answered legs per day at ``hour`` local time, optionally rated at ``cost``."""
    tz = timezone.get_current_timezone()
    legs = []
    for day, n in counts.items():
        start = datetime.combine(day, time(hour), tzinfo=tz)
        for i in range(int(n)):
            at = start + timedelta(seconds=i)
            legs.append(CallLeg(
                connection=connection, platform="genesys", external_call_id=f"{code}-{day}-{i}",
                leg_id=f"{code}-{day}-{i}-leg", direction="inbound", started_at=at,
                connected_at=at, duration_ms=60_000, talk_ms=120_000, wrapup_code=code, wrapup_name=name,
            ))
    legs = CallLeg.objects.bulk_create(legs, batch_size=1000)
    if cost is not None:
        legs = list(CallLeg.objects.filter(wrapup_code=code, connection=connection))
        CostRecord.objects.bulk_create(
            [CostRecord(leg=leg, cost=cost, currency=currency, status="rated", rated_at=timezone.now())
             for leg in legs],
            batch_size=1000,
        )
    return legs
