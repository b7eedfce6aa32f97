"""Billing test data: the shared factories, with legs to a New York number and a default carrier."""

from __future__ import annotations

from datetime import timedelta

import factory

from tests import factories as base
from tests.factories import T0  # noqa: F401 - re-exported


class ConnectionFactory(base.ConnectionFactory):
    default_region = "US"


class CallLegFactory(base.CallLegFactory):
    """An answered outbound leg to a New York number; ``talk_s`` sets the talk time.

    Only the extraction contract fields: no normalised numbers, queue or wrap-up, so rating has
    to normalise the raw numbers itself."""

    class Params:
        talk_s = 61

    connection = factory.SubFactory(ConnectionFactory)
    dnis = "+12125550177"
    ani_e164 = ""
    dnis_e164 = ""
    ended_at = factory.LazyAttribute(
        lambda o: o.connected_at + timedelta(milliseconds=o.duration_ms) if o.connected_at else o.started_at
    )
    queue_name = ""
    wrapup_name = ""


class CarrierFactory(base.CarrierFactory):
    is_default = True


class RateCardFactory(base.RateCardFactory):
    carrier = factory.SubFactory(CarrierFactory)


class RateFactory(base.RateFactory):
    rate_card = factory.SubFactory(RateCardFactory)


class MappingFactory(base.MappingFactory):
    carrier = factory.SubFactory(CarrierFactory)
