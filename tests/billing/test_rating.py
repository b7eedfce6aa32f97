"""billing/rating.py: every worked example and check of rating.md §2, §5, §10, plus §11 properties."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import rating

D = Decimal
RULES = [(1, 1), (6, 6), (30, 6), (60, 6), (60, 60), (45, 30)]


@pytest.mark.parametrize(
    ("talk", "rate", "rule", "fee", "billed", "exact", "cost"),
    [
        (45, "0.0100", (60, 60), "0", 60, "0.0100", "0.0100"),
        (61, "0.0100", (60, 60), "0", 120, "0.0200", "0.0200"),
        (61, "0.0120", (60, 6), "0", 66, "0.0132", "0.0132"),
        (5, "0.0120", (60, 6), "0", 60, "0.0120", "0.0120"),
        (32, "0.0060", (30, 6), "0", 36, "0.0036", "0.0036"),
        (57, "0.0060", (30, 6), "0", 60, "0.0060", "0.0060"),
        (75, "0.0060", (30, 6), "0", 78, "0.0078", "0.0078"),
        (125, "0.0200", (6, 6), "0.0100", 126, "0.0520", "0.0520"),
        (0, "0.0500", (60, 6), "0.0200", 0, "0", "0.0000"),
    ],
    ids=[f"example-{n}" for n in range(1, 10)],
)
def test_worked_examples_of_section_10(talk, rate, rule, fee, billed, exact, cost):
    result = rating.leg_cost(seconds=talk, rate_per_minute=D(rate), first=rule[0], next_=rule[1],
                             connect_fee=D(fee))
    assert result.billable_seconds == billed
    assert result.exact == D(exact)
    assert str(result.cost) == cost


def test_example_10_rounds_half_up_and_up_differently():
    args = {"seconds": 7, "rate_per_minute": D("0.0130"), "first": 1, "next_": 1}
    exact = rating.leg_cost(**args).exact
    assert str(exact).startswith("0.0015166")
    assert str(rating.leg_cost(**args, rounding="half_up").cost) == "0.0015"
    assert str(rating.leg_cost(**args, rounding="up").cost) == "0.0016"
    assert str(rating.leg_cost(**args, rounding="down").cost) == "0.0015"


def test_a_tie_rounds_half_up_away_and_half_even_to_even():
    assert rating.quantize_money(D("0.00125"), 4, "half_up") == D("0.0013")
    assert rating.quantize_money(D("0.00125"), 4, "half_even") == D("0.0012")


def test_minimum_cost_includes_connect_fee_and_only_for_answered_legs():
    result = rating.leg_cost(seconds=10, rate_per_minute=D("0.0060"), first=1, next_=1, minimum_cost=D("0.0050"))
    assert result.exact == D("0.0050") and str(result.cost) == "0.0050" and result.minimum_applied
    unanswered = rating.leg_cost(seconds=0, rate_per_minute=D("0.0060"), first=1, next_=1,
                                 minimum_cost=D("0.0050"), connect_fee=D("0.01"))
    assert unanswered.cost == 0 and unanswered.billable_seconds == 0


def test_cgrates_tutorial_checks_first_group_is_the_minimum():
    # RT_20CNT: 0.4 connect, 0.2 for the first 60 s block; 20 s -> 0.6 (rating.md §10 extra checks)
    assert rating.leg_cost(seconds=20, rate_per_minute=D("0.2"), first=60, next_=60,
                           connect_fee=D("0.4")).exact == D("0.6")
    # 90 s: 0.4 + 0.2 + 30 s at 0.1/min in 1 s steps; tiers are not in v1, so compose by hand
    first_block = rating.leg_cost(seconds=60, rate_per_minute=D("0.2"), first=60, next_=60, connect_fee=D("0.4"))
    tail = D("0.1") * rating.billable_seconds(30, 1, 1) / 60
    assert first_block.exact + tail == D("0.65")


def test_the_cgrates_260_and_ivozprovider_692_figures_come_out_exact():
    assert rating.leg_cost(seconds=30, rate_per_minute=D("0.05"), first=1, next_=1,
                           connect_fee=D("0.15")).exact == D("0.175")
    assert rating.leg_cost(seconds=60, rate_per_minute=D("0.50"), first=1, next_=1).exact == D("0.50")


@pytest.mark.parametrize(
    ("rule", "pairs"),
    [
        ((60, 6), [(1, 60), (60, 60), (61, 66), (66, 66), (67, 72)]),
        ((30, 6), [(29, 30), (30, 30), (31, 36), (57, 60), (75, 78)]),
        ((6, 6), [(1, 6), (125, 126)]),
        ((60, 60), [(45, 60), (61, 120), (241, 300)]),
        ((1, 1), [(107, 107)]),
        ((45, 30), [(50, 75)]),
    ],
)
def test_increment_table_of_section_2(rule, pairs):
    for seconds, billed in pairs:
        assert rating.billable_seconds(seconds, *rule) == billed


@pytest.mark.parametrize(("seconds", "expected"), [(31, (60, 36, 36, 31)), (1, (60, 6, 30, 1))])
def test_carrier_samples_readme_billed_seconds(seconds, expected):
    rules = [(60, 60), (6, 6), (30, 6), (1, 1)]
    assert tuple(rating.billable_seconds(seconds, *r) for r in rules) == expected


def test_whole_seconds_rules_move_money_at_60200_ms():
    assert rating.whole_seconds(60200) == 61
    assert rating.whole_seconds(60200, "floor") == 60
    assert rating.whole_seconds(60500, "half_up") == 61
    ceil = rating.leg_cost(seconds=rating.whole_seconds(60200, "ceil"), rate_per_minute=D("0.0120"), first=60, next_=6)
    floor = rating.leg_cost(seconds=rating.whole_seconds(60200, "floor"), rate_per_minute=D("0.0120"), first=60,
                            next_=6)
    assert (ceil.billable_seconds, ceil.cost, floor.billable_seconds, floor.cost) == (66, D("0.0132"), 60, D("0.0120"))


def test_free_below_threshold_bills_nothing():
    assert rating.billable_seconds(4, 60, 6, min_billable_seconds=5) == 0
    assert rating.billable_seconds(5, 60, 6, min_billable_seconds=5) == 60


def test_float_money_is_refused():
    with pytest.raises(TypeError):
        rating.leg_cost(seconds=10, rate_per_minute=0.01, first=1, next_=1)  # type: ignore[arg-type]


def test_exhaustive_section_2_properties_for_every_rule_up_to_10000_seconds():
    for first, next_ in RULES:
        previous = 0
        for a in range(0, 10_001):
            b = rating.billable_seconds(a, first, next_)
            assert b >= a
            if a > 0:
                assert b - a < max(first, next_)
            if a > first:
                assert (b - first) % next_ == 0
            assert b >= previous
            previous = b
    assert all(rating.billable_seconds(a, 1, 1) == a for a in range(0, 500))


@given(
    a=st.integers(min_value=0, max_value=100_000),
    extra=st.integers(min_value=0, max_value=5_000),
    rule=st.sampled_from(RULES),
    minimum=st.integers(min_value=0, max_value=120),
    rate=st.decimals(min_value=D("0"), max_value=D("5"), places=8, allow_nan=False),
    fee=st.decimals(min_value=D("0"), max_value=D("1"), places=4, allow_nan=False),
    min_cost=st.decimals(min_value=D("0"), max_value=D("1"), places=4, allow_nan=False),
)
def test_billed_never_below_duration_or_minimum_and_cost_is_monotone(a, extra, rule, minimum, rate, fee, min_cost):
    first, next_ = rule
    b = rating.billable_seconds(a, first, next_, minimum)
    if a > 0 and a >= minimum:
        assert b >= a and b >= first
    else:
        assert b == 0
    kwargs = {"rate_per_minute": rate, "first": first, "next_": next_, "connect_fee": fee, "minimum_cost": min_cost,
                  "min_billable_seconds": minimum}
    shorter, longer = rating.leg_cost(seconds=a, **kwargs), rating.leg_cost(seconds=a + extra, **kwargs)
    assert longer.exact >= shorter.exact and longer.cost >= shorter.cost
    assert rating.leg_cost(seconds=0, **kwargs).cost == 0


def test_longest_prefix_wins_never_the_cheapest():
    prefixes = {"1": D("0.0100"), "1212": D("0.0080"), "12125550": D("0.0150")}
    assert rating.longest_prefix("12125550177", prefixes) == "12125550"
    assert rating.longest_prefix("14155550188", prefixes) == "1"
    assert rating.longest_prefix("442079460000", prefixes) is None
    assert rating.longest_prefix("442079460000", {**prefixes, "": D("1")}) == ""


@given(digits=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True), cut=st.integers(1, 6))
def test_adding_a_longer_prefix_changes_the_winner_and_a_shorter_one_never_does(digits, cut):
    prefixes = {digits[:cut]}
    longer = digits[: cut + 1]
    assert rating.longest_prefix(digits, prefixes | {longer}) == longer
    if cut > 1:
        assert rating.longest_prefix(digits, prefixes | {digits[: cut - 1]}) == digits[:cut]


def test_bands_by_local_wall_time_end_exclusive_and_across_dst():
    chicago = ZoneInfo("America/Chicago")
    peak = (rating.parse_weekdays("0-4"), time(8), time(19))
    friday_1859 = datetime(2026, 11, 7, 0, 59, 30, tzinfo=UTC).astimezone(chicago)
    assert rating.in_band(friday_1859, *peak)
    friday_1900 = datetime(2026, 11, 7, 1, 0, tzinfo=UTC).astimezone(chicago)
    assert not rating.in_band(friday_1900, *peak)  # exactly at the band's end -> the next band
    # 2026-11-02 is after the DST change (CST, UTC-6); 14:30Z is 08:30 local, so peak.
    assert rating.in_band(datetime(2026, 11, 2, 14, 30, tzinfo=UTC).astimezone(chicago), *peak)
    # A week earlier (CDT, UTC-5) 12:30Z is 07:30 local: off-peak although 12:30Z+6h would not be.
    assert not rating.in_band(datetime(2026, 10, 26, 12, 30, tzinfo=UTC).astimezone(chicago), *peak)
    night = (rating.parse_weekdays(""), time(19), time(8))
    assert rating.in_band(friday_1900, *night)
