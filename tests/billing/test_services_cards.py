"""Rate card versions: overlap rules, add vs correct (rating.md §7), re-rate preview, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.models import CostRecord, Rate, RateCard, RatingRun
from cdrweb.models import AuditEntry
from tests.billing.factories import T0, CallLegFactory, CarrierFactory, MappingFactory, RateCardFactory, RateFactory

D = Decimal
HEADER = "prefix,destination,direction,rate_per_minute,connect_fee,min_billable_seconds,minimum_cost,increment\n"
OCT1 = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture
def priced(db):
    """Two carriers, two legs each on the default carrier's 1/1212 rows, all rated."""
    card = RateCardFactory(default_increment_first=60, default_increment_next=60)
    RateFactory(rate_card=card, prefix="1", rate_per_minute=D("0.0100"))
    RateFactory(rate_card=card, prefix="1212", destination="New York", rate_per_minute=D("0.0200"))
    other = RateCardFactory(carrier=CarrierFactory(name="Carrier B", is_default=False))
    RateFactory(rate_card=other, prefix="1", rate_per_minute=D("0.0300"))
    MappingFactory(carrier=other.carrier, match_value="b-trunk")
    legs = {
        "ny1": CallLegFactory(dnis="+12125550101", talk_s=60),
        "ny2": CallLegFactory(dnis="+12125550102", talk_s=120),
        "sf": CallLegFactory(dnis="+14155550103", talk_s=60),
        "b": CallLegFactory(dnis="+12125550104", talk_s=60, trunk="b-trunk"),
    }
    services.rate_period(actor="test", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1))
    return card, legs


def costs(legs):
    return {k: CostRecord.objects.get(leg=v).cost for k, v in legs.items()}


@pytest.mark.django_db
def test_a_second_version_at_the_same_instant_is_refused_naming_the_first(priced, admin_user_role):
    card, _ = priced
    draft = services.create_rate_card(actor=admin_user_role, carrier=card.carrier, name="dup",
                                      currency="USD", effective_from=OCT1)
    RateFactory(rate_card=draft)
    with pytest.raises(ValidationError, match=f"overlaps version {card.version}"):
        services.activate_rate_card(actor=admin_user_role, card=draft)


@pytest.mark.django_db
def test_an_explicit_end_running_past_the_next_start_overlaps(db):
    carrier = CarrierFactory()
    RateCardFactory(carrier=carrier, version=1, effective_from=OCT1, effective_to=datetime(2026, 12, 1, tzinfo=UTC))
    later = RateCard(carrier=carrier, version=2, name="later", effective_from=datetime(2026, 11, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="overlaps version 1"):
        services.check_overlap(later)
    services.check_overlap(RateCard(carrier=carrier, version=3, name="ok", effective_from=datetime(2026, 12, 1,
                                                                                                   tzinfo=UTC)))


@pytest.mark.django_db
def test_a_used_version_is_immutable(priced, admin_user_role):
    card, _ = priced
    rate = card.rates.get(prefix="1212")
    with pytest.raises(ValidationError, match="start a correction"):
        services.save_rate(actor=admin_user_role, card=card, rate=rate, rate_per_minute=D("0.03"))


@pytest.mark.django_db
def test_adding_a_version_from_a_date_rerates_only_legs_after_it(priced, admin_user_role,
                                                                django_capture_on_commit_callbacks):
    card, legs = priced
    before = costs(legs)
    draft = services.clone_rate_card(actor=admin_user_role, card=card, effective_from=T0 + timedelta(hours=1))
    services.save_rate(actor=admin_user_role, card=draft, rate=draft.rates.get(prefix="1"),
                       rate_per_minute=D("0.0050"))
    with django_capture_on_commit_callbacks(execute=True):
        services.activate_rate_card(actor=admin_user_role, card=draft)
    assert costs(legs) == before  # every leg was answered before the new version
    late = CallLegFactory(dnis="+14155550199", talk_s=60, started_at=T0 + timedelta(hours=2))
    services.rate_period(actor="test", start=T0, end=T0 + timedelta(days=1))
    assert CostRecord.objects.get(leg=late).cost == D("0.0050")


@pytest.mark.django_db
def test_correction_previews_then_rerates_exactly_the_affected_legs(priced, admin_user_role,
                                                                    django_capture_on_commit_callbacks):
    card, legs = priced
    before = costs(legs)
    draft = services.clone_rate_card(actor=admin_user_role, card=card, correction=True)
    assert (draft.effective_from, draft.corrects, draft.status) == (card.effective_from, card, "draft")
    services.save_rate(actor=admin_user_role, card=draft, rate=draft.rates.get(prefix="1212"),
                       rate_per_minute=D("0.0150"))
    with pytest.raises(ValidationError, match="preview"):
        services.confirm_correction(actor=admin_user_role, draft=draft)

    with django_capture_on_commit_callbacks(execute=True):
        preview = services.preview_correction(actor=admin_user_role, draft=draft)
    preview.refresh_from_db()
    assert costs(legs) == before  # a preview writes no cost
    assert preview.changed_legs == 2
    assert preview.preview["carriers"] == {
        "Carrier A": {"legs": 2, "before": "0.0600", "after": "0.0450", "delta": "-0.0150"}}

    with django_capture_on_commit_callbacks(execute=True):
        run = services.confirm_correction(actor=admin_user_role, draft=draft, reason="typo in NY rate")
    run.refresh_from_db()
    after = costs(legs)
    assert after == {**before, "ny1": D("0.0150"), "ny2": D("0.0300")}
    card.refresh_from_db()
    draft.refresh_from_db()
    assert (card.status, card.superseded_by, draft.status) == ("superseded", draft, "active")
    # every affected leg of the carrier now points at the superseding version; carrier B untouched
    assert set(CostRecord.objects.filter(carrier=card.carrier).values_list("rate_card", flat=True)) == {draft.pk}
    assert CostRecord.objects.get(leg=legs["b"]).rate_card.carrier.name == "Carrier B"
    assert run.state == "done"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"billing.ratecard.correct", "billing.rate.update", "billing.ratecard.supersede",
            "billing.rating.run"} <= actions
    entry = AuditEntry.objects.get(action="billing.rate.update")
    assert entry.changes["rate_per_minute"] == {"before": "0.02000000", "after": "0.0150"}


