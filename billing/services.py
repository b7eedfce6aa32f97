"""Billing writes: carriers, mappings, rate card versions and rates (all audited), and rating runs."""

from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from billing import csv_io, engine, store, vector
from billing.models import (
    Carrier,
    CarrierTrunkMapping,
    CostRecord,
    Rate,
    RateCard,
    RatingRun,
)
from cdrweb import audit, rollup
from cdrweb.tasks import claim_lease, enqueue, release_lease
from extraction.models import CallLeg

logger = logging.getLogger(__name__)

BATCH_SIZE = 50_000
LEASE_SECONDS = 300
# Legs are selected by start time but priced by answer time (rating.md §7): widen re-rate
# periods by this much so a leg set up just before a version's start is included.
SETUP_SLACK = timedelta(hours=2)
FAR_FUTURE_DAYS = 1

RESULT_FIELDS = (
    "carrier_id", "rate_card_id", "rate_id", "matched_prefix", "destination", "country", "number_type",
    "band", "talk_seconds", "billable_seconds", "exact_cost", "cost", "currency", "status", "reason",
    "input_hash",
)
CARD_FIELDS = (
    "name", "currency", "effective_from", "effective_to", "default_increment_first",
    "default_increment_next", "rounding", "seconds_rule", "money_decimals", "timezone", "status",
)
RATE_FIELDS = (
    "prefix", "destination", "direction", "rate_per_minute", "connect_fee", "min_billable_seconds",
    "minimum_cost", "increment_first", "increment_next", "band", "band_weekdays", "band_start", "band_end",
)


# --- carriers and trunk mappings ---------------------------------------------------------------


@transaction.atomic
def save_carrier(*, actor: Any, carrier: Carrier | None = None, request: Any = None, **values: Any) -> Carrier:
    """Create or update a carrier; ``is_default`` moves the default flag to it. Audited."""
    before = audit.snapshot(carrier) if carrier and carrier.pk else {}
    carrier = carrier or Carrier()
    for name, value in values.items():
        setattr(carrier, name, value)
    carrier.full_clean(validate_constraints=False)
    if carrier.is_default:
        Carrier.objects.filter(is_default=True).exclude(pk=carrier.pk).update(is_default=False)
    carrier.save()
    audit.record(actor=actor, action="billing.carrier." + ("update" if before else "create"), obj=carrier,
                 summary=f"carrier {carrier.name}", changes=audit.diff(before, audit.snapshot(carrier)),
                 request=request)
    return carrier


@transaction.atomic
def save_trunk_mapping(*, actor: Any, mapping: CarrierTrunkMapping | None = None, request: Any = None,
                       **values: Any) -> CarrierTrunkMapping:
    """Create or update a trunk/edge/provider → carrier mapping. Audited."""
    before = audit.snapshot(mapping) if mapping and mapping.pk else {}
    mapping = mapping or CarrierTrunkMapping()
    for name, value in values.items():
        setattr(mapping, name, value)
    mapping.full_clean()
    mapping.save()
    audit.record(actor=actor, action="billing.mapping." + ("update" if before else "create"), obj=mapping,
                 summary=str(mapping), changes=audit.diff(before, audit.snapshot(mapping)), request=request)
    return mapping


@transaction.atomic
def delete_trunk_mapping(*, actor: Any, mapping: CarrierTrunkMapping, request: Any = None) -> None:
    """Delete a mapping. Audited."""
    audit.record(actor=actor, action="billing.mapping.delete", obj=mapping, summary=str(mapping),
                 changes=audit.diff(audit.snapshot(mapping), {}), request=request)
    mapping.delete()


# --- rate card versions ------------------------------------------------------------------------


def card_is_used(card: RateCard) -> bool:
    """A version that has priced a leg is immutable (rating.md §7)."""
    return CostRecord.objects.filter(rate_card=card).exists()


