"""Set-based rating core: load cards, mappings and carriers once, price a batch of legs in memory.

The ORM is touched only in :func:`load_context` (a fixed handful of queries, whatever the batch
size); :func:`rate_leg` is pure and works on plain dicts, so a batch of legs costs no queries.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from billing import numbers, rating
from billing.models import Carrier, CarrierTrunkMapping, Rate, RateCard

ENGINE_VERSION = "1"
EXACT_PLACES = Decimal("1e-12")

# Unrated reasons (rating.md §1.1, §7): a leg we cannot price is never priced at a default.
NO_DESTINATION = "no destination"
NO_CARRIER = "no carrier"
NO_CARD_VERSION = "no card version"
NO_MATCHING_PREFIX = "no matching prefix"
NO_BAND = "no band for answer time"

LEG_FIELDS = (
    "id", "direction", "dnis", "dnis_e164", "started_at", "connected_at", "duration_ms",
    "trunk", "edge_id", "provider", "connection__name", "connection__default_region",
)


@dataclass(frozen=True)
class RateRow:
    id: int
    prefix: str
    destination: str
    rate_per_minute: Decimal
    connect_fee: Decimal
    min_billable_seconds: int
    minimum_cost: Decimal
    first: int
    next_: int
    band: str
    weekdays: frozenset[int]
    band_start: time | None
    band_end: time | None


@dataclass
class CardVersion:
    id: int
    carrier_id: int
    version: int
    effective_from: datetime
    effective_to: datetime | None
    currency: str
    rounding: str
    seconds_rule: str
    money_decimals: int
    zone: ZoneInfo
    # direction -> prefix -> the rows of that prefix (one per band)
    rows: dict[str, dict[str, list[RateRow]]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def settings_key(self) -> str:
        return f"{self.id}|{self.rounding}|{self.seconds_rule}|{self.money_decimals}|{self.zone.key}"


@dataclass
class RatingContext:
    carriers: dict[int, Carrier]
    default_carrier_id: int | None
    # (match_field, value) -> [(priority, mapping id, direction, carrier id)]
    mappings: dict[tuple[str, str], list[tuple[int, int, str, int]]]
    # carrier id -> versions sorted by effective_from, and their start instants for bisect
    cards: dict[int, list[CardVersion]]
    starts: dict[int, list[datetime]]
    # derived structures built once per run by the vectorised engine (billing/vector.py)
    cache: dict[str, Any] = field(default_factory=dict)

    def carrier_for(self, leg: dict[str, Any]) -> int | None:
        """Trunk mapping (lowest priority number wins, direction-specific or any), else the default."""
        best: tuple[int, int, str, int] | None = None
        for match_field, key in (("trunk", "trunk"), ("edge_id", "edge_id"), ("provider", "provider"),
                                 ("connection", "connection__name")):
            value = leg.get(key) or ""
            if not value:
                continue
            for candidate in self.mappings.get((match_field, value), ()):
                if candidate[2] and candidate[2] != leg["direction"]:
                    continue
                if best is None or candidate[:2] < best[:2]:
                    best = candidate
        return best[3] if best else self.default_carrier_id

    def card_for(self, carrier_id: int, at: datetime) -> CardVersion | None:
        """The version valid at ``at``: from (inclusive) until its effective_to or the next start."""
        versions = self.cards.get(carrier_id)
        if not versions:
            return None
        index = bisect.bisect_right(self.starts[carrier_id], at) - 1
        if index < 0:
            return None
        card = versions[index]
        if card.effective_to is not None and at >= card.effective_to:
            return None
        return card


def load_context(*, substitute: tuple[int, int] | None = None) -> RatingContext:
    """Everything rating needs but the legs, in four queries.

    ``substitute=(original_id, draft_id)`` prices with a draft correction in place of the
    original version (the re-rate preview) without touching the database.
    """
    carriers = {c.id: c for c in Carrier.objects.all()}
    default_id = next((c.id for c in carriers.values() if c.is_default), None)
    mappings: dict[tuple[str, str], list[tuple[int, int, str, int]]] = defaultdict(list)
    for m in CarrierTrunkMapping.objects.values_list("id", "match_field", "match_value", "direction",
                                                     "carrier_id", "priority"):
        mapping_id, match_field, value, direction, carrier_id, priority = m
        mappings[(match_field, value)].append((priority, mapping_id, direction or "", carrier_id))

    live = [RateCard.Status.ACTIVE, RateCard.Status.RETIRED]
    cards_qs = RateCard.objects.filter(status__in=live)
    if substitute:
        cards_qs = RateCard.objects.filter(pk=substitute[1]) | cards_qs.exclude(pk=substitute[0])
    versions: dict[int, CardVersion] = {}
    increments: dict[int, tuple[int, int]] = {}
    for card in cards_qs:
        increments[card.id] = (card.default_increment_first, card.default_increment_next)
        versions[card.id] = CardVersion(
            id=card.id, carrier_id=card.carrier_id, version=card.version,
            effective_from=card.effective_from, effective_to=card.effective_to,
            currency=card.currency, rounding=card.rounding, seconds_rule=card.seconds_rule,
            money_decimals=card.money_decimals, zone=ZoneInfo(card.timezone or "UTC"),
        )
    for r in Rate.objects.filter(rate_card_id__in=versions).values(
        "id", "rate_card_id", "prefix", "destination", "direction", "rate_per_minute", "connect_fee",
        "min_billable_seconds", "minimum_cost", "increment_first", "increment_next", "band",
        "band_weekdays", "band_start", "band_end",
    ):
        card_id = r["rate_card_id"]
        row = RateRow(
            id=r["id"], prefix=r["prefix"], destination=r["destination"],
            rate_per_minute=r["rate_per_minute"], connect_fee=r["connect_fee"],
            min_billable_seconds=r["min_billable_seconds"], minimum_cost=r["minimum_cost"],
            first=r["increment_first"] or increments[card_id][0],
            next_=r["increment_next"] or increments[card_id][1],
            band=r["band"], weekdays=rating.parse_weekdays(r["band_weekdays"]),
            band_start=r["band_start"], band_end=r["band_end"],
        )
        versions[card_id].rows[r["direction"]].setdefault(r["prefix"], []).append(row)

    cards: dict[int, list[CardVersion]] = defaultdict(list)
    for version in versions.values():
        cards[version.carrier_id].append(version)
    for carrier_versions in cards.values():
        carrier_versions.sort(key=lambda v: v.effective_from)
    starts = {cid: [v.effective_from for v in vs] for cid, vs in cards.items()}
    return RatingContext(carriers, default_id, dict(mappings), dict(cards), starts)


def rating_number(leg: dict[str, Any]) -> str:
    """E.164 digits of the number a leg is rated on: the dialled number, both ways (rating.md §1.2)."""
    if leg.get("dnis_e164"):
        return leg["dnis_e164"].lstrip("+")
    region = leg.get("connection__default_region") or settings.CDRWEB_DEFAULT_REGION
    return numbers.e164_digits(leg.get("dnis") or "", region)


def _unrated(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": "unrated", "reason": reason, "carrier_id": None, "rate_card_id": None,
            "rate_id": None, "matched_prefix": "", "destination": "", "band": "", "talk_seconds": 0,
            "billable_seconds": 0, "exact_cost": Decimal("0"), "cost": Decimal("0"), "currency": "",
            **extra}


def _pick_band(rows: list[RateRow], answered_local: datetime) -> RateRow | None:
    for row in rows:
        if rating.in_band(answered_local, row.weekdays, row.band_start, row.band_end):
            return row
    return None


def rate_leg(leg: dict[str, Any], ctx: RatingContext) -> dict[str, Any]:
    """Price one leg (a dict with :data:`LEG_FIELDS`) into CostRecord field values; no queries."""
    digits = rating_number(leg)
    country, number_type = numbers.classify_fast(digits)
    where = {"country": country, "number_type": number_type}
    if not digits:
        return _unrated(NO_DESTINATION, **where, input_hash=_hash(leg, digits, None, None))
    carrier_id = ctx.carrier_for(leg)
    if carrier_id is None:
        return _unrated(NO_CARRIER, **where, input_hash=_hash(leg, digits, None, None))
    where["carrier_id"] = carrier_id
    # rating.md §7: the version (and the band) is chosen by the answer time; unanswered legs by start.
    at = leg["connected_at"] or leg["started_at"]
    card = ctx.card_for(carrier_id, at)
    if card is None:
        return _unrated(NO_CARD_VERSION, **where, input_hash=_hash(leg, digits, carrier_id, None))
    where.update(rate_card_id=card.id, currency=card.currency)
    by_prefix = card.rows.get(leg["direction"], {})
    prefix = rating.longest_prefix(digits, by_prefix)
    if prefix is None:
        return _unrated(NO_MATCHING_PREFIX, **where, input_hash=_hash(leg, digits, carrier_id, card))
    row = _pick_band(by_prefix[prefix], at.astimezone(card.zone))
    if row is None:
        return _unrated(NO_BAND, **where, matched_prefix=prefix,
                        input_hash=_hash(leg, digits, carrier_id, card))
    answered = leg["connected_at"] is not None
    seconds = rating.whole_seconds(leg["duration_ms"], card.seconds_rule) if answered else 0
    cost = rating.leg_cost(
        seconds=seconds, rate_per_minute=row.rate_per_minute, first=row.first, next_=row.next_,
        connect_fee=row.connect_fee, minimum_cost=row.minimum_cost,
        min_billable_seconds=row.min_billable_seconds, money_decimals=card.money_decimals,
        rounding=card.rounding,
    )
    return {
        **where, "status": "rated", "reason": "", "rate_id": row.id, "matched_prefix": prefix,
        "destination": row.destination, "band": row.band, "talk_seconds": seconds,
        "billable_seconds": cost.billable_seconds,
        "exact_cost": cost.exact.quantize(EXACT_PLACES, rounding=ROUND_HALF_UP), "cost": cost.cost,
        "input_hash": _hash(leg, digits, carrier_id, card, row),
    }


def _hash(leg: dict[str, Any], digits: str, carrier_id: int | None, card: CardVersion | None,
          row: RateRow | None = None) -> str:
    """Hash of everything a result depends on (rating.md §8), so unchanged legs are skipped."""
    parts: Iterable[Any] = (
        ENGINE_VERSION, leg["direction"], digits, leg["started_at"].isoformat(),
        leg["connected_at"].isoformat() if leg["connected_at"] else "", leg["duration_ms"], carrier_id,
        card.settings_key if card else "", row if row else "",
    )
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
