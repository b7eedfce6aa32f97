"""Small factories for the console tests (upstream apps keep their own)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import factory

from billing.models import Carrier, CostRecord, Rate, RateCard
from cdrweb.console.models import QueryHistory, SavedQuery
from extraction.models import CallLeg, Connection, Conversation, Participant, Segment, Session, SessionMetric
from reconciliation.models import CarrierCdr, CarrierUpload, Discrepancy, ReconciliationRun


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    name = factory.Sequence(lambda n: f"genesys-{n}")
    platform = "genesys"
    region = "mypurecloud.ie"
    client_id = "client"
    client_secret = "s3cret"  # noqa: S105


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    connection = factory.SubFactory(ConnectionFactory)
    conversation_id = factory.Sequence(lambda n: f"conv-{n:04d}")
    conversation_start = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)
    originating_direction = "outbound"


class CallLegFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallLeg

    connection = factory.SubFactory(ConnectionFactory)
    platform = "genesys"
    conversation = None
    external_call_id = factory.Sequence(lambda n: f"call-{n:04d}")
    leg_id = factory.Sequence(lambda n: f"leg-{n:04d}")
    sip_call_id = factory.LazyAttribute(lambda o: f"{o.leg_id}@sbc.example.net")
    sip_call_id_local = factory.LazyAttribute(lambda o: o.leg_id)
    direction = "outbound"
    ani = "+14155550100"
    dnis = "+442071838750"
    ani_e164 = "+14155550100"
    dnis_e164 = "+442071838750"
    started_at = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)
    connected_at = factory.LazyAttribute(lambda o: o.started_at)
    ended_at = factory.LazyAttribute(lambda o: o.started_at)
    duration_ms = 60_000
    trunk = "trunk-a"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    conversation = factory.SubFactory(ConversationFactory)
    participant_id = factory.Sequence(lambda n: f"part-{n:04d}")
    participant_name = "Jane Customer"
    purpose = "customer"


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    participant = factory.SubFactory(ParticipantFactory)
    conversation = factory.LazyAttribute(lambda o: o.participant.conversation)
    session_id = factory.Sequence(lambda n: f"sess-{n:04d}")
    media_type = "voice"
    direction = "outbound"
    ani = "tel:+14155550100"
    dnis = "tel:+442071838750"
    remote = "Jane Customer"


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    session = factory.SubFactory(SessionFactory)
    conversation = factory.LazyAttribute(lambda o: o.session.conversation)
    segment_index = factory.Sequence(lambda n: n)
    segment_start = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)
    segment_type = "wrapup"
    wrap_up_note = "Customer asked to call back on +1 415 555 0188"


class SessionMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionMetric

    session = factory.SubFactory(SessionFactory)
    conversation = factory.LazyAttribute(lambda o: o.session.conversation)
    name = "tTalk"
    value = 61_000
    emit_date = datetime(2026, 7, 6, 10, 1, tzinfo=UTC)


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier

    name = factory.Sequence(lambda n: f"Carrier {n}")


class RateCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RateCard

    carrier = factory.SubFactory(CarrierFactory)
    name = "Standard"
    version = factory.Sequence(lambda n: n + 1)
    currency = "USD"
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)


class RateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rate

    rate_card = factory.SubFactory(RateCardFactory)
    prefix = factory.Sequence(lambda n: f"44{n}")
    destination = "United Kingdom"
    rate_per_minute = Decimal("0.01200000")


class CostRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostRecord

    leg = factory.SubFactory(CallLegFactory)
    carrier = factory.SubFactory(CarrierFactory)
    billable_seconds = 60
    exact_cost = Decimal("0.012")
    cost = Decimal("0.012000")
    currency = "USD"
    status = "rated"
    rated_at = datetime(2026, 7, 7, tzinfo=UTC)


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


class CarrierUploadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierUpload

    carrier = factory.SubFactory(CarrierFactory)
    original_name = "cdrs.csv"
    file = "reconciliation/uploads/cdrs.csv"
    sha256 = factory.Sequence(lambda n: f"{n:064d}")
    status = "imported"


class CarrierCdrFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierCdr

    upload = factory.SubFactory(CarrierUploadFactory)
    carrier = factory.LazyAttribute(lambda o: o.upload.carrier)
    line_number = factory.Sequence(lambda n: n + 2)
    start_utc = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)
    duration_seconds = 60
    charge = Decimal("0.015000")
    from_raw = "14155550100"
    to_raw = "442071838750"
    from_e164 = "+14155550100"
    to_e164 = "+442071838750"


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReconciliationRun

    carrier = factory.SubFactory(CarrierFactory)
    period_start = datetime(2026, 7, 1, tzinfo=UTC)
    period_end = datetime(2026, 8, 1, tzinfo=UTC)
    status = "done"


class DiscrepancyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Discrepancy

    run = factory.SubFactory(ReconciliationRunFactory)
    key = factory.Sequence(lambda n: f"cost_mismatch:{n}:")
    type = "cost_mismatch"
    start_utc = datetime(2026, 7, 6, 10, 0, tzinfo=UTC)
    amount_at_stake = Decimal("0.003000")
    currency = "USD"