def check_overlap(card: RateCard, *, replacing: RateCard | None = None) -> None:
    """Raise ValidationError naming the version ``card`` would overlap, if any.

    A version runs from ``effective_from`` to its ``effective_to`` or the next version's start,
    so two live versions overlap when they start together or an explicit end runs past the next start.
    """
    others = list(
        RateCard.objects.filter(carrier_id=card.carrier_id, status__in=[RateCard.Status.ACTIVE,
                                                                         RateCard.Status.RETIRED])
        .exclude(pk=card.pk).exclude(pk=replacing.pk if replacing else None)
    )
    if card.effective_to is not None and card.effective_to <= card.effective_from:
        raise ValidationError("effective to must be after effective from")
    timeline = sorted([*others, card], key=lambda c: (c.effective_from, c.pk or 0))
    for earlier, later in zip(timeline, timeline[1:], strict=False):
        clash = earlier.effective_from == later.effective_from or (
            earlier.effective_to is not None and earlier.effective_to > later.effective_from
        )
        if clash:
            other = later if earlier is card else earlier
            raise ValidationError(
                f"overlaps version {other.version} ({other.name}, from {other.effective_from:%Y-%m-%d %H:%M}"
                f"{' to ' + format(other.effective_to, '%Y-%m-%d %H:%M') if other.effective_to else ''} UTC)"
                "; to fix prices of an existing version use 'correct version'"
            )


def _next_version(carrier: Carrier) -> int:
    return (RateCard.objects.filter(carrier=carrier).aggregate(v=Max("version"))["v"] or 0) + 1


@transaction.atomic
def create_rate_card(*, actor: Any, carrier: Carrier, request: Any = None, **values: Any) -> RateCard:
    """A new draft version (no effect on rating until activated). Audited."""
    card = RateCard(carrier=carrier, version=_next_version(carrier), status=RateCard.Status.DRAFT, **values)
    card.currency = card.currency or carrier.currency
    card.full_clean(exclude=["version"], validate_constraints=False)
    card.save()
    audit.record(actor=actor, action="billing.ratecard.create", obj=card, summary=f"draft {card}",
                 changes=audit.diff({}, audit.snapshot(card, CARD_FIELDS)), request=request)
    return card


@transaction.atomic
def update_rate_card(*, actor: Any, card: RateCard, request: Any = None, **values: Any) -> RateCard:
    """Edit a version's settings; refused on a version that has priced legs. Audited."""
    if card.status == RateCard.Status.SUPERSEDED or (card.status != RateCard.Status.DRAFT and card_is_used(card)):
        raise ValidationError(f"{card} has priced calls and cannot change; start a correction instead")
    before = audit.snapshot(card, CARD_FIELDS)
    for name, value in values.items():
        setattr(card, name, value)
    card.full_clean(validate_constraints=False)
    if card.status != RateCard.Status.DRAFT:
        check_overlap(card)
    card.save()
    audit.record(actor=actor, action="billing.ratecard.update", obj=card, summary=str(card),
                 changes=audit.diff(before, audit.snapshot(card, CARD_FIELDS)), request=request)
    if card.status != RateCard.Status.DRAFT:
        schedule_rerate_for_card(actor=actor, card=card, reason=f"settings of {card} changed")
    return card


def _copy_rates(source: RateCard, target: RateCard) -> int:
    rows = [Rate(rate_card=target, **{f: getattr(r, f) for f in RATE_FIELDS}) for r in source.rates.all()]
    Rate.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


