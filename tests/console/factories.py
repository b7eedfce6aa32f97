"""Console test data: the shared factories, set in July 2026 with a London destination."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import factory

from tests import factories as base
from tests.factories import QueryHistoryFactory, SavedQueryFactory  # noqa: F401 - re-exported

JULY_6 = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)


class ConnectionFactory(base.ConnectionFactory):
    class Meta:
        django_get_or_create = ()

    name = factory.Sequence(lambda n: f"genesys-{n}")
    region = "mypurecloud.ie"
    client_id = "client"
    client_secret = "s3cret"  # noqa: S105


class ConversationFactory(base.ConversationFactory):
    connection = factory.SubFactory(ConnectionFactory)
    conversation_start = JULY_6
    originating_direction = "outbound"


class CallLegFactory(base.CallLegFactory):
    connection = factory.SubFactory(ConnectionFactory)
    conversation = None
    sip_call_id = factory.LazyAttribute(lambda o: f"{o.leg_id}@sbc.example.net")
    dnis = "+442071838750"
    started_at = JULY_6
    connected_at = factory.LazyAttribute(lambda o: o.started_at)
    ended_at = factory.LazyAttribute(lambda o: o.started_at)
    duration_ms = 60_000
    queue_name = ""
    wrapup_name = ""
    trunk = "trunk-a"


class ParticipantFactory(base.ParticipantFactory):
    conversation = factory.SubFactory(ConversationFactory)


class SessionFactory(base.SessionFactory):
    participant = factory.SubFactory(ParticipantFactory)
    ani = "tel:+14155550100"
    dnis = "tel:+442071838750"
    remote = "Jane Customer"


class SegmentFactory(base.SegmentFactory):
    session = factory.SubFactory(SessionFactory)
    segment_start = JULY_6
    segment_end = None
    segment_type = "wrapup"
    wrap_up_note = "Customer asked to call back on +1 415 555 0188"


class SessionMetricFactory(base.SessionMetricFactory):
    session = factory.SubFactory(SessionFactory)
    value = 61_000
    emit_date = datetime(2026, 7, 6, 10, 1, tzinfo=UTC)


class CarrierFactory(base.CarrierFactory):
    name = factory.Sequence(lambda n: f"Carrier {n}")


class RateCardFactory(base.RateCardFactory):
    carrier = factory.SubFactory(CarrierFactory)
    name = "Standard"
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)


class RateFactory(base.RateFactory):
    rate_card = factory.SubFactory(RateCardFactory)
    prefix = factory.Sequence(lambda n: f"44{n}")
    destination = "United Kingdom"
    rate_per_minute = Decimal("0.01200000")


class CostRecordFactory(base.CostRecordFactory):
    leg = factory.SubFactory(CallLegFactory)
    carrier = factory.SubFactory(CarrierFactory)
    exact_cost = Decimal("0.012")
    cost = Decimal("0.012000")
    rated_at = datetime(2026, 7, 7, tzinfo=UTC)


class CarrierUploadFactory(base.CarrierUploadFactory):
    carrier = factory.SubFactory(CarrierFactory)
    status = "imported"


class CarrierCdrFactory(base.CarrierCdrFactory):
    upload = factory.SubFactory(CarrierUploadFactory)
    start_utc = JULY_6
    charge = Decimal("0.015000")
    from_raw = "14155550100"
    to_raw = "442071838750"
    to_e164 = "+442071838750"


class ReconciliationRunFactory(base.ReconciliationRunFactory):
    carrier = factory.SubFactory(CarrierFactory)
    period_start = datetime(2026, 7, 1, tzinfo=UTC)
    period_end = datetime(2026, 8, 1, tzinfo=UTC)


class DiscrepancyFactory(base.DiscrepancyFactory):
    run = factory.SubFactory(ReconciliationRunFactory)
    key = factory.Sequence(lambda n: f"cost_mismatch:{n}:")
    start_utc = JULY_6
    amount_at_stake = Decimal("0.003000")
