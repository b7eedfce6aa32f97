"""factory_boy factories for billing tests; CallLegs use only the extraction contract fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory

from billing.models import Carrier, CarrierTrunkMapping, Rate, RateCard
from extraction.models import CallLeg, Connection

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection
        django_get_or_create = ("name",)

    name = "acme-genesys"
    platform = "genesys"
    default_region = "US"


class CallLegFactory(factory.django.DjangoModelFactory):
    """An answered outbound leg to a New York number; ``talk_s`` sets the talk time."""

    class Meta:
        model = CallLeg

    class Params:
        talk_s = 61

    connection = factory.SubFactory(ConnectionFactory)
    platform = "genesys"
    external_call_id = factory.Sequence(lambda n: f"conv-{n:05d}")
    leg_id = factory.Sequence(lambda n: f"leg-{n:05d}")
    sip_call_id = factory.Sequence(lambda n: f"call{n}@sbc.example.net")
    sip_call_id_local = factory.LazyAttribute(lambda o: o.sip_call_id.split("@")[0])
    direction = "outbound"
    ani = "+14155550100"
    dnis = "+12125550177"
    started_at = T0
    connected_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=5))
    duration_ms = factory.LazyAttribute(lambda o: o.talk_s * 1000)
    ended_at = factory.LazyAttribute(
        lambda o: o.connected_at + timedelta(milliseconds=o.duration_ms) if o.connected_at else o.started_at
    )
    trunk = "carrier-a-trunk"


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        django_get_or_create = ("name",)

    name = "Carrier A"
    currency = "USD"
    is_default = True


class RateCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RateCard

    carrier = factory.SubFactory(CarrierFactory)
    name = factory.LazyAttribute(lambda o: f"{o.carrier.name} deck")
    version = factory.Sequence(lambda n: n + 1)
    currency = "USD"
    effective_from = datetime(2026, 10, 1, tzinfo=UTC)
    default_increment_first = 60
    default_increment_next = 6
    status = RateCard.Status.ACTIVE


class RateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rate

    rate_card = factory.SubFactory(RateCardFactory)
    prefix = "1"
    destination = "USA"
    direction = "outbound"
    rate_per_minute = Decimal("0.0100")


class MappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierTrunkMapping

    carrier = factory.SubFactory(CarrierFactory)
    match_field = "trunk"
    match_value = "carrier-a-trunk"
