"""Dashboard and explorer data: the shared factories plus a hand-computed week."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing.models import Carrier, CostRecord
from extraction.models import CallLeg
from tests.factories import (  # noqa: F401 - re-exported for the dashboard and explorer tests
    T0,
    CallLegFactory,
    CarrierCdrFactory,
    CarrierFactory,
    CarrierUploadFactory,
    CdrMatchFactory,
    ConnectionFactory,
    ConversationFactory,
    CostRecordFactory,
    DiscrepancyFactory,
    ParticipantFactory,
    ReconciliationRunFactory,
    SegmentFactory,
    SessionFactory,
    SessionMetricFactory,
)


def rated_leg(*, cost: str, carrier: Carrier | None = None, **leg_fields) -> CallLeg:
    """A leg with a rated cost record; ``record__*`` keys go to the cost record."""
    record_fields = {k[len("record__"):]: v for k, v in leg_fields.items() if k.startswith("record__")}
    leg_fields = {k: v for k, v in leg_fields.items() if not k.startswith("record__")}
    leg = CallLegFactory(**leg_fields)
    CostRecordFactory(leg=leg, carrier=carrier or CarrierFactory(), cost=Decimal(cost), **record_fields)
    return leg


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def week_dataset() -> dict:
    """A hand-computed week, Mon 2026-11-02 .. Sun 2026-11-08 (UTC), for dashboard and explorer tests.

    In the week (USD): L1 A 1.25 GB fixed 60 s Sales/Sale; L2 A 2.50 GB mobile 120 s Sales/-;
    L3 B 0.75 US fixed 90 s Support/Sale; L4 B 3.25 FR mobile 30 s inbound -/Refund (Sun 23:59);
    L5 no cost record; L6 unrated record; L9 C 5.00 EUR. Previous week: L8 A 4.00 USD 60 s.
    Overbilled: D1 L2 A 0.40 open; D2 L3 B 0.10 credited; D3 phantom B 1.00 disputed (Thu);
    D6 L8 A 0.20 open (previous week); D7 October A 0.60 open. Not overbilled: D4 unbilled on L1,
    D5 superseded on L4.
    """
    a = CarrierFactory(name="Carrier A")
    b = CarrierFactory(name="Carrier B")
    c = CarrierFactory(name="Carrier C", currency="EUR")
    legs = {
        "L1": rated_leg(cost="1.25", carrier=a, started_at=at(2, 15), queue_name="Sales", wrapup_name="Sale",
                        dnis="+442079460188", record__billable_seconds=60),
        "L2": rated_leg(cost="2.50", carrier=a, started_at=at(2, 15, 30), queue_name="Sales", wrapup_name="",
                        dnis="+447700900123", record__billable_seconds=120,
                        record__number_type=CostRecord.NumberType.MOBILE),
        "L3": rated_leg(cost="0.75", carrier=b, started_at=at(3, 9, 10), queue_name="Support", wrapup_name="Sale",
                        dnis="+12125550177", record__billable_seconds=90, record__country="US",
                        record__destination="USA"),
        "L4": rated_leg(cost="3.25", carrier=b, started_at=at(8, 23, 59), queue_name="", wrapup_name="Refund",
                        direction="inbound", dnis="+33140000001", record__billable_seconds=30,
                        record__country="FR", record__number_type=CostRecord.NumberType.MOBILE,
                        record__destination="France mobile"),
        "L5": CallLegFactory(started_at=at(3, 10), queue_name="Support", connected_at=None, duration_ms=0),
        "L6": CallLegFactory(started_at=at(4, 12), queue_name="Support"),
        "L7": rated_leg(cost="9.99", carrier=a, started_at=at(9, 0)),
        "L8": rated_leg(cost="4.00", carrier=a, started_at=at(1, 23, 59, 59), record__billable_seconds=60),
        "L9": rated_leg(cost="5.00", carrier=c, started_at=at(4, 12, 30), record__currency="EUR"),
        "L10": rated_leg(cost="1.00", carrier=a, started_at=at(10, 10, month=10)),
    }
    CostRecordFactory(leg=legs["L6"], carrier=None, status=CostRecord.Status.UNRATED, currency="",
                      cost=Decimal("0"), billable_seconds=0, reason="no rate for prefix")
    run_a = ReconciliationRunFactory(carrier=a)
    run_b = ReconciliationRunFactory(carrier=b)
    run_a_oct = ReconciliationRunFactory(carrier=a, period_start=at(1, 0, month=10), period_end=at(1, 0))
    phantom_cdr = CarrierCdrFactory(upload__carrier=b, start_utc=at(5, 11), to_e164="+447700900999")
    discrepancies = {
        "D1": DiscrepancyFactory(run=run_a, leg=legs["L2"], type="cost_mismatch", amount_at_stake=Decimal("0.40")),
        "D2": DiscrepancyFactory(run=run_b, leg=legs["L3"], type="duration_mismatch", status="credited",
                                 amount_at_stake=Decimal("0.10")),
        "D3": DiscrepancyFactory(run=run_b, carrier_cdr=phantom_cdr, type="phantom", status="disputed",
                                 amount_at_stake=Decimal("1.00"), start_utc=at(5, 11)),
        "D4": DiscrepancyFactory(run=run_a, leg=legs["L1"], type="unbilled", amount_at_stake=Decimal("0.30")),
        "D5": DiscrepancyFactory(run=run_b, leg=legs["L4"], type="cost_mismatch", superseded=True,
                                 amount_at_stake=Decimal("5.00")),
        "D6": DiscrepancyFactory(run=run_a, leg=legs["L8"], amount_at_stake=Decimal("0.20")),
        "D7": DiscrepancyFactory(run=run_a_oct, leg=legs["L10"], amount_at_stake=Decimal("0.60")),
    }
    return {"carriers": {"A": a, "B": b, "C": c}, "legs": legs, "discrepancies": discrepancies}
