"""The set-based engine (reconcile_sql): duplicate ranking in SQL, contested Call-ID pairs, the
flag pre-filter with credit lines, and the figures counted in SQL; both databases, real rows."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from reconciliation import services
from reconciliation.models import CdrMatch, Discrepancy, ReconciliationRun
from tests.reconciliation.factories import CallLegFactory, CarrierFactory, CostRecordFactory

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
MAPPING = {"call_id": "cid", "record_id": "id", "start": "start", "duration": "secs", "charge": "amount",
           "from": "from", "to": "to", "direction": "dir"}


def import_rows(carrier, rows: list[tuple], capture) -> None:
    """rows: (call id, record id, start, seconds, amount, to-number)."""
    lines = ["cid,id,start,secs,amount,from,to,dir"]
    lines += [f"{cid},{rid},{s.isoformat()},{secs},{amount},+13125550101,{to},out"
              for cid, rid, s, secs, amount, to in rows]
    upload = services.create_upload(carrier=carrier, stream=io.BytesIO("\n".join(lines).encode()),
                                    original_name="f.csv", mapping_fields=MAPPING)
    with capture(execute=True):
        services.confirm_upload(upload=upload)


def reconcile(carrier, capture) -> ReconciliationRun:
    with capture(execute=True):
        run = services.start_run(carrier=carrier, period_start=datetime(2026, 11, 1, tzinfo=UTC),
                                 period_end=datetime(2026, 12, 1, tzinfo=UTC))
    run.refresh_from_db()
    assert run.status == ReconciliationRun.Status.DONE, run.error
    return run


def leg(carrier, sip: str, at: datetime, seconds: int = 60, cost: str = "0.006", to="+12025550143"):
    made = CallLegFactory(sip_call_id=sip, started_at=at - timedelta(seconds=5), connected_at=at, dnis=to,
                          duration_ms=seconds * 1000)
    CostRecordFactory(leg=made, carrier=carrier, billable_seconds=seconds, cost=Decimal(cost))
    return made


@pytest.mark.django_db
def test_duplicates_are_keyed_by_call_id_then_record_id_then_the_calls_fields(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="Dups")
    t1 = T0 + timedelta(minutes=5)
    import_rows(carrier, [
        ("x1@h", "a", T0, 60, "0.006", "+12025550101"),
        ("x1@h", "b", T0, 60, "0.006", "+12025550101"),      # same Call-ID, other record id: a copy
        ("", "r9", T0, 30, "0.003", "+12025550102"),
        ("", "r9", T0, 31, "0.003", "+12025550102"),          # no Call-ID, same record id: a copy
        ("", "", t1, 40, "0.004", "+12025550103"),
        ("", "", t1, 40, "0.004", "+12025550103"),            # same direction, numbers, start, duration
        ("", "", t1, 41, "0.004", "+12025550103"),            # another duration: another call
        ("x2@h", "r9", T0, 30, "0.003", "+12025550102"),     # has a Call-ID, so r9 is not its key
    ], django_capture_on_commit_callbacks)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    copies = Discrepancy.objects.filter(run=run, type="double_billed").select_related("carrier_cdr")
    originals = {d.carrier_cdr.line_number: d.cause_detail for d in copies}
    lines = dict(run.carrier.cdrs.values_list("line_number", "id"))
    assert originals == {3: f"copy of carrier row #{lines[2]}", 5: f"copy of carrier row #{lines[4]}",
                         7: f"copy of carrier row #{lines[6]}"}
    assert (run.carrier_rows, run.summary["duplicates"]) == (8, 3)
    assert all(d.amount_at_stake == d.carrier_charge for d in copies)


@pytest.mark.django_db
def test_a_call_id_shared_by_two_legs_goes_to_the_exact_one(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="Shared", callid_match="full")
    exact = leg(carrier, "abc@192.0.2.1", T0)
    hostless = leg(carrier, "abc", T0 + timedelta(seconds=1), cost="0.007")
    elsewhere = leg(carrier, "xyz@192.0.2.9", T0 + timedelta(minutes=9), to="+12025550199")
    import_rows(carrier, [
        ("abc@192.0.2.1", "r1", T0, 60, "0.006", "+12025550143"),
        ("xyz@198.51.100.1", "r2", T0 + timedelta(hours=3), 60, "0.006", "+12025550188"),  # another host
    ], django_capture_on_commit_callbacks)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    match = CdrMatch.objects.get(run=run)
    assert (match.leg, match.method, match.score) == (exact, "exact", Decimal("1"))
    unbilled = set(Discrepancy.objects.filter(run=run, type="unbilled").values_list("leg_id", flat=True))
    assert unbilled == {hostless.pk, elsewhere.pk}
    assert Discrepancy.objects.filter(run=run, type="phantom").count() == 1
    assert run.expected_total == Decimal("0.006") + Decimal("0.007") + Decimal("0.006")


@pytest.mark.django_db
def test_a_host_dropped_on_one_side_is_a_local_part_match(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="Hostless", callid_match="full")
    ours = leg(carrier, "abc@192.0.2.1", T0)
    import_rows(carrier, [("abc", "r1", T0, 60, "0.006", "+12025550143")], django_capture_on_commit_callbacks)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    match = CdrMatch.objects.get(run=run)
    assert (match.leg, match.method, match.score) == (ours, "local_part", Decimal("0.95"))
    assert run.matched_local_part == 1 and not Discrepancy.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_a_credit_line_that_restores_the_charge_clears_the_flag(django_capture_on_commit_callbacks):
    carrier = CarrierFactory(name="Credits")
    leg(carrier, "c1@h", T0)
    leg(carrier, "c2@h", T0 + timedelta(minutes=1))
    import_rows(carrier, [
        ("c1@h", "r1", T0, 60, "0.016", "+12025550143"),
        ("c1@h", "r1c", T0 + timedelta(minutes=30), 0, "-0.010", "+12025550143"),  # credit: back to 0.006
        ("c2@h", "r2", T0 + timedelta(minutes=1), 60, "0.016", "+12025550143"),   # no credit: flagged
    ], django_capture_on_commit_callbacks)

    run = reconcile(carrier, django_capture_on_commit_callbacks)

    flagged = Discrepancy.objects.get(run=run)
    assert flagged.type == "cost_mismatch" and flagged.carrier_cdr.record_id == "r2"
    assert flagged.amount_at_stake == Decimal("0.010")
    assert run.credits_total == Decimal("-0.010") and run.billed_total == Decimal("0.032")
    assert run.summary["credit_rows"] == 1 and run.matched_exact == 2
