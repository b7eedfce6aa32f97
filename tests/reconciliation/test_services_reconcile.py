"""Reconciliation runs: every flag with its money, causes, double billing, idempotent re-runs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from reconciliation import services
from reconciliation.models import CdrMatch, Discrepancy, ReconciliationRun
from reconciliation.services import import_file
from tests.reconciliation.conftest import DATA, edit_sample
from tests.reconciliation.factories import CallLegFactory, CostRecordFactory

NOV = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
C01 = "3c26f6a1-8d4b-4f0e-9a51-0b7e2f9c1a01@192.0.2.10"


@pytest.fixture
def run_period(django_capture_on_commit_callbacks):
    """Start the November run for a carrier and let its task run (inline, on commit)."""

    def _start(carrier) -> ReconciliationRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.start_run(carrier=carrier, period_start=NOV[0], period_end=NOV[1])
        return _finished(run)

    return _start


def _finished(run) -> ReconciliationRun:
    run.refresh_from_db()
    assert run.status == ReconciliationRun.Status.DONE, run.error
    return run


def _by_type(run) -> dict[str, list[Discrepancy]]:
    out: dict[str, list[Discrepancy]] = {}
    for d in Discrepancy.objects.filter(run=run, superseded=False):
        out.setdefault(d.type, []).append(d)
    return out


@pytest.mark.django_db
def test_clean_sample_matches_every_call_and_flags_only_the_duplicate(wholesale, wholesale_legs, run_period):
    import_file(path=DATA / "generic_wholesale_cdr.csv", carrier_name="Wholesale", preset="generic_wholesale")

    run = run_period(wholesale)

    assert run.matched_exact == 10
    assert run.carrier_rows == 11  # C07 twice; the credit line is not a call
    flags = _by_type(run)
    assert list(flags) == ["double_billed"]
    dup = flags["double_billed"][0]
    assert dup.amount_at_stake == Decimal("0.006")
    assert dup.cause == "duplicate"
    assert dup.leg == wholesale_legs["C07"]
    assert run.credits_total == Decimal("-0.0208")


@pytest.mark.django_db
def test_each_flag_carries_both_sides_and_the_money_at_stake(tmp_path, wholesale, wholesale_legs, run_period):
    path = edit_sample(tmp_path, "generic_wholesale_cdr.csv", {
        # C01 charged 0.0118 at the card's 0.006/min for 108 s (0.0108): a fee or rounding → cost mismatch
        "3c26f6a1-8d4b": f"{C01},2026-11-03T14:05:09+00:00,2026-11-03T14:05:15+00:00,2026-11-03T14:07:02+00:00,"
                         "13125550101,12025550143,OUT,107,108,30/6,0.006000,0.011800,USD,200,Normal,CDR,X,T",
        # C08 billed 60/60 (120 s) where the card says 30/6 (66 s) → duration mismatch, increment model
        "08d1c2b3a4f5": "08d1c2b3a4f5e6d7c8b9a0f1e2d3c408@192.0.2.11,2026-11-03T15:50:00+00:00,"
                        "2026-11-03T15:50:04+00:00,2026-11-03T15:51:05+00:00,13125550102,14045550119,OUT,61,120,"
                        "60/60,0.006000,0.012000,USD,200,Normal,CDR,X,T",
        # C10 at 0.007/min instead of 0.006 → rate mismatch
        "2c3d4e5f60718293a4b5c6d7e8f90a10@": "2c3d4e5f60718293a4b5c6d7e8f90a10@203.0.113.7,2026-11-04T13:00:00+00:00,"
                        "2026-11-04T13:00:09+00:00,2026-11-04T13:04:10+00:00,13125550101,19175550190,OUT,241,246,"
                        "30/6,0.007000,0.028700,USD,200,Normal,CDR,X,T",
    }, extra_lines=[
        # a call the platform never made → phantom, the whole charge
        "deadbeef-0000@192.0.2.99,2026-11-05T10:00:00+00:00,2026-11-05T10:00:05+00:00,2026-11-05T10:10:05+00:00,"
        "13125550101,15555550100,OUT,600,600,30/6,0.006000,0.060000,USD,200,Normal,CDR,X,T",
    ])
    import_file(path=path, carrier_name="Wholesale", preset="generic_wholesale")
    # a rated leg the carrier never billed → unbilled (informational), our expected cost
    extra = CallLegFactory(leg_id="leg-C11", sip_call_id="c11@192.0.2.10", dnis="+12025550199",
                           started_at=datetime(2026, 11, 6, 9, tzinfo=UTC), duration_ms=200_000)
    CostRecordFactory(leg=extra, carrier=wholesale, billable_seconds=204, cost=Decimal("0.0204"))

    run = run_period(wholesale)
    flags = _by_type(run)

    assert {t: len(v) for t, v in flags.items()} == {
        "cost_mismatch": 1, "duration_mismatch": 1, "rate_mismatch": 1, "phantom": 1, "unbilled": 1,
        "double_billed": 1,
    }
    cost = flags["cost_mismatch"][0]
    assert (cost.carrier_charge, cost.expected_cost, cost.amount_at_stake) == (
        Decimal("0.0118"), Decimal("0.0108"), Decimal("0.0010"))
    assert cost.leg == wholesale_legs["C01"] and cost.match_method == "exact"
    duration = flags["duration_mismatch"][0]
    seconds = (duration.carrier_billed_seconds, duration.expected_billable_seconds, duration.platform_seconds)
    assert seconds == (120, 66, 61)
    assert duration.amount_at_stake == Decimal("0.0054")
    assert duration.cause == "increment_model" and "60/60" in duration.cause_detail
    rate = flags["rate_mismatch"][0]
    assert rate.amount_at_stake == Decimal("0.0041")
    assert rate.cause == "rate"
    phantom = flags["phantom"][0]
    assert phantom.amount_at_stake == Decimal("0.06") and phantom.leg is None
    unbilled = flags["unbilled"][0]
    assert unbilled.amount_at_stake == Decimal("0.0204") and unbilled.carrier_cdr is None
    # C03 (unanswered, zero cost on both sides) is matched, never flagged
    assert CdrMatch.objects.filter(run=run, leg=wholesale_legs["C03"]).exists()
    assert run.summary["by_type"]["phantom"]["amount"] == "0.060000"


@pytest.mark.django_db
def test_rate_from_another_card_version_is_named_as_the_cause(tmp_path, wholesale, wholesale_legs, run_period):
    from tests.reconciliation.factories import RateCardFactory, RateFactory

    old = RateCardFactory(carrier=wholesale, name="2025 deck", effective_from=datetime(2025, 1, 1, tzinfo=UTC),
                          effective_to=datetime(2026, 1, 1, tzinfo=UTC))
    RateFactory(rate_card=old, prefix="1", direction="outbound", rate_per_minute=Decimal("0.007"))
    path = edit_sample(tmp_path, "generic_wholesale_cdr.csv", {
        "2c3d4e5f60718293a4b5c6d7e8f90a10@": "2c3d4e5f60718293a4b5c6d7e8f90a10@203.0.113.7,2026-11-04T13:00:00+00:00,"
                        "2026-11-04T13:00:09+00:00,2026-11-04T13:04:10+00:00,13125550101,19175550190,OUT,241,246,"
                        "30/6,0.007000,0.028700,USD,200,Normal,CDR,X,T",
    })
    import_file(path=path, carrier_name="Wholesale", preset="generic_wholesale")

    rate = Discrepancy.objects.get(run=run_period(wholesale), type="rate_mismatch")

    assert rate.cause == "rate_card_version"
    assert f"version {old.version}" in rate.cause_detail


@pytest.mark.django_db
def test_rerun_replaces_results_and_keeps_the_review_state(wholesale, wholesale_legs, analyst, run_period):
    import_file(path=DATA / "generic_wholesale_cdr.csv", carrier_name="Wholesale", preset="generic_wholesale")
    run = run_period(wholesale)
    dup = Discrepancy.objects.get(run=run)
    services.change_discrepancy(discrepancy=dup, user=analyst, status="disputed", note="raised with carrier")

    again = run_period(wholesale)

    assert again.pk == run.pk
    assert CdrMatch.objects.filter(run=run).count() == 10
    dup.refresh_from_db()
    assert Discrepancy.objects.filter(run=run).count() == 1
    assert dup.status == "disputed" and dup.notes.count() == 1


@pytest.mark.django_db
def test_carrier_without_call_ids_matches_fuzzily_one_to_one(wholesale, run_period):
    from tests.reconciliation.factories import canonical_legs

    vonage_legs = canonical_legs(carrier=wholesale, increments=(1, 1))
    import_file(path=DATA / "vonage_reports_voice_call.csv", carrier_name="Wholesale", preset="vonage")

    run = run_period(wholesale)

    assert run.matched_fuzzy == 9  # C03 is not in a Vonage VOICE-CALL file
    assert run.matched_exact == 0
    matched_legs = set(CdrMatch.objects.filter(run=run).values_list("leg_id", flat=True))
    assert vonage_legs["C03"].pk not in matched_legs
    assert all(Decimal("0") < m.score < Decimal("1") for m in CdrMatch.objects.filter(run=run))
    # C05 twice in the file: one match, one double billing
    assert Discrepancy.objects.filter(run=run, type="double_billed").count() == 1
    # the unanswered C03 costs nothing: not flagged as unbilled
    assert not Discrepancy.objects.filter(run=run, type="unbilled").exists()
