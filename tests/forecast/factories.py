"""Factories for forecast tests: connections, call legs with wrap-up codes, cost records, targets."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from billing.models import CostRecord
from cdrweb.forecast.models import HandoffTarget
from extraction.models import CallLeg, Connection


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"conn-{n}")
    platform = "genesys"
    region = "mypurecloud.ie"
    client_id = "client-id"
    client_secret = "client-secret"


class CallLegFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallLeg

    connection = factory.SubFactory(ConnectionFactory)
    platform = "genesys"
    external_call_id = factory.Sequence(lambda n: f"call-{n}")
    leg_id = factory.Sequence(lambda n: f"leg-{n}")
    direction = "inbound"
    started_at = factory.LazyFunction(timezone.now)
    connected_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=5))
    duration_ms = 60_000
    talk_ms = 180_000
    wrapup_code = "code-sales"
    wrapup_name = "Sales"


class HandoffTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HandoffTarget

    name = factory.Sequence(lambda n: f"target-{n}")
    kind = HandoffTarget.Kind.WEBHOOK
    url = "http://127.0.0.1:9/hook"
    secret = "s3cret-key"
    timeout_seconds = 5
    max_attempts = 3
    backoff_seconds = Decimal("0")


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