@transaction.atomic
def clone_rate_card(*, actor: Any, card: RateCard, effective_from: datetime | None = None,
                    correction: bool = False, request: Any = None) -> RateCard:
    """Copy a version and its rates into a draft: a new version from a date, or a correction.

    A correction keeps the same ``effective_from`` and will supersede ``card`` when confirmed
    (rating.md §7); a new version must start at a different instant.
    """
    if correction and card.status not in (RateCard.Status.ACTIVE, RateCard.Status.RETIRED):
        raise ValidationError("only a live version can be corrected")
    start = card.effective_from if correction else effective_from
    if start is None:
        raise ValidationError("a new version needs an effective-from date")
    draft = RateCard(
        carrier=card.carrier, version=_next_version(card.carrier), status=RateCard.Status.DRAFT,
        effective_from=start, effective_to=card.effective_to if correction else None,
        corrects=card if correction else None,
        **{f: getattr(card, f) for f in CARD_FIELDS if f not in ("effective_from", "effective_to", "status")},
    )
    draft.save()
    count = _copy_rates(card, draft)
    kind = "correction" if correction else "new version"
    audit.record(actor=actor, action=f"billing.ratecard.{'correct' if correction else 'clone'}", obj=draft,
                 summary=f"{kind} {draft} from {card} ({count} rates)",
                 changes=audit.diff({}, audit.snapshot(draft, CARD_FIELDS)), request=request)
    return draft


@transaction.atomic
def activate_rate_card(*, actor: Any, card: RateCard, request: Any = None) -> RatingRun | None:
    """Make a draft new version live and re-rate the period it now covers. Audited.

    Corrections go through :func:`confirm_correction` (after a preview), never through here.
    """
    if card.status != RateCard.Status.DRAFT:
        raise ValidationError(f"{card} is not a draft")
    if card.corrects_id:
        raise ValidationError("a correction is confirmed from its re-rate preview")
    if not card.rates.exists():
        raise ValidationError(f"{card} has no rates")
    check_overlap(card)
    before = audit.snapshot(card, CARD_FIELDS)
    card.status = RateCard.Status.ACTIVE
    card.save(update_fields=["status"])
    audit.record(actor=actor, action="billing.ratecard.activate", obj=card, summary=f"added version {card}",
                 changes=audit.diff(before, audit.snapshot(card, CARD_FIELDS)), request=request)
    return schedule_rerate_for_card(actor=actor, card=card, reason=f"version {card} added")


@transaction.atomic
def retire_rate_card(*, actor: Any, card: RateCard, effective_to: datetime, request: Any = None) -> RatingRun | None:
    """Stop a live version pricing calls answered from ``effective_to``; earlier calls keep it."""
    if card.status != RateCard.Status.ACTIVE:
        raise ValidationError(f"{card} is not active")
    before = audit.snapshot(card, CARD_FIELDS)
    old_end = _version_end(card)
    card.effective_to = effective_to
    card.status = RateCard.Status.RETIRED
    check_overlap(card)
    card.save(update_fields=["effective_to", "status"])
    audit.record(actor=actor, action="billing.ratecard.retire", obj=card, summary=f"retired {card}",
                 changes=audit.diff(before, audit.snapshot(card, CARD_FIELDS)), request=request)
    return _schedule_run(actor=actor, carrier=card.carrier, start=effective_to - SETUP_SLACK,
                         end=max(old_end, effective_to + SETUP_SLACK), reason=f"{card} retired")


def _version_end(card: RateCard) -> datetime:
    """Where a version stops pricing: its effective_to, the next live version's start, or now."""
    if card.effective_to:
        return card.effective_to
    nxt = (RateCard.objects.filter(carrier_id=card.carrier_id, status__in=["active", "retired"],
                                   effective_from__gt=card.effective_from)
           .order_by("effective_from").values_list("effective_from", flat=True).first())
    if nxt:
        return nxt
    latest = CallLeg.objects.aggregate(latest=Max("started_at"))["latest"]
    return max(latest or timezone.now(), timezone.now()) + timedelta(days=FAR_FUTURE_DAYS)


def schedule_rerate_for_card(*, actor: Any, card: RateCard, reason: str) -> RatingRun | None:
    """Queue re-rating of the period a version covers, if any call falls in it."""
    return _schedule_run(actor=actor, carrier=card.carrier, start=card.effective_from - SETUP_SLACK,
                         end=_version_end(card), reason=reason)


