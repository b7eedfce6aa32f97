"""Fuzzy matching: the time window, duration closeness, a one-to-one best assignment, offsets."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from reconciliation import services
from reconciliation.models import CdrMatch, Discrepancy
from reconciliation.reconcile import assign
from tests.reconciliation.factories import CallLegFactory, CarrierFactory, CostRecordFactory

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MAPPING = {"record_id": "id", "start": "start", "duration": "secs", "charge": "amount", "from": "from",
           "to": "to", "direction": "dir"}


def import_rows(carrier, rows: list[tuple], capture) -> None:
    """rows: (id, start datetime, seconds, amount, to-number)."""
    lines = ["id,start,secs,amount,from,to,dir"]
    lines += [f"{i},{s.isoformat()},{secs},{amount},+13125550101,{to},out" for i, s, secs, amount, to in rows]
    upload = services.create_upload(carrier=carrier, stream=io.BytesIO("\n".join(lines).encode()),
                                    original_name="f.csv", mapping_fields=MAPPING)
    with capture(execute=True):
        services.confirm_upload(upload=upload)


def reconcile(carrier, capture):
    with capture(execute=True):
        run = services.start_run(carrier=carrier, period_start=datetime(2026, 11, 1, tzinfo=UTC),
                                 period_end=datetime(2026, 12, 1, tzinfo=UTC))
    run.refresh_from_db()
    return run


def leg(carrier, name: str, at: datetime, seconds: int, to="+12025550143", cost="0.01"):
    made = CallLegFactory(leg_id=name, started_at=at - timedelta(seconds=5), connected_at=at, dnis=to,
                          duration_ms=seconds * 1000)
    CostRecordFactory(leg=made, carrier=carrier, billable_seconds=seconds, cost=Decimal(cost))
    return made


def test_assignment_takes_mutual_best_pairs_not_first_come():
    # Row 1 prefers leg A, but leg A fits row 2 far better; row 1 must take leg B.
    pairs = pd.DataFrame({
        "cdr_id": [1, 1, 2], "leg_id": [10, 11, 10], "method": "fuzzy",
        "score": [0.90, 0.80, 0.99], "tiebreak": [10.0, 20.0, 1.0],
    })

    result = assign(pairs).sort_values("cdr_id")

    assert list(zip(result["cdr_id"], result["leg_id"], strict=True)) == [(1, 11), (2, 10)]


def test_assignment_never_uses_a_row_or_leg_twice():
    pairs = pd.DataFrame({"cdr_id": [1, 2, 3], "leg_id": [10, 10, 10], "method": "fuzzy",
                          "score": [0.5, 0.7, 0.6], "tiebreak": [0.0, 0.0, 0.0]})

    result = assign(pairs)

    assert list(result["cdr_id"]) == [2]


@pytest.mark.django_db
def test_fuzzy_window_is_the_carriers_setting(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="NoIds", fuzzy_window_seconds=120)
    inside = leg(carrier, "inside", T0, 60, to="+12025550101")
    leg(carrier, "outside", T0, 60, to="+12025550102")
    import_rows(carrier, [
        ("r-in", T0 + timedelta(seconds=119), 60, "0.01", "+12025550101"),
        ("r-out", T0 + timedelta(seconds=200), 60, "0.01", "+12025550102"),
    ], django_capture_on_commit_callbacks)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    match = CdrMatch.objects.get(run=run)
    assert match.leg == inside and match.method == "fuzzy"
    assert Decimal("0") < match.score < Decimal("0.6")  # far in the window: a low score
    assert Discrepancy.objects.filter(run=run, type="phantom").count() == 1
    assert Discrepancy.objects.filter(run=run, type="unbilled").count() == 1


@pytest.mark.django_db
def test_fuzzy_prefers_the_closer_duration_and_start(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="Twins")
    short = leg(carrier, "short", T0, 30)
    long = leg(carrier, "long", T0 + timedelta(seconds=40), 300)
    import_rows(carrier, [
        ("r-long", T0 + timedelta(seconds=42), 301, "0.01", "+12025550143"),
        ("r-short", T0 + timedelta(seconds=1), 30, "0.01", "+12025550143"),
    ], django_capture_on_commit_callbacks)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    pairs = {m.carrier_cdr.record_id: m.leg for m in CdrMatch.objects.filter(run=run).select_related("carrier_cdr")}
    assert pairs == {"r-long": long, "r-short": short}


@pytest.mark.django_db
def test_a_systematic_time_shift_is_suggested_and_named_as_the_cause(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="Shifted", fuzzy_window_seconds=60)
    numbers = [f"+1202555{n:04d}" for n in range(200, 205)]
    for i, number in enumerate(numbers):
        leg(carrier, f"leg{i}", T0 + timedelta(minutes=10 * i), 60, to=number)
    rows = [(f"r{i}", T0 + timedelta(minutes=10 * i, hours=1), 60, "0.01", n) for i, n in enumerate(numbers)]

    lines = ["id,start,secs,amount,from,to,dir"]
    lines += [f"{i},{s.isoformat()},{secs},{a},+13125550101,{to},out" for i, s, secs, a, to in rows]
    upload = services.create_upload(carrier=carrier, stream=io.BytesIO("\n".join(lines).encode()),
                                    original_name="f.csv", mapping_fields=MAPPING)
    assert upload.preview["suggested_offset_minutes"] == 60
    with django_capture_on_commit_callbacks(execute=True):
        services.confirm_upload(upload=upload)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    phantoms = Discrepancy.objects.filter(run=run, type="phantom")
    assert phantoms.count() == 5
    assert {p.cause for p in phantoms} == {"timezone_offset"}
    assert run.summary["suggested_offset_minutes"] == 60