@pytest.mark.django_db
def test_retiring_a_version_makes_later_legs_unrated(priced, admin_user_role, django_capture_on_commit_callbacks):
    card, legs = priced
    with django_capture_on_commit_callbacks(execute=True):
        services.retire_rate_card(actor=admin_user_role, card=card, effective_to=T0)
    assert CostRecord.objects.get(leg=legs["ny1"]).reason == "no card version"
    assert RateCard.objects.get(pk=card.pk).status == "retired"


@pytest.mark.django_db
def test_import_is_all_or_nothing_and_creates_the_carrier(db, admin_user_role):
    bad = HEADER + "1,USA,outbound,0.01,,,,\n1,USA,outbound,0.02,,,,\n"
    result = services.import_rate_card(actor=admin_user_role, data=bad, carrier_name="NewCo", currency="USD",
                                       effective_from=OCT1)
    assert [(e.line, e.column) for e in result.errors] == [(3, "prefix")]
    assert not RateCard.objects.exists() and not Rate.objects.exists()
    good = HEADER + "1,USA,outbound,0.01,,,,\n44,UK,outbound,0.02,,,,\n"
    result = services.import_rate_card(actor=admin_user_role, data=good, carrier_name="NewCo", currency="usd",
                                       effective_from=OCT1, increment=(30, 6), make_default=True)
    assert result.ok and result.carrier_created and result.card.rates.count() == 2
    assert (result.card.carrier.is_default, result.card.default_increment_first, result.card.currency) == (
        True, 30, "USD")
    again = services.import_rate_card(actor=admin_user_role, data=good, carrier_name="NewCo", currency="USD",
                                      effective_from=OCT1)
    assert again.errors[0].column == "effective_from" and "overlaps version 1" in again.errors[0].reason


@pytest.mark.django_db
def test_a_failed_run_records_why_and_resumes(priced, django_capture_on_commit_callbacks):
    card, _ = priced
    RateCard.objects.filter(pk=card.pk).update(timezone="Mars/Olympus_Mons")  # bad data, not a mock
    run = services.start_rating_run(actor="t", start=T0 - timedelta(days=1), end=T0 + timedelta(days=1),
                                    enqueue_task=False)
    with pytest.raises(Exception, match="Mars"):
        services.process_rating_run(run_id=run.pk)
    run = RatingRun.objects.get(pk=run.pk)
    assert (run.state, run.lease_until) == ("failed", None) and "Mars/Olympus_Mons" in run.error
    RateCard.objects.filter(pk=card.pk).update(timezone="America/Chicago")  # data fixed
    with django_capture_on_commit_callbacks(execute=True):
        run = services.retry_rating_run(actor="t", run=run)
    run.refresh_from_db()
    assert (run.state, run.error) == ("done", "")