def _schedule_run(*, actor: Any, carrier: Carrier, start: datetime, end: datetime, reason: str) -> RatingRun | None:
    if not CallLeg.objects.filter(started_at__gte=start, started_at__lt=end).exists():
        return None
    return start_rating_run(actor=actor, start=start, end=end, carrier=carrier, reason=reason)


@transaction.atomic
def save_rate(*, actor: Any, card: RateCard, rate: Rate | None = None, request: Any = None,
              **values: Any) -> Rate:
    """Add or edit one rate of a version that has not priced calls yet (else: correct it). Audited."""
    _ensure_editable(card)
    before = audit.snapshot(rate, RATE_FIELDS) if rate and rate.pk else {}
    rate = rate or Rate(rate_card=card)
    for name, value in values.items():
        setattr(rate, name, value)
    rate.prefix = (rate.prefix or "").strip().lstrip("+")
    rate.full_clean(validate_constraints=False)
    clash = Rate.objects.filter(rate_card=card, direction=rate.direction, prefix=rate.prefix,
                                band=rate.band).exclude(pk=rate.pk).first()
    if clash:
        raise ValidationError(f"duplicate prefix {rate.prefix or '(catch-all)'} for {rate.direction}")
    rate.save()
    audit.record(actor=actor, action="billing.rate." + ("update" if before else "create"), obj=rate,
                 summary=f"{card}: {rate}", changes=audit.diff(before, audit.snapshot(rate, RATE_FIELDS)),
                 request=request)
    if card.status != RateCard.Status.DRAFT:
        schedule_rerate_for_card(actor=actor, card=card, reason=f"rate {rate.prefix or '*'} of {card} changed")
    return rate


@transaction.atomic
def delete_rate(*, actor: Any, rate: Rate, request: Any = None) -> None:
    """Remove one rate from an editable version. Audited."""
    card = rate.rate_card
    _ensure_editable(card)
    audit.record(actor=actor, action="billing.rate.delete", obj=rate, summary=f"{card}: {rate}",
                 changes=audit.diff(audit.snapshot(rate, RATE_FIELDS), {}), request=request)
    rate.delete()


def _ensure_editable(card: RateCard) -> None:
    if card.status == RateCard.Status.SUPERSEDED or (card.status != RateCard.Status.DRAFT and card_is_used(card)):
        raise ValidationError(
            f"{card} has priced calls and is immutable; start a correction (same dates, re-rate preview)"
            " or add a new version from a date"
        )


# --- CSV import --------------------------------------------------------------------------------


@dataclass
class ImportResult:
    rows: list[csv_io.ParsedRate]
    errors: list[csv_io.RowError]
    card: RateCard | None = None
    carrier_created: bool = False
    run: RatingRun | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


