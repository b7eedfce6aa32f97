"""The suite's factory_boy factories, one per model, with defaults that make a valid row.

Each app's ``tests/<app>/factories.py`` re-exports these and, where its tests need other defaults
(a number plan, an increment, a fixed name), subclasses them with just those fields.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory

from billing.models import Carrier, CarrierTrunkMapping, CostRecord, Rate, RateCard
from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.forecast.models import ForecastRun, HandoffTarget
from extraction.models import CallLeg, Connection, Conversation, Participant, Segment, Session, SessionMetric
from reconciliation.models import (
    CarrierCdr,
    CarrierUpload,
    CdrMatch,
    ColumnMapping,
    Discrepancy,
    ReconciliationRun,
)

T0 = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday


# --- extraction ------------------------------------------------------------------------------


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection
        django_get_or_create = ("name",)

    name = "acme-genesys"
    platform = "genesys"


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    connection = factory.SubFactory(ConnectionFactory)
    conversation_id = factory.Sequence(lambda n: f"conv-{n:05d}")
    conversation_start = T0


class CallLegFactory(factory.django.DjangoModelFactory):
    """An answered outbound leg; ``talk_s`` sets the talk time."""

    class Meta:
        model = CallLeg

    class Params:
        talk_s = 60

    connection = factory.SubFactory(ConnectionFactory)
    platform = "genesys"
    external_call_id = factory.Sequence(lambda n: f"conv-{n:05d}")
    leg_id = factory.Sequence(lambda n: f"leg-{n:05d}")
    sip_call_id = factory.Sequence(lambda n: f"call{n}@sbc.example.net")
    sip_call_id_local = factory.LazyAttribute(lambda o: o.sip_call_id.split("@")[0])
    direction = "outbound"
    ani = "+14155550100"
    dnis = "+442079460188"
    ani_e164 = factory.LazyAttribute(lambda o: o.ani)
    dnis_e164 = factory.LazyAttribute(lambda o: o.dnis)
    started_at = T0
    connected_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=5))
    duration_ms = factory.LazyAttribute(lambda o: o.talk_s * 1000)
    ended_at = factory.LazyAttribute(
        lambda o: (o.connected_at or o.started_at) + timedelta(milliseconds=o.duration_ms)
    )
    queue_name = "Sales"
    wrapup_name = "Sale"
    trunk = "carrier-a-trunk"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    conversation = factory.SubFactory(ConversationFactory)
    participant_id = factory.Sequence(lambda n: f"p-{n}")
    participant_name = "Jane Customer"
    purpose = "customer"


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    participant = factory.SubFactory(ParticipantFactory)
    conversation = factory.LazyAttribute(lambda o: o.participant.conversation)
    session_id = factory.Sequence(lambda n: f"s-{n:05d}")
    media_type = "voice"
    direction = "outbound"
    ani = "+14155550100"
    dnis = "+442079460188"


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    session = factory.SubFactory(SessionFactory)
    conversation = factory.LazyAttribute(lambda o: o.session.conversation)
    segment_index = factory.Sequence(lambda n: n)
    segment_start = T0
    segment_end = factory.LazyAttribute(lambda o: o.segment_start + timedelta(seconds=30))
    segment_type = "interact"


class SessionMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionMetric

    session = factory.SubFactory(SessionFactory)
    conversation = factory.LazyAttribute(lambda o: o.session.conversation)
    name = "tTalk"
    value = 30000
    emit_date = T0


# --- billing ---------------------------------------------------------------------------------


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        django_get_or_create = ("name",)

    name = "Carrier A"
    currency = "USD"


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


class CostRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostRecord

    leg = factory.SubFactory(CallLegFactory)
    carrier = factory.SubFactory(CarrierFactory)
    destination = "United Kingdom - London"
    country = "GB"
    number_type = CostRecord.NumberType.FIXED
    billable_seconds = 60
    cost = Decimal("1.000000")
    exact_cost = factory.LazyAttribute(lambda o: o.cost)
    currency = "USD"
    status = CostRecord.Status.RATED
    rated_at = T0


# --- reconciliation --------------------------------------------------------------------------


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconciliationRun
        django_get_or_create = ("carrier", "period_start", "period_end")

    carrier = factory.SubFactory(CarrierFactory)
    period_start = datetime(2026, 11, 1, tzinfo=UTC)
    period_end = datetime(2026, 12, 1, tzinfo=UTC)
    status = "done"


class CarrierUploadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierUpload

    carrier = factory.SubFactory(CarrierFactory)
    original_name = "cdrs.csv"
    file = "reconciliation/uploads/cdrs.csv"
    sha256 = factory.Sequence(lambda n: f"{n:064d}")


class CarrierCdrFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierCdr

    upload = factory.SubFactory(CarrierUploadFactory)
    carrier = factory.LazyAttribute(lambda o: o.upload.carrier)
    line_number = factory.Sequence(lambda n: n + 2)
    record_id = factory.Sequence(lambda n: f"R{n:05d}")
    start_utc = T0
    duration_seconds = 60
    billed_seconds = 60
    charge = Decimal("1.500000")
    currency = "USD"
    from_e164 = "+14155550100"
    to_e164 = "+442079460188"


class DiscrepancyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Discrepancy

    run = factory.SubFactory(ReconciliationRunFactory)
    key = factory.Sequence(lambda n: f"k{n}")
    type = "cost_mismatch"
    status = "open"
    amount_at_stake = Decimal("0.500000")
    currency = "USD"


class CdrMatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CdrMatch

    run = factory.SubFactory(ReconciliationRunFactory)
    carrier_cdr = factory.SubFactory(CarrierCdrFactory)
    leg = factory.SubFactory(CallLegFactory)
    method = "exact"


class ColumnMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ColumnMapping

    name = factory.Sequence(lambda n: f"mapping {n}")
    based_on_preset = "telnyx"
    fields = factory.LazyFunction(dict)


# --- console and forecast --------------------------------------------------------------------


class SavedQueryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedQuery

    name = factory.Sequence(lambda n: f"query {n}")
    sql = "SELECT count(*) AS n FROM call_legs"


class QueryHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueryHistory

    sql = "SELECT count(*) AS n FROM call_legs"
    status = QueryHistory.Status.OK


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


class ForecastRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ForecastRun

    horizon_days = 7
    history_start = date(2026, 10, 1)
    history_end = date(2026, 10, 31)
