"""The vectorised engine gives exactly the reference Decimal engine's results (billing/vector.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from billing import engine, vector
from billing.models import RateCard
from tests.billing.factories import CallLegFactory, CarrierFactory, MappingFactory, RateCardFactory, RateFactory

COMPARED = ("carrier_id", "rate_card_id", "rate_id", "matched_prefix", "destination", "country", "number_type",
            "band", "talk_seconds", "billable_seconds", "currency", "status", "reason")


@pytest.mark.django_db
def test_vector_and_reference_engines_agree_on_random_legs():
    rng = random.Random(4)
    carrier = CarrierFactory()
    cards = [
        RateCardFactory(carrier=carrier, effective_from=datetime(2026, 10, 1, tzinfo=UTC), rounding="half_up",
                        default_increment_first=60, default_increment_next=6),
        RateCardFactory(carrier=carrier, effective_from=datetime(2026, 11, 1, tzinfo=UTC), rounding="up",
                        money_decimals=2, seconds_rule="floor", timezone="America/Chicago",
                        default_increment_first=30, default_increment_next=6),
        RateCardFactory(carrier=carrier, effective_from=datetime(2026, 11, 15, tzinfo=UTC), rounding="half_even",
                        money_decimals=6, seconds_rule="half_up", effective_to=datetime(2026, 11, 20, tzinfo=UTC)),
    ]
    other = RateCardFactory(carrier=CarrierFactory(name="B", is_default=False), rounding="down")
    MappingFactory(carrier=other.carrier, match_value="b", direction="inbound")
    for card in [*cards, other]:
        for prefix in ["", "1", "1212", "12125", "1800", "44", "447", "33"]:
            for direction in ("outbound", "inbound"):
                if rng.random() < 0.2:
                    continue
                kwargs = {}
                if rng.random() < 0.3:
                    kwargs = {"increment_first": rng.choice([1, 6, 45, 60]), "increment_next": rng.choice([1, 6, 30])}
                RateFactory(rate_card=card, prefix=prefix, direction=direction,
                            rate_per_minute=Decimal(rng.randint(0, 10**7)).scaleb(-8) * rng.choice([1, 10, 100]),
                            connect_fee=Decimal(rng.choice([0, 0, 1000, 123457])).scaleb(-8),
                            minimum_cost=Decimal(rng.choice([0, 0, 500000])).scaleb(-8),
                            min_billable_seconds=rng.choice([0, 0, 3]), **kwargs)
    RateFactory(rate_card=cards[1], prefix="1415", band="peak", band_weekdays="0-4", band_start=time(8),
                band_end=time(19), rate_per_minute=Decimal("0.02"))
    RateFactory(rate_card=cards[1], prefix="1415", band="night", band_weekdays="0-4", band_start=time(19),
                band_end=time(8), rate_per_minute=Decimal("0.01"))
    numbers = ["+12125550177", "+12125550100", "+14155550188", "+18005550100", "+447700900123", "+442079460000",
               "+33145678900", "+4930123456", "anonymous", "", "2125550123", "+61 2 9876 5432"]
    for _ in range(300):
        start = datetime(2026, 9, 25, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 60 * 86400))
        answered = rng.random() < 0.85
        CallLegFactory(
            dnis=rng.choice(numbers), direction=rng.choice(["outbound", "inbound"]), trunk=rng.choice(["a", "b"]),
            started_at=start, connected_at=start + timedelta(seconds=3) if answered else None,
            duration_ms=rng.choice([0, 999, 1000, 1499, 1500, 60200, rng.randint(0, 4_000_000)]) if answered else 0,
        )
    ctx = engine.load_context()
    from extraction.models import CallLeg

    legs = list(CallLeg.objects.order_by("pk").values(*engine.LEG_FIELDS))
    frame = vector.rate_frame(pd.DataFrame(legs), ctx)
    reference = [engine.rate_leg(leg, ctx) for leg in legs]
    places = dict(RateCard.objects.values_list("id", "money_decimals"))
    for ref, (_, got) in zip(reference, frame.iterrows(), strict=True):
        for name in COMPARED:
            value = got[name]
            value = None if (name.endswith("_id") and (pd.isna(value) or value == 0)) else value
            assert value == ref[name], (name, ref, dict(got))
        assert Decimal(int(got["exact_units12"])).scaleb(-12) == ref["exact_cost"]
        decimals = places.get(ref["rate_card_id"], 4)
        assert Decimal(int(got["cost_units"])).scaleb(-decimals) == ref["cost"], (ref, dict(got))
    assert {r["reason"] for r in reference} >= {"", "no destination", "no card version", "no matching prefix"}
