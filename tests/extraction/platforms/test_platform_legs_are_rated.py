"""Engage and Voiso legs go through billing unchanged, beside each other (issue 8, point 5)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing import services as billing
from billing.models import CostRecord
from extraction import services
from extraction.models import CallLeg, RunState
from tests.billing.factories import CarrierFactory, MappingFactory, RateCardFactory, RateFactory

DAY, NEXT = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)


def billed(seconds: int) -> int:
    """60/6: the card's default increments (platforms-and-carriers.md §3.4)."""
    if seconds <= 0:
        return 0
    return 60 if seconds <= 60 else 60 + math.ceil((seconds - 60) / 6) * 6


@pytest.mark.django_db
def test_engage_and_voiso_legs_are_rated_by_their_connection_mapping(engage_connection, voiso_connection):
    engage_connection.settings.update(use_deprecated_report=True)
    engage_connection.save(update_fields=["settings"])
    for connection in (engage_connection, voiso_connection):
        run = services.start_extraction(connection=connection, start=DAY, end=NEXT, enqueue_task=False)
        assert services.run_extraction(run_id=run.pk).state == RunState.SUCCEEDED
    carrier = CarrierFactory(name="Shared trunk carrier", is_default=False)
    for connection in (engage_connection, voiso_connection):
        MappingFactory(carrier=carrier, match_field="connection", match_value=connection.name)
    card = RateCardFactory(carrier=carrier, default_increment_first=60, default_increment_next=6)
    RateFactory(rate_card=card, prefix="1", direction="outbound", rate_per_minute=Decimal("0.0100"))
    RateFactory(rate_card=card, prefix="1", direction="inbound", rate_per_minute=Decimal("0.0060"))

    billing.rate_period(actor="test", start=DAY, end=NEXT)

    legs = CallLeg.objects.filter(started_at__gte=DAY, started_at__lt=NEXT)
    assert {leg.platform for leg in legs} == {"engage", "voiso"}
    answered = [leg for leg in legs if leg.duration_ms > 0]
    assert answered and CostRecord.objects.filter(leg__in=answered, carrier=carrier).count() == len(answered)
    for leg in answered:
        record = CostRecord.objects.get(leg=leg)
        rate = Decimal("0.0100") if leg.direction == "outbound" else Decimal("0.0060")
        assert record.billable_seconds == billed(math.ceil(leg.duration_ms / 1000)), leg.leg_id
        assert record.exact_cost == Decimal(record.billable_seconds) / 60 * rate
