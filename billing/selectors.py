"""Billing reads for views, exports and other apps' dashboards (no PII formatting here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from billing import rating
from billing.models import CostRecord, Rate, RateCard, RatingRun


def rate_card_list(*, carrier_id: int | None = None, status: str = "") -> QuerySet[RateCard]:
    """Versions with their carrier and rate count, newest first per carrier."""
    cards = RateCard.objects.select_related("carrier", "corrects", "superseded_by").annotate(
        rate_count=Count("rates")
    )
    if carrier_id:
        cards = cards.filter(carrier_id=carrier_id)
    if status:
        cards = cards.filter(status=status)
    return cards


def rates_of_card(*, card: RateCard, search: str = "", direction: str = "") -> QuerySet[Rate]:
    """A version's rates, optionally filtered by prefix start or destination text."""
    rates = card.rates.all()
    search = search.strip().lstrip("+")
    if search:
        rates = rates.filter(Q(prefix__startswith=search) | Q(destination__icontains=search))
    if direction:
        rates = rates.filter(direction=direction)
    return rates.order_by("direction", "prefix", "band")


@dataclass(frozen=True)
class Progress:
    """The context ``cdrweb/_progress.html`` expects."""

    percent: int
    state: str
    label: str
    finished: bool
    poll_url: str


def run_progress(run: RatingRun) -> Progress:
    """Progress of a rating run for the shared progress partial."""
    label = f"{run.processed_legs} of {run.total_legs} legs, {run.changed_legs} changed"
    if run.error:
        label += f" · {run.error[:200]}"
    return Progress(run.percent, run.state, label, run.finished, reverse("billing:run-progress", args=[run.pk]))


def cost_explanation(cost_record: CostRecord) -> dict[str, Any]:
    """How a leg's cost was reached, step by step with numbers (rating.md §1-§5).

    Returns ``{"status", "reason", "facts": [(label, value)], "steps": [str], "formula": str}``;
    values are plain strings (no PII: the rated number itself is left to the page's masker).
    """
    rec = cost_record
    leg = rec.leg
    card = rec.rate_card
    rate = rec.rate
    facts: list[tuple[str, str]] = [
        ("Status", rec.get_status_display() + (f": {rec.reason}" if rec.reason else "")),
        ("Carrier", str(rec.carrier) if rec.carrier else "—"),
        ("Rate card version", f"{card.name} v{card.version} ({card.get_status_display()}, from "
                              f"{card.effective_from:%Y-%m-%d %H:%M} UTC)" if card else "—"),
        ("Direction", leg.direction),
        ("Destination", f"{rec.destination or '—'} ({rec.country or '?'}, {rec.get_number_type_display()})"),
        ("Matched prefix", (rec.matched_prefix or "(catch-all)") if rec.rate_id or rec.matched_prefix else "—"),
        ("Band", rec.band or "all times"),
        ("Rated at", f"{rec.rated_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    steps: list[str] = []
    formula = ""
    if rec.status == CostRecord.Status.RATED and card and rate:
        first = rate.increment_first or card.default_increment_first
        next_ = rate.increment_next or card.default_increment_next
        answered = leg.connected_at is not None
        steps.append(
            f"Talk time {leg.duration_ms} ms → {rec.talk_seconds} s (rule: {card.get_seconds_rule_display()})"
            if answered else "Not answered → 0 s, no connect fee"
        )
        if rate.min_billable_seconds and 0 < rec.talk_seconds < rate.min_billable_seconds:
            steps.append(f"Shorter than the free threshold {rate.min_billable_seconds} s → billed 0 s")
        else:
            steps.append(f"Increments {first}/{next_}: {rec.talk_seconds} s → {rec.billable_seconds} billed s")
        if rec.billable_seconds:
            exact = rate.connect_fee + rate.rate_per_minute * rec.billable_seconds / rating.SIXTY
            formula = (f"{_num(rate.connect_fee)} connect + {_num(rate.rate_per_minute)}/min × "
                       f"{rec.billable_seconds} s / 60 = {_num(exact)}")
            if exact < rate.minimum_cost:
                formula += f" → minimum cost {_num(rate.minimum_cost)}"
        else:
            formula = "0 billed seconds → cost 0"
        formula += (f" → {_num(rec.cost, card.money_decimals)} {rec.currency} "
                    f"({card.money_decimals} places, {card.get_rounding_display()})")
    # The cost as displayed and exported: at the card's places, the same on every database
    # (PostgreSQL returns numeric(18,6) with trailing zeros, SQLite does not).
    shown = _num(rec.cost, card.money_decimals) if card else _num(rec.cost)
    return {"status": rec.status, "reason": rec.reason, "facts": facts, "steps": steps, "formula": formula,
            "exact_cost": rec.exact_cost, "cost": rec.cost, "cost_display": shown, "currency": rec.currency}


def _num(value: Decimal, places: int | None = None) -> str:
    if places is not None:
        return format(value.quantize(Decimal(1).scaleb(-places)), "f")
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


EXPORT_HEADER = (
    "conversation_id", "leg_id", "sip_call_id", "start_utc", "direction", "from", "to", "carrier",
    "rate_card_version", "matched_prefix", "destination", "duration_ms", "billable_seconds", "cost",
    "currency", "status", "reason",
)


def cost_export_rows(*, start: datetime, end: datetime) -> QuerySet:
    """One dict per leg started in [start, end), joined with its cost record (None when not rated yet)."""
    from extraction.models import CallLeg

    return (
        CallLeg.objects.filter(started_at__gte=start, started_at__lt=end)
        .order_by("started_at", "id")
        .values(
            "id", "external_call_id", "conversation__conversation_id", "leg_id", "sip_call_id", "started_at",
            "direction", "ani", "ani_e164", "dnis", "dnis_e164", "duration_ms",
            "cost_record__carrier__name", "cost_record__rate_card__version", "cost_record__matched_prefix",
            "cost_record__destination", "cost_record__billable_seconds", "cost_record__cost",
            "cost_record__rate_card__money_decimals", "cost_record__currency", "cost_record__status",
            "cost_record__reason",
        )
    )
