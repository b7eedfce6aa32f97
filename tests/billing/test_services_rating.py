"""services.rate_period / process_rating_run against a real database (rating.md §1, §6, §7, §8)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from billing import services
from billing.models import CostRecord, CostRecordHistory, RatingRun
from extraction.signals import legs_extracted
from tests.billing.factories import (
    T0,
    CallLegFactory,
    CarrierFactory,
    ConnectionFactory,
    MappingFactory,
    RateCardFactory,
    RateFactory,
)

D = Decimal
START, END = T0 - timedelta(days=1), T0 + timedelta(days=1)


def rate_all(**kwargs) -> RatingRun:
    return services.rate_period(actor="test", start=START, end=END, **kwargs)


@pytest.fixture
def card(db):
    card = RateCardFactory(default_increment_first=60, default_increment_next=6)
    RateFactory(rate_card=card, prefix="1", destination="USA", rate_per_minute=D("0.0100"))
    RateFactory(rate_card=card, prefix="1212", destination="USA New York", rate_per_minute=D("0.0080"))
    RateFactory(rate_card=card, prefix="12125550", destination="USA NY special", rate_per_minute=D("0.0150"))
    RateFactory(rate_card=card, prefix="1800", destination="USA toll-free", direction="inbound",
                rate_per_minute=D("0.0200"))
    return card


@pytest.mark.django_db
def test_longest_prefix_prices_the_leg_and_stores_the_classification(card):
    special = CallLegFactory(dnis="+1 (212) 555-0177", talk_s=61)
    plain = CallLegFactory(dnis="+1 415 555 0188", talk_s=61)
    run = rate_all()
    assert (run.state, run.processed_legs, run.rated_legs, run.changed_legs) == ("done", 2, 2, 2)
    rec = CostRecord.objects.get(leg=special)
    assert (rec.matched_prefix, rec.billable_seconds, rec.cost, rec.exact_cost) == ("12125550", 66, D("0.0165"),
                                                                                     D("0.0165"))
    assert (rec.country, rec.number_type, rec.currency, rec.rate_card_id) == ("US", "fixed", "USD", card.pk)
    assert CostRecord.objects.get(leg=plain).matched_prefix == "1"


@pytest.mark.django_db
def test_inbound_legs_rate_our_dialled_did_with_inbound_rows(card):
    leg = CallLegFactory(direction="inbound", ani="+447700900123", dnis="+1 800 555 0100", talk_s=30)
    rate_all()
    rec = CostRecord.objects.get(leg=leg)
    assert (rec.matched_prefix, rec.number_type, rec.cost) == ("1800", "toll_free", D("0.0200"))


@pytest.mark.django_db
def test_national_numbers_use_the_connections_default_region(card):
    connection = ConnectionFactory(name="uk-account", default_region="GB")
    RateFactory(rate_card=card, prefix="44", destination="UK", rate_per_minute=D("0.0300"))
    leg = CallLegFactory(connection=connection, dnis="020 7946 0000", talk_s=60)
    rate_all()
    rec = CostRecord.objects.get(leg=leg)
    assert (rec.matched_prefix, rec.country, rec.cost) == ("44", "GB", D("0.0300"))


@pytest.mark.django_db
def test_unrated_reasons_are_stored_never_priced_at_zero(card):
    anonymous = CallLegFactory(dnis="anonymous")
    foreign = CallLegFactory(dnis="+33 1 45 67 89 00")
    rate_all()
    assert CostRecord.objects.get(leg=anonymous).reason == "no destination"
    nomatch = CostRecord.objects.get(leg=foreign)
    assert (nomatch.status, nomatch.reason, nomatch.country) == ("unrated", "no matching prefix", "FR")
    early = CallLegFactory(started_at=datetime(2026, 9, 30, 23, 0, tzinfo=UTC))
    services.rate_period(actor="test", start=datetime(2026, 9, 1, tzinfo=UTC), end=END)
    assert CostRecord.objects.get(leg=early).reason == "no card version"


@pytest.mark.django_db
def test_no_carrier_when_no_mapping_claims_and_no_default(db):
    card = RateCardFactory(carrier=CarrierFactory(name="Mapped only", is_default=False))
    RateFactory(rate_card=card)
    leg = CallLegFactory(trunk="unknown-trunk")
    rate_all()
    assert CostRecord.objects.get(leg=leg).reason == "no carrier"


@pytest.mark.django_db
def test_trunk_mapping_beats_the_default_carrier_and_direction_specific_mappings(card):
    cheap = RateCardFactory(carrier=CarrierFactory(name="Carrier B", is_default=False))
    RateFactory(rate_card=cheap, prefix="1", rate_per_minute=D("0.0060"))
    MappingFactory(carrier=cheap.carrier, match_field="trunk", match_value="b-trunk", direction="outbound")
    mapped = CallLegFactory(trunk="b-trunk", dnis="+14155550188", talk_s=60)
    inbound = CallLegFactory(trunk="b-trunk", direction="inbound", dnis="+18005550100", talk_s=60)
    rate_all()
    assert CostRecord.objects.get(leg=mapped).carrier == cheap.carrier
    assert CostRecord.objects.get(leg=mapped).cost == D("0.0060")
    assert CostRecord.objects.get(leg=inbound).carrier == card.carrier  # mapping is outbound only


@pytest.mark.django_db
def test_version_is_chosen_by_answer_time_and_exactly_at_effective_from_is_the_new_one(db):
    carrier = CarrierFactory()
    v1 = RateCardFactory(carrier=carrier, effective_from=datetime(2026, 10, 1, tzinfo=UTC),
                         default_increment_first=60, default_increment_next=60)
    v2 = RateCardFactory(carrier=carrier, effective_from=datetime(2026, 11, 1, tzinfo=UTC),
                         default_increment_first=60, default_increment_next=60)
    RateFactory(rate_card=v1, rate_per_minute=D("0.0100"))
    RateFactory(rate_card=v2, rate_per_minute=D("0.0090"))
    straddling = CallLegFactory(started_at=datetime(2026, 10, 31, 23, 58, 50, tzinfo=UTC), talk_s=180)
    straddling.connected_at = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    straddling.save()
    at_start = CallLegFactory(started_at=datetime(2026, 10, 31, 23, 59, 55, tzinfo=UTC), talk_s=60)
    at_start.connected_at = datetime(2026, 11, 1, tzinfo=UTC)
    at_start.save()
    services.rate_period(actor="test", start=datetime(2026, 10, 31, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC))
    first = CostRecord.objects.get(leg=straddling)
    assert (first.rate_card, first.cost) == (v1, D("0.0300"))  # one version prices the whole leg
    assert CostRecord.objects.get(leg=at_start).rate_card == v2


@pytest.mark.django_db
def test_start_rule_band_and_card_time_zone(db):
    card = RateCardFactory(timezone="America/Chicago", default_increment_first=60, default_increment_next=60)
    RateFactory(rate_card=card, prefix="1", band="peak", band_weekdays="0-4", band_start=time(8),
                band_end=time(19), rate_per_minute=D("0.0200"))
    RateFactory(rate_card=card, prefix="1", band="off-peak", band_weekdays="0-4", band_start=time(19),
                band_end=time(8), rate_per_minute=D("0.0100"))
    RateFactory(rate_card=card, prefix="1", band="weekend", band_weekdays="5,6", rate_per_minute=D("0.0100"))
    leg = CallLegFactory(started_at=datetime(2026, 11, 7, 0, 59, tzinfo=UTC), talk_s=120)
    leg.connected_at = datetime(2026, 11, 7, 0, 59, 30, tzinfo=UTC)
    leg.save()
    services.rate_period(actor="test", start=datetime(2026, 11, 6, tzinfo=UTC), end=datetime(2026, 11, 8, tzinfo=UTC))
    rec = CostRecord.objects.get(leg=leg)
    assert (rec.band, rec.cost) == ("peak", D("0.0400"))  # rating.md §6 start rule


@pytest.mark.django_db
def test_unanswered_leg_costs_nothing_and_free_threshold(card):
    RateFactory(rate_card=card, prefix="1415", rate_per_minute=D("0.0500"), connect_fee=D("0.0200"),
                min_billable_seconds=5)
    unanswered = CallLegFactory(dnis="+14155550188", connected_at=None, duration_ms=0, ended_at=None)
    short = CallLegFactory(dnis="+14155550188", talk_s=4)
    rate_all()
    for leg in (unanswered, short):
        rec = CostRecord.objects.get(leg=leg)
        assert (rec.status, rec.billable_seconds, rec.cost) == ("rated", 0, D("0"))


@pytest.mark.django_db
def test_rating_twice_writes_nothing_and_is_set_based(card, django_assert_max_num_queries):
    for n in range(40):
        CallLegFactory(dnis=f"+1212555{n:04d}", talk_s=n)
    first = rate_all()
    assert first.changed_legs == 40
    rated_at = set(CostRecord.objects.values_list("rated_at", flat=True))
    with django_assert_max_num_queries(20):  # independent of the number of legs
        again = rate_all()
    assert (again.processed_legs, again.changed_legs) == (40, 0)
    assert set(CostRecord.objects.values_list("rated_at", flat=True)) == rated_at
    assert CostRecord.objects.count() == 40 and CostRecordHistory.objects.count() == 0


@pytest.mark.django_db
def test_a_late_extraction_update_rerates_only_that_leg_and_keeps_history(card):
    legs = [CallLegFactory(talk_s=61) for _ in range(3)]
    rate_all()
    legs[0].duration_ms = 125_000
    legs[0].save()
    run = rate_all()
    assert run.changed_legs == 1
    assert CostRecord.objects.get(leg=legs[0]).billable_seconds == 126
    old = CostRecordHistory.objects.get()
    assert (old.leg_id, old.billable_seconds, old.cost) == (legs[0].pk, 66, D("0.0165"))


@pytest.mark.django_db
def test_resumes_from_its_cursor_after_a_killed_worker(card, monkeypatch):
    legs = [CallLegFactory(talk_s=30) for _ in range(5)]
    monkeypatch.setattr(services, "BATCH_SIZE", 2)
    run = services.start_rating_run(actor="test", start=START, end=END, enqueue_task=False)
    # as if a worker died after the first batch: cursor and counters committed, lease expired
    run.state, run.total_legs, run.processed_legs, run.cursor_leg_id = "running", 5, 2, legs[1].pk
    run.save()
    services.process_rating_run(run_id=run.pk, time_budget_seconds=None)
    run.refresh_from_db()
    assert (run.state, run.processed_legs, run.percent) == ("done", 5, 100)
    assert CostRecord.objects.count() == 3  # only the legs after the cursor


@pytest.mark.django_db
def test_a_held_lease_makes_a_duplicate_delivery_exit(card):
    CallLegFactory()
    run = services.start_rating_run(actor="test", start=START, end=END, enqueue_task=False)
    RatingRun.objects.filter(pk=run.pk).update(lease_until=datetime(2999, 1, 1, tzinfo=UTC))
    services.process_rating_run(run_id=run.pk)
    assert CostRecord.objects.count() == 0


@pytest.mark.django_db
def test_legs_extracted_signal_queues_rating_of_that_connection(card, django_capture_on_commit_callbacks):
    leg = CallLegFactory()
    other = CallLegFactory(connection=ConnectionFactory(name="other"))
    with django_capture_on_commit_callbacks(execute=True):
        legs_extracted.send(sender=None, connection_id=leg.connection_id, start=START, end=END)
    assert CostRecord.objects.filter(leg=leg).exists()
    assert not CostRecord.objects.filter(leg=other).exists()
    assert RatingRun.objects.get().state == "done"


@pytest.mark.django_db
def test_carrier_scoped_run_leaves_other_carriers_legs_alone(card):
    other = RateCardFactory(carrier=CarrierFactory(name="Carrier B", is_default=False))
    RateFactory(rate_card=other)
    MappingFactory(carrier=other.carrier, match_value="b-trunk")
    CallLegFactory(trunk="b-trunk")
    mine = CallLegFactory()
    rate_all(carrier=card.carrier)
    assert list(CostRecord.objects.values_list("leg_id", flat=True)) == [mine.pk]


@pytest.mark.django_db
def test_the_sweeper_finishes_a_run_whose_worker_died(card, django_capture_on_commit_callbacks):
    from billing.tasks import sweep_rating_runs_task

    CallLegFactory()
    run = services.start_rating_run(actor="test", start=START, end=END, enqueue_task=False)
    RatingRun.objects.filter(pk=run.pk).update(state="running", lease_until=datetime(2000, 1, 1, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_rating_runs_task() == 1
    assert RatingRun.objects.get(pk=run.pk).state == "done" and CostRecord.objects.count() == 1
    assert sweep_rating_runs_task() == 0
