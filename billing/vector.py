"""Vectorised rating of a batch of legs (pandas/numpy), the same rules as :func:`engine.rate_leg`.

Money stays exact: rates have at most 8 places (numeric(14, 8)), so every amount is an integer
number of 1e-8 units, and ``exact = cf + r·b/60`` becomes ``exact·60e8 = cf_units·60 + r_units·b``,
an int64. Rounding to the card's places and to the stored 12 places is integer division with the
card's rule — no float ever touches money. ``engine.rate_leg`` is the readable reference; the test
suite checks both give identical results.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property

import numpy as np
import pandas as pd
from django.conf import settings

from billing import engine, numbers, rating

UNITS = 10**8  # rate places
SCALE = 60 * UNITS  # exact cost · SCALE is an integer
# rate_units · billed seconds must stay well inside int64 after ·1000 (12-place exact cost).
SAFE_SCALED = 9 * 10**15

RESULT_COLUMNS = (
    "leg_id", "carrier_id", "rate_card_id", "rate_id", "matched_prefix", "destination", "country",
    "number_type", "band", "talk_seconds", "billable_seconds", "exact_units12", "cost_units", "money_decimals",
    "currency", "status", "reason", "input_hash",
)


class Overflow(Exception):
    """A batch whose amounts might overflow int64: the caller prices it with the Decimal engine."""


def _digits(legs: pd.DataFrame) -> pd.Series:
    digits = legs["dnis_e164"].fillna("").astype(str).str.lstrip("+")
    missing = digits == ""
    if missing.any():
        default = settings.CDRWEB_DEFAULT_REGION
        raw = legs.loc[missing, "dnis"].fillna("").astype(str)
        region = legs.loc[missing, "connection__default_region"].fillna("").astype(str).replace("", default)
        pairs = pd.MultiIndex.from_arrays([raw, region]).unique()
        lookup = {(r, g): numbers.e164_digits(r, g) for r, g in pairs}
        digits.loc[missing] = [lookup[(r, g)] for r, g in zip(raw, region, strict=True)]
    return digits


def _carriers(legs: pd.DataFrame, ctx: engine.RatingContext) -> pd.Series:
    """The carrier of each leg: resolved once per distinct (trunk, edge, provider, connection, direction)."""
    keys = ["trunk", "edge_id", "provider", "connection__name", "direction"]
    frame = legs[keys].fillna("").astype(str)
    joined = frame[keys[0]]
    for name in keys[1:]:
        joined = joined + "\x1f" + frame[name]
    codes, uniques = pd.factorize(joined)
    resolved = [ctx.carrier_for(dict(zip(keys, key.split("\x1f"), strict=True))) for key in uniques]
    carrier_of_group = np.array([c if c is not None else -1 for c in resolved], dtype="int64")
    values = carrier_of_group[codes] if len(codes) else np.zeros(0, dtype="int64")
    return pd.Series(values, index=legs.index, dtype="Int64").where(values >= 0)


def _classify(digits: pd.Series) -> tuple[pd.Series, pd.Series]:
    uniques = pd.unique(digits)
    table = [numbers.classify_fast(d) for d in uniques]
    index = pd.Index(uniques).get_indexer(digits)
    countries = np.array([t[0] for t in table], dtype=object)
    kinds = np.array([t[1] for t in table], dtype=object)
    return (pd.Series(countries[index], index=digits.index), pd.Series(kinds[index], index=digits.index))


def rate_frame(legs: pd.DataFrame, ctx: engine.RatingContext) -> pd.DataFrame:
    """Price a batch of legs (columns: engine.LEG_FIELDS) into one result row per leg."""
    n = len(legs)
    out = pd.DataFrame(index=legs.index)
    out["leg_id"] = legs["id"].astype("int64")
    digits = _digits(legs)
    out["country"], out["number_type"] = _classify(digits)
    carrier = _carriers(legs, ctx)
    started = pd.to_datetime(legs["started_at"], utc=True)
    connected = pd.to_datetime(legs["connected_at"], utc=True)
    at = connected.fillna(started)

    status = np.full(n, "rated", dtype=object)
    reason = np.full(n, "", dtype=object)
    no_destination = (digits == "").to_numpy()
    reason[no_destination] = engine.NO_DESTINATION
    no_carrier = ~no_destination & carrier.isna().to_numpy()
    reason[no_carrier] = engine.NO_CARRIER
    carrier = carrier.where(~pd.Series(no_destination, index=legs.index))

    card_id = np.zeros(n, dtype="int64")
    at_ns = at.to_numpy(dtype="datetime64[ns]")
    carrier_values = carrier.to_numpy(dtype="float64", na_value=np.nan)
    for cid, versions in ctx.cards.items():
        mask = carrier_values == cid
        if not mask.any():
            continue
        starts = np.array([np.datetime64(v.effective_from.replace(tzinfo=None), "ns") for v in versions])
        index = np.searchsorted(starts, at_ns[mask], side="right") - 1
        chosen = np.zeros(mask.sum(), dtype="int64")
        for i, version in enumerate(versions):
            hit = index == i
            if version.effective_to is not None:
                hit &= at_ns[mask] < np.datetime64(version.effective_to.replace(tzinfo=None), "ns")
            chosen[hit] = version.id
        card_id[mask] = chosen
    no_card = ~no_destination & ~no_carrier & (card_id == 0)
    reason[no_card] = engine.NO_CARD_VERSION

    versions_by_id = {v.id: v for vs in ctx.cards.values() for v in vs}
    table = ctx.cache.get("row_table")
    if table is None:  # once per run, not per batch: a 20k-prefix card takes a second to index
        table = ctx.cache["row_table"] = _RowTable(versions_by_id)
    leg_row = np.full(n, -1, dtype="int64")
    prefix_out = np.full(n, "", dtype=object)
    directions = legs["direction"].to_numpy(dtype=object)
    digit_values = digits.to_numpy(dtype=object)
    carded = np.flatnonzero(card_id > 0)
    group_keys = pd.DataFrame({"card": card_id[carded], "direction": directions[carded]})
    for (cid, direction), positions in group_keys.groupby(["card", "direction"]).indices.items():
        pos = carded[positions]
        groups = table.match(cid, direction, digit_values[pos])
        missing = groups < 0
        reason[pos[missing]] = engine.NO_MATCHING_PREFIX
        found, found_groups = pos[~missing], groups[~missing]
        prefix_out[found] = table.group_prefix[found_groups]
        simple = table.group_row[found_groups]
        leg_row[found] = simple
        for p, g in zip(found[simple < 0], found_groups[simple < 0], strict=True):
            # banded prefix: the band containing the answer time in the card's zone (rating.md §6)
            local = at.iloc[p].to_pydatetime().astimezone(versions_by_id[cid].zone)
            row = next((r for r in table.group_rows[g]
                        if rating.in_band(local, r.weekdays, r.band_start, r.band_end)), None)
            if row is None:
                reason[p] = engine.NO_BAND
            else:
                leg_row[p] = table.row_index[id(row)]
    status[reason != ""] = "unrated"

    rated = status == "rated"
    pick = np.where(rated, leg_row, 0)
    attrs = table.attributes
    rate_units, fee_units, min_units, free_below, first, nxt, rate_id = (
        np.where(rated, attrs[name][pick], default)
        for name, default in (("rate", 0), ("fee", 0), ("min", 0), ("free", 0), ("first", 1), ("next", 1),
                              ("id", 0))
    )
    destination = np.where(rated, attrs["destination"][pick], "")
    band = np.where(rated, attrs["band"][pick], "")

    # whole seconds by each card's rule (rating.md §2 step A); unanswered legs talk 0 s
    ms = legs["duration_ms"].fillna(0).to_numpy(dtype="int64").clip(min=0)
    card_series = pd.Series(card_id)
    rules = _per_card(card_series, versions_by_id, "seconds_rule", "ceil")
    seconds = np.where(rules == "floor", ms // 1000, np.where(rules == "half_up", (ms + 500) // 1000,
                                                             (ms + 999) // 1000))
    seconds = np.where(connected.isna().to_numpy() | ~rated, 0, seconds)
    # increments (§2 step C) and the free threshold (§3.2)
    over = np.maximum(seconds - first, 0)
    billed = np.where(seconds <= first, first, first + (over + nxt - 1) // nxt * nxt)
    billed = np.where((seconds <= 0) | (seconds < free_below), 0, billed)
    if (rate_units.astype("float64") * billed + fee_units.astype("float64") * 60 > SAFE_SCALED).any():
        raise Overflow
    scaled = fee_units * 60 + rate_units * billed
    scaled = np.where(billed > 0, np.maximum(scaled, min_units * 60), 0)  # §3 minimum cost, answered only

    decimals = card_series.map({c: v.money_decimals for c, v in versions_by_id.items()}).fillna(4).to_numpy(
        dtype="int64")
    divisor = 6 * 10 ** (9 - decimals)
    quotient, remainder = np.divmod(scaled, divisor)
    modes = _per_card(card_series, versions_by_id, "rounding", "half_up")
    cost_units = quotient + np.select(
        [modes == "half_up", modes == "up", modes == "half_even"],
        [2 * remainder >= divisor, remainder > 0,
         (2 * remainder > divisor) | ((2 * remainder == divisor) & (quotient % 2 == 1))],
        default=False,
    ).astype("int64")
    q12, r12 = np.divmod(scaled * 1000, 6)  # exact · 10^12, half up
    exact12 = q12 + (2 * r12 >= 6)

    out["carrier_id"] = carrier.where(~pd.Series(no_destination | no_carrier, index=legs.index))
    out["rate_card_id"] = np.where(card_id > 0, card_id, 0)
    out["rate_id"] = np.where(rated, rate_id, 0)
    out["matched_prefix"] = prefix_out
    out["destination"] = destination
    out["band"] = band
    out["talk_seconds"] = seconds
    out["billable_seconds"] = billed
    out["exact_units12"] = exact12
    out["cost_units"] = cost_units
    out["money_decimals"] = decimals
    out["currency"] = _per_card(card_series, versions_by_id, "currency", "")
    out["status"] = status
    out["reason"] = reason
    hash_inputs = pd.DataFrame({
        "v": engine.ENGINE_VERSION, "direction": directions, "digits": digit_values,
        "started": started.to_numpy(dtype="datetime64[ns]").astype("int64"),
        "connected": connected.to_numpy(dtype="datetime64[ns]").astype("int64"),
        "ms": ms, "carrier": out["carrier_id"].fillna(0).astype("int64").to_numpy(),
        "card": _per_card(card_series, versions_by_id, "settings_key", ""),
        "row": rate_id, "rate": rate_units, "fee": fee_units, "min": min_units, "free": free_below,
        "first": first, "next": nxt, "band": band,
    })
    out["input_hash"] = pd.util.hash_pandas_object(hash_inputs, index=False).map("{:016x}".format).to_numpy()
    return out[list(RESULT_COLUMNS)]


class _RowTable:
    """Every rate row of the cards in play, as arrays, with a vectorised longest-prefix match.

    A "group" is the rows of one (card, direction, prefix): one row, or several time bands.
    """

    def __init__(self, versions: dict[int, engine.CardVersion]) -> None:
        self.rows: list[engine.RateRow] = []
        self.row_index: dict[int, int] = {}
        group_prefix: list[str] = []
        group_row: list[int] = []
        self.group_rows: list[list[engine.RateRow]] = []
        # (card, direction) -> {length: (sorted prefixes as bytes, their group ids)}
        self.by_length: dict[tuple[int, str], dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        for card in versions.values():
            for direction, prefixes in card.rows.items():
                per_length: dict[int, list[tuple[bytes, int]]] = defaultdict(list)
                for prefix, candidates in prefixes.items():
                    group = len(group_prefix)
                    for row in candidates:
                        self.row_index[id(row)] = len(self.rows)
                        self.rows.append(row)
                    simple = len(candidates) == 1 and candidates[0].band_start is None and len(
                        candidates[0].weekdays) == 7
                    group_prefix.append(prefix)
                    group_row.append(self.row_index[id(candidates[0])] if simple else -1)
                    self.group_rows.append(candidates)
                    per_length[len(prefix)].append((prefix.encode(), group))
                self.by_length[(card.id, direction)] = {
                    length: (np.array([p for p, _ in sorted(items)], dtype=f"S{max(length, 1)}"),
                             np.array([g for _, g in sorted(items)], dtype="int64"))
                    for length, items in per_length.items()
                }
        self.group_prefix = np.array(group_prefix, dtype=object)
        self.group_row = np.array(group_row, dtype="int64")

    def match(self, card_id: int, direction: str, digits: np.ndarray) -> np.ndarray:
        """Group id of the longest prefix of each number (rating.md §1.3), -1 when none matches."""
        result = np.full(len(digits), -1, dtype="int64")
        lengths = self.by_length.get((card_id, direction), {})
        if not lengths or not len(digits):
            return result
        width = max(max(lengths), 1)
        packed = np.array([d[:width] for d in digits], dtype=f"S{width}")
        chars = packed.view("S1").reshape(len(packed), width)
        remaining = np.ones(len(digits), dtype=bool)
        for length in sorted(lengths, reverse=True):
            prefixes, groups = lengths[length]
            if length == 0:
                result[remaining] = groups[0]
                break
            candidates = np.ascontiguousarray(chars[:, :length]).view(f"S{length}").ravel()
            at = np.minimum(np.searchsorted(prefixes, candidates), len(prefixes) - 1)
            hit = remaining & (prefixes[at] == candidates)
            result[hit] = groups[at[hit]]
            remaining &= ~hit
            if not remaining.any():
                break
        return result

    @cached_property
    def attributes(self) -> dict[str, np.ndarray]:
        rows = self.rows or [None]
        def column(get, dtype):
            return np.array([get(r) if r is not None else 0 for r in rows], dtype=dtype)
        return {
            "rate": column(lambda r: int(r.rate_per_minute.scaleb(8)), "int64"),
            "fee": column(lambda r: int(r.connect_fee.scaleb(8)), "int64"),
            "min": column(lambda r: int(r.minimum_cost.scaleb(8)), "int64"),
            "free": column(lambda r: r.min_billable_seconds, "int64"),
            "first": column(lambda r: r.first, "int64"),
            "next": column(lambda r: r.next_, "int64"),
            "id": column(lambda r: r.id, "int64"),
            "destination": np.array([r.destination if r is not None else "" for r in rows], dtype=object),
            "band": np.array([r.band if r is not None else "" for r in rows], dtype=object),
        }


def _per_card(card_series: pd.Series, versions_by_id: dict, attribute: str, missing: str) -> np.ndarray:
    """One card attribute per leg; ``missing`` where a leg has no card (object dtype: a string fill
    on an all-missing float column is an error in pandas 4)."""
    values = {card_id: getattr(version, attribute) for card_id, version in versions_by_id.items()}
    return card_series.map(values).astype(object).fillna(missing).to_numpy()
