"""Reconciliation test data: the shared factories on the carrier-samples README's number plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import factory

from billing.models import Carrier, CostRecord
from extraction.models import CallLeg
from tests import factories as base


class ConnectionFactory(base.ConnectionFactory):
    name = "Genesys test org"


class CarrierFactory(base.CarrierFactory):
    name = factory.Sequence(lambda n: f"Carrier {n}")
    default_region = "US"
    duration_tolerance_seconds = 1
    cost_tolerance = Decimal("0.0001")
    fuzzy_window_seconds = 120


class RateCardFactory(base.RateCardFactory):
    carrier = factory.SubFactory(CarrierFactory)
    name = "Standard"
    effective_from = datetime(2026, 1, 1, tzinfo=UTC)
    default_increment_first = 30


class RateFactory(base.RateFactory):
    rate_card = factory.SubFactory(RateCardFactory)
    destination = ""
    rate_per_minute = Decimal("0.006")


class CallLegFactory(base.CallLegFactory):
    connection = factory.SubFactory(ConnectionFactory)
    sip_call_id = ""
    ani = "+13125550101"
    dnis = "+12025550143"
    started_at = datetime(2026, 11, 3, 14, 5, 9, tzinfo=UTC)
    connected_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(seconds=6))
    duration_ms = 107_000
    purpose = "external"
    queue_name = ""
    wrapup_name = ""
    trunk = ""


class CostRecordFactory(base.CostRecordFactory):
    leg = factory.SubFactory(CallLegFactory)
    carrier = factory.SubFactory(CarrierFactory)
    destination = ""
    country = ""
    number_type = CostRecord.NumberType.UNKNOWN
    billable_seconds = 0
    cost = Decimal("0")
    rated_at = datetime(2026, 11, 5, tzinfo=UTC)


# The ten logical calls of carrier-samples/README.md: (id, dir, from, to, setup, answer, talk s, Call-ID).
CANONICAL_CALLS = [
    ("C01", "outbound", "+13125550101", "+12025550143", "2026-11-03T14:05:09", "2026-11-03T14:05:15", 107,
     "3c26f6a1-8d4b-4f0e-9a51-0b7e2f9c1a01@192.0.2.10"),
    ("C02", "inbound", "+14155550188", "+13125550101", "2026-11-03T14:10:00", "2026-11-03T14:10:04", 151,
     "b5e1c0d2a3f44e7c9b8a2d6f1e0c3a02"),
    ("C03", "outbound", "+13125550101", "+16175550122", "2026-11-03T14:15:30", None, 0,
     "9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e03@198.51.100.24"),
    ("C04", "outbound", "+13125550102", "+12125550177", "2026-11-03T14:20:11", "2026-11-03T14:20:19", 1244,
     "7a1b2c3d4e5f60718293a4b5c6d7e804@sbc1.example.net"),
    ("C05", "inbound", "+15125550164", "+18885550111", "2026-11-03T15:01:00", "2026-11-03T15:01:02", 31,
     "0c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e05"),
    ("C06", "outbound", "+13125550101", "+13055550126", "2026-11-03T15:30:00", "2026-11-03T15:30:05", 1,
     "e6f7a8b9c0d1e2f3a4b5c6d7e8f90a06@203.0.113.7"),
    ("C07", "outbound", "+13125550102", "+17135550150", "2026-11-03T15:40:00", "2026-11-03T15:40:03", 60,
     "f7a8b9c0-1d2e-4f3a-8b4c-5d6e7f8a9b07@192.0.2.10"),
    ("C08", "outbound", "+13125550102", "+14045550119", "2026-11-03T15:50:00", "2026-11-03T15:50:04", 61,
     "08d1c2b3a4f5e6d7c8b9a0f1e2d3c408@192.0.2.11"),
    ("C09", "inbound", "+16465550133", "+13125550101", "2026-11-04T04:59:30", "2026-11-04T04:59:33", 95,
     "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a09@192.0.2.10"),
    ("C10", "outbound", "+13125550101", "+19175550190", "2026-11-04T13:00:00", "2026-11-04T13:00:09", 241,
     "2c3d4e5f60718293a4b5c6d7e8f90a10@203.0.113.7"),
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def canonical_legs(*, carrier: Carrier, increments: tuple[int, int] = (30, 6),
                   rates: dict[str, Decimal] | None = None, with_call_ids: bool = True) -> dict[str, CallLeg]:
    """The ten calls as platform legs, each rated on ``carrier`` with a first/next card."""
    from billing.rating import billable_seconds

    rates = rates or {"outbound": Decimal("0.006"), "inbound": Decimal("0.004"), "toll_free": Decimal("0.010")}
    card = RateCardFactory(carrier=carrier, default_increment_first=increments[0],
                           default_increment_next=increments[1])
    out_rate = RateFactory(rate_card=card, prefix="1", direction="outbound", rate_per_minute=rates["outbound"])
    in_rate = RateFactory(rate_card=card, prefix="1", direction="inbound", rate_per_minute=rates["inbound"])
    tf_rate = RateFactory(rate_card=card, prefix="1888", direction="inbound", rate_per_minute=rates["toll_free"])
    legs = {}
    for cid, direction, src, dst, setup, answer, talk, call_id in CANONICAL_CALLS:
        leg = CallLegFactory(
            leg_id=f"leg-{cid}", external_call_id=f"conv-{cid}", direction=direction, ani=src, dnis=dst,
            sip_call_id=call_id if with_call_ids else "", started_at=utc(setup),
            connected_at=utc(answer) if answer else None, duration_ms=talk * 1000,
        )
        rate = tf_rate if dst.startswith("+1888") else (out_rate if direction == "outbound" else in_rate)
        billed = billable_seconds(talk, *increments)
        cost = (rate.rate_per_minute * billed / 60).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        CostRecordFactory(leg=leg, carrier=carrier, rate_card=card, rate=rate, billable_seconds=billed,
                          cost=cost, matched_prefix=rate.prefix)
        legs[cid] = leg
    return legs
