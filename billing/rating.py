"""Pure rating arithmetic (rating.md §2-§6): whole seconds, increments, minimums, cost. No ORM.

Money is ``Decimal`` end to end; the only rounding is one quantize per leg at the very end (§5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from functools import lru_cache

ZERO = Decimal("0")
SIXTY = Decimal("60")

# Card ``rounding`` values -> decimal rounding modes (rating.md §5).
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "up": ROUND_CEILING,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
}


def whole_seconds(ms: int, rule: str = "ceil") -> int:
    """Talk time in whole seconds (rating.md §2 step A); ceil is our assumed default [A]."""
    ms = max(int(ms), 0)
    if rule == "ceil":
        return -(-ms // 1000)
    if rule == "floor":
        return ms // 1000
    if rule == "half_up":
        return (ms + 500) // 1000
    raise ValueError(f"unknown seconds rule {rule!r}")


def billable_seconds(seconds: int, first: int, next_: int, min_billable_seconds: int = 0) -> int:
    """Billed seconds under a first/next increment rule (rating.md §2 step C, §3.2).

    0 when unanswered or shorter than ``min_billable_seconds`` (free below a threshold);
    at least ``first``; then whole ``next_`` blocks, always rounded up.
    """
    if first < 1 or next_ < 1:
        raise ValueError("increments must be at least 1 second")
    if seconds <= 0 or seconds < min_billable_seconds:
        return 0
    if seconds <= first:
        return first
    return first + (seconds - first + next_ - 1) // next_ * next_


def quantize_money(amount: Decimal, decimals: int, rounding: str = "half_up") -> Decimal:
    """Round a leg's exact cost once, to the card's places and rule (rating.md §5)."""
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUNDING_MODES[rounding])


@dataclass(frozen=True)
class LegCost:
    seconds: int
    billable_seconds: int
    exact: Decimal
    cost: Decimal
    minimum_applied: bool


def leg_cost(
    *,
    seconds: int,
    rate_per_minute: Decimal,
    first: int,
    next_: int,
    connect_fee: Decimal = ZERO,
    minimum_cost: Decimal = ZERO,
    min_billable_seconds: int = 0,
    money_decimals: int = 4,
    rounding: str = "half_up",
) -> LegCost:
    """Exact and rounded cost of one leg from its whole talk seconds (rating.md §4)."""
    for value in (rate_per_minute, connect_fee, minimum_cost):
        if not isinstance(value, Decimal):
            raise TypeError("money must be Decimal, never float")
    billed = billable_seconds(seconds, first, next_, min_billable_seconds)
    if billed == 0:
        # §2 step B: no connect fee and no minimum on an unanswered (or free) leg.
        return LegCost(seconds, 0, ZERO, quantize_money(ZERO, money_decimals, rounding), False)
    exact = connect_fee + rate_per_minute * billed / SIXTY
    minimum_applied = exact < minimum_cost
    if minimum_applied:
        exact = minimum_cost
    return LegCost(seconds, billed, exact, quantize_money(exact, money_decimals, rounding), minimum_applied)


def longest_prefix(digits: str, prefixes: set[str] | dict[str, object]) -> str | None:
    """The longest entry of ``prefixes`` that starts ``digits``; '' is the catch-all (rating.md §1.3)."""
    for length in range(min(len(digits), 16), -1, -1):
        candidate = digits[:length]
        if candidate in prefixes:
            return candidate
    return None


@lru_cache(maxsize=1024)
def parse_weekdays(spec: str) -> frozenset[int]:
    """'0-4' / '5,6' / '0-2,4' -> Monday=0 weekday numbers; empty -> every day."""
    if not spec.strip():
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            if not (0 <= lo <= hi <= 6):
                raise ValueError(f"bad weekday range {part!r}")
            days.update(range(lo, hi + 1))
        else:
            day = int(part)
            if not 0 <= day <= 6:
                raise ValueError(f"bad weekday {part!r}")
            days.add(day)
    return frozenset(days)


def in_band(local: datetime, weekdays: frozenset[int], start: time | None, end: time | None) -> bool:
    """Whether a local wall-clock instant falls in a band: start inclusive, end exclusive (§6).

    A band whose end is before its start wraps midnight; the weekday is the local day of the instant.
    """
    if local.weekday() not in weekdays:
        return False
    if start is None or end is None:
        return True
    clock = local.time().replace(tzinfo=None)
    if start <= end:
        return start <= clock < end
    return clock >= start or clock < end