def import_rate_card(
    *, actor: Any, data: bytes | str, carrier_name: str, currency: str, effective_from: datetime,
    increment: tuple[int, int] | None = None, make_default: bool = False, dry_run: bool = False,
    name: str = "", run_inline: bool = False, request: Any = None,
) -> ImportResult:
    """Import a rate card CSV as a new live version of a carrier (created if new).

    Every row error is reported (line, column, reason) and nothing is written when there is any,
    nor on a dry run. Then the period the version covers is re-rated (queued, or inline).
    """
    rows, errors = csv_io.parse_rate_card_csv(data)
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        errors.append(csv_io.RowError(0, "currency", f"{currency!r} is not a 3-letter currency code"))
    carrier = Carrier.objects.filter(name=carrier_name).first()
    if carrier and carrier.currency != currency:
        errors.append(csv_io.RowError(0, "currency", f"carrier {carrier.name} bills in {carrier.currency}"))
    first, next_ = increment or ((carrier.default_increment_first, carrier.default_increment_next)
                                 if carrier else (60, 6))
    if carrier and not errors:
        probe = RateCard(carrier=carrier, effective_from=effective_from, version=0, name=name or "import")
        try:
            check_overlap(probe)
        except ValidationError as exc:
            errors.append(csv_io.RowError(0, "effective_from", "; ".join(exc.messages)))
    result = ImportResult(rows=rows, errors=errors, dry_run=dry_run)
    if errors or dry_run:
        return result
    with transaction.atomic():
        if carrier is None:
            carrier = save_carrier(actor=actor, name=carrier_name, currency=currency,
                                   default_increment_first=first, default_increment_next=next_,
                                   is_default=make_default, request=request)
            result.carrier_created = True
        elif make_default and not carrier.is_default:
            save_carrier(actor=actor, carrier=carrier, is_default=True, request=request)
        card = RateCard(
            carrier=carrier, version=_next_version(carrier), currency=currency,
            name=name or f"{carrier.name} {effective_from:%Y-%m-%d}", effective_from=effective_from,
            default_increment_first=first, default_increment_next=next_, status=RateCard.Status.ACTIVE,
        )
        card.save()
        Rate.objects.bulk_create(
            [Rate(rate_card=card, **{f: getattr(r, f) for f in RATE_FIELDS}) for r in rows], batch_size=2000
        )
        audit.record(actor=actor, action="billing.ratecard.import", obj=card,
                     summary=f"imported {len(rows)} rates as {card}",
                     changes=audit.diff({}, audit.snapshot(card, CARD_FIELDS)), request=request)
        result.card = card
        if run_inline:
            start, end = card.effective_from - SETUP_SLACK, _version_end(card)
            if CallLeg.objects.filter(started_at__gte=start, started_at__lt=end).exists():
                result.run = start_rating_run(actor=actor, start=start, end=end, carrier=carrier,
                                              reason=f"version {card} imported", enqueue_task=False)
        else:
            result.run = schedule_rerate_for_card(actor=actor, card=card, reason=f"version {card} imported")
    if run_inline and result.run:
        result.run = process_rating_run(run_id=result.run.pk, time_budget_seconds=None)
    return result


def import_rates_into_draft(*, actor: Any, card: RateCard, data: bytes | str, request: Any = None) -> ImportResult:
    """Replace a draft version's rates with a CSV's (all-or-nothing, errors by line)."""
    rows, errors = csv_io.parse_rate_card_csv(data)
    result = ImportResult(rows=rows, errors=errors, card=card)
    if card.status != RateCard.Status.DRAFT:
        result.errors.append(csv_io.RowError(0, "", f"{card} is not a draft"))
    if result.errors:
        return result
    with transaction.atomic():
        old = card.rates.count()
        card.rates.all().delete()
        Rate.objects.bulk_create(
            [Rate(rate_card=card, **{f: getattr(r, f) for f in RATE_FIELDS}) for r in rows], batch_size=2000
        )
        audit.record(actor=actor, action="billing.ratecard.import", obj=card,
                     summary=f"replaced {old} rates of draft {card} with {len(rows)} from CSV", request=request)
    return result


# --- rating runs -------------------------------------------------------------------------------


def start_rating_run(
    *, actor: Any, start: datetime, end: datetime, carrier: Carrier | None = None,
    connection_id: int | None = None, kind: str = RatingRun.Kind.RATE, rate_card: RateCard | None = None,
    reason: str = "", enqueue_task: bool = True,
) -> RatingRun:
    """Create a rating run over legs started in [start, end) and queue it (django-q2)."""
    if end <= start:
        raise ValidationError("the period end must be after its start")
    run = RatingRun.objects.create(
        kind=kind, period_start=start, period_end=end, carrier=carrier, connection_id=connection_id,
        rate_card=rate_card, reason=reason[:200],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if enqueue_task:
        enqueue("billing.tasks.process_rating_run_task", run.pk)
    return run


def retry_rating_run(*, actor: Any, run: RatingRun) -> RatingRun:
    """Resume a failed run from its cursor (batches already committed are kept)."""
    if run.state != RatingRun.State.FAILED:
        raise ValidationError("only a failed run can be retried")
    updated = RatingRun.objects.filter(pk=run.pk, state=RatingRun.State.FAILED).update(
        state=RatingRun.State.RUNNING, error="", finished_at=None, lease_until=None)
    if updated:
        audit.record(actor=actor, action="billing.rating.retry", obj=run, summary=f"retry of {run}")
        enqueue("billing.tasks.process_rating_run_task", run.pk)
    run.refresh_from_db()
    return run


def rate_period(*, actor: Any, start: datetime, end: datetime, carrier: Carrier | None = None) -> RatingRun:
    """Rate every leg started in [start, end) in the foreground (the ``rate`` command)."""
    run = start_rating_run(actor=actor, start=start, end=end, carrier=carrier, reason="manual", enqueue_task=False)
    return process_rating_run(run_id=run.pk, time_budget_seconds=None)


def _legs_for(run: RatingRun):
    legs = CallLeg.objects.filter(started_at__gte=run.period_start, started_at__lt=run.period_end)
    if run.connection_id:
        legs = legs.filter(connection_id=run.connection_id)
    return legs


def process_rating_run(*, run_id: int, time_budget_seconds: float | None = 240) -> RatingRun:
    """Rate (or preview) a run's legs in batches until done or out of time; resumable and idempotent.

    Each batch commits its cost records with the cursor and counters. Returns the run; when the
    time budget ran out the task is re-queued to continue from the cursor.
    """
    if not claim_lease(RatingRun, run_id, seconds=LEASE_SECONDS):
        logger.info("rating run %s is held by another worker", run_id)
        return RatingRun.objects.get(pk=run_id)
    run = RatingRun.objects.get(pk=run_id)
    requeue = False
    try:
        if run.finished:
            return run
        legs = _legs_for(run)
        if run.state == RatingRun.State.PENDING:
            run.total_legs = legs.count()
            run.state = RatingRun.State.RUNNING
            run.save(update_fields=["total_legs", "state"])
        substitute = None
        if run.kind == RatingRun.Kind.PREVIEW and run.rate_card and run.rate_card.corrects_id:
            substitute = (run.rate_card.corrects_id, run.rate_card_id)
        ctx = engine.load_context(substitute=substitute)
        began = clock.monotonic()
        while True:
            batch = store.load_legs(legs, after_id=run.cursor_leg_id, limit=BATCH_SIZE)
            if batch.empty:
                break
            _process_batch(run, batch, ctx)
            if time_budget_seconds is not None and clock.monotonic() - began > time_budget_seconds:
                requeue = True
                return run
        with transaction.atomic():
            if run.kind == RatingRun.Kind.RATE and run.changed_legs:
                rollup.refresh_period(run.period_start, run.period_end)  # the dashboard's rollups
            run.state = RatingRun.State.DONE
            run.finished_at = timezone.now()
            run.save(update_fields=["state", "finished_at"])
        logger.info("rating run %s done: %s legs, %s changed", run.pk, run.processed_legs, run.changed_legs)
        if run.kind == RatingRun.Kind.RATE and run.changed_legs:
            audit.record(actor=run.created_by or "system", action="billing.rating.run", obj=run,
                         summary=f"rated {run.processed_legs} legs, {run.changed_legs} changed ({run.reason})")
        return run
    except Exception as exc:  # the run row must say why it stopped; the task may be retried
        logger.error("rating run %s failed", run_id, exc_info=exc)
        RatingRun.objects.filter(pk=run_id).update(state=RatingRun.State.FAILED, error=str(exc)[:2000],
                                                   finished_at=timezone.now())
        raise
    finally:
        release_lease(RatingRun, run_id)
        if requeue:  # after the release, so the next unit can claim the row
            enqueue("billing.tasks.process_rating_run_task", run_id)


def _process_batch(run: RatingRun, batch: pd.DataFrame, ctx: engine.RatingContext) -> None:
    try:
        frame = vector.rate_frame(batch, ctx)
    except vector.Overflow:  # amounts too large for int64 arithmetic: price with Decimal instead
        frame = _reference_frame(batch, ctx)
    existing = store.existing_results(frame["leg_id"])
    if run.carrier_id:
        # A carrier-scoped run touches only legs that carrier carries (now or before).
        before = set(existing.loc[existing["carrier_id"] == run.carrier_id, "leg_id"])
        frame = frame[(frame["carrier_id"] == run.carrier_id).fillna(False).to_numpy(dtype=bool)
                      | frame["leg_id"].isin(before).to_numpy()]
    old = existing.set_index("leg_id")
    old_hash = frame["leg_id"].map(old["input_hash"]) if not old.empty else pd.Series(None, index=frame.index)
    old_engine = frame["leg_id"].map(old["engine_version"]) if not old.empty else old_hash
    changed = frame[(old_hash != frame["input_hash"]) | (old_engine != engine.ENGINE_VERSION)]
    rated = int((frame["status"] == "rated").sum())
    with transaction.atomic():
        if run.kind == RatingRun.Kind.PREVIEW:
            _accumulate_preview(run, changed, old)
        elif not changed.empty:
            replaced = changed.loc[changed["leg_id"].isin(old.index), "leg_id"]
            store.write_results(changed, replaced=replaced, run_id=run.pk, now=timezone.now())
        run.processed_legs += len(batch)
        run.rated_legs += rated
        run.unrated_legs += len(frame) - rated
        if run.kind == RatingRun.Kind.PREVIEW:
            run.changed_legs = run.preview["legs_changed"]
        else:
            run.changed_legs += len(changed)
        run.cursor_leg_id = int(batch["id"].iloc[-1])
        run.save(update_fields=["processed_legs", "rated_legs", "unrated_legs", "changed_legs",
                                "cursor_leg_id", "preview"])
        _extend_lease(run.pk)


def _reference_frame(batch: pd.DataFrame, ctx: engine.RatingContext) -> pd.DataFrame:
    """The Decimal engine's results in the vector engine's columns (rare: huge amounts only)."""
    rows = []
    for leg in batch.to_dict("records"):
        leg["connected_at"] = None if pd.isna(leg["connected_at"]) else leg["connected_at"].to_pydatetime()
        leg["started_at"] = pd.Timestamp(leg["started_at"]).to_pydatetime()
        result = engine.rate_leg(leg, ctx)
        places = 6
        rows.append({**result, "leg_id": leg["id"], "exact_units12": int(result["exact_cost"].scaleb(12)),
                     "cost_units": int(result["cost"].scaleb(places)), "money_decimals": places})
    return pd.DataFrame(rows, columns=list(vector.RESULT_COLUMNS))


def _extend_lease(run_id: int) -> None:
    RatingRun.objects.filter(pk=run_id).update(lease_until=timezone.now() + timedelta(seconds=LEASE_SECONDS))


def _accumulate_preview(run: RatingRun, changed: pd.DataFrame, old: pd.DataFrame) -> None:
    """Add a batch to the preview: legs whose money changes, delta per carrier, largest changes."""
    preview = run.preview or {"carriers": {}, "largest": [], "legs_changed": 0}
    names = dict(Carrier.objects.values_list("id", "name"))
    records = store.to_records(changed)
    for new in records.to_dict("records"):
        leg_id = new["leg_id"]
        previous = old.loc[leg_id] if leg_id in old.index else None
        old_cost = Decimal(previous["cost"]) if previous is not None else Decimal("0")
        new_cost = new["cost"]
        if previous is not None and old_cost == new_cost and previous["status"] == new["status"]:
            continue  # re-pointed to the correction but the money is the same
        delta = new_cost - old_cost
        carrier_id = new["carrier_id"] or (previous["carrier_id"] if previous is not None else None)
        carrier = names.get(carrier_id, "(none)")
        entry = preview["carriers"].setdefault(carrier, {"legs": 0, "before": "0", "after": "0", "delta": "0"})
        entry["legs"] += 1
        entry["before"] = _money_text(Decimal(entry["before"]) + old_cost)
        entry["after"] = _money_text(Decimal(entry["after"]) + new_cost)
        entry["delta"] = _money_text(Decimal(entry["delta"]) + delta)
        preview["legs_changed"] += 1
        preview["largest"].append({"leg_id": int(leg_id), "before": _money_text(old_cost),
                                   "after": _money_text(new_cost), "delta": _money_text(delta)})
    preview["largest"] = sorted(preview["largest"], key=lambda e: -abs(Decimal(e["delta"])))[:20]
    run.preview = preview


def _money_text(amount: Decimal) -> str:
    """Exact money as text with at least 4 places and no trailing noise (0.060000 -> 0.0600)."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(4, '0')}"


def preview_correction(*, actor: Any, draft: RateCard, enqueue_task: bool = True) -> RatingRun:
    """Queue a re-rate preview of a correction draft: nothing is written to cost records."""
    if draft.status != RateCard.Status.DRAFT or not draft.corrects_id:
        raise ValidationError(f"{draft} is not a correction draft")
    original = draft.corrects
    return start_rating_run(
        actor=actor, start=original.effective_from - SETUP_SLACK, end=_version_end(original),
        carrier=original.carrier, kind=RatingRun.Kind.PREVIEW, rate_card=draft,
        reason=f"preview of correction {draft} to {original}", enqueue_task=enqueue_task,
    )


@transaction.atomic
def confirm_correction(*, actor: Any, draft: RateCard, reason: str = "", request: Any = None,
                       enqueue_task: bool = True) -> RatingRun | None:
    """Supersede the corrected version with the draft and re-rate its period (after a preview)."""
    if draft.status != RateCard.Status.DRAFT or not draft.corrects_id:
        raise ValidationError(f"{draft} is not a correction draft")
    previewed = draft.rating_runs.filter(kind=RatingRun.Kind.PREVIEW, state=RatingRun.State.DONE).exists()
    if not previewed:
        raise ValidationError("look at the re-rate preview before confirming a correction")
    original = RateCard.objects.select_for_update().get(pk=draft.corrects_id)
    if original.status not in (RateCard.Status.ACTIVE, RateCard.Status.RETIRED):
        raise ValidationError(f"{original} is no longer live")
    before_original = audit.snapshot(original, [*CARD_FIELDS, "superseded_by_id"])
    original.status = RateCard.Status.SUPERSEDED
    original.superseded_by = draft
    original.save(update_fields=["status", "superseded_by"])
    draft.status = original_status_after(original)
    check_overlap(draft, replacing=original)
    draft.save(update_fields=["status"])
    audit.record(actor=actor, action="billing.ratecard.supersede", obj=original,
                 summary=f"{original} corrected by {draft}", reason=reason,
                 changes=audit.diff(before_original, audit.snapshot(original, [*CARD_FIELDS, "superseded_by_id"])),
                 request=request)
    start, end = original.effective_from - SETUP_SLACK, _version_end(draft)
    if not CallLeg.objects.filter(started_at__gte=start, started_at__lt=end).exists():
        return None
    return start_rating_run(actor=actor, start=start, end=end, carrier=original.carrier,
                            reason=f"correction {draft} of {original}", enqueue_task=enqueue_task)


def original_status_after(original: RateCard) -> str:
    """A correction of a retired version stays retired (same end); otherwise it is active."""
    return RateCard.Status.RETIRED if original.effective_to else RateCard.Status.ACTIVE


def claimable_runs() -> Q:
    """Runs a sweeper may restart: unfinished and with no live lease."""
    return Q(state__in=[RatingRun.State.PENDING, RatingRun.State.RUNNING]) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
    )

