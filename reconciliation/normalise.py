"""Vectorised validation and normalisation of one chunk of carrier rows (pandas, no ORM).

Empty is never zero: an empty duration or charge stays null. Every value that cannot be read
becomes a row error (line, column, reason); such a row is not imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from billing.numbers import e164_digits
from cdrweb.collector import collector_paused
from reconciliation.callid import canonical_call_id
from reconciliation.presets import COLUMN_KEYS, OPTION_KEYS
from reconciliation.reader import RowError

# Bounds of what can be stored: numeric(18,6) charges, numeric(14,8) rates; no call lasts a week.
MAX_CHARGE = 10**12
MAX_RATE = 10**6
MAX_DURATION_MS = 7 * 24 * 3600 * 1000
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_HMS = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d(?:\.\d+)?)$")
_HAS_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_INBOUND = {"in", "i", "inbound", "incoming", "inc", "terminated", "originating", "trunking-originating"}
_OUTBOUND = {"out", "o", "outbound", "outgoing", "out-going", "originated", "terminating",
             "trunking-terminating", "outbound-api", "outbound-dial"}
LIMITS = {"call_id": 255, "record_id": 128, "from": 255, "to": 255, "direction": 32, "currency": 3}


@dataclass(frozen=True)
class Context:
    default_region: str
    carrier_currency: str
    timezone_override: str = ""


def missing_columns(header: list[str], mapping: dict[str, Any]) -> list[str]:
    """Problems for mapped columns the header lacks (checked before any row is read)."""
    keys = [*COLUMN_KEYS, *[k for k in OPTION_KEYS if k not in ("negative_charges",)]]
    problems = []
    for key in keys:
        column = mapping.get(key)
        if column and column not in header:
            problems.append(f"column {column!r} (mapped to {key}) is not in the file header")
    currency = mapping.get("currency", "")
    if currency and not currency.startswith("=") and currency not in header:
        problems.append(f"column {currency!r} (mapped to currency) is not in the file header")
    return problems


def normalise_chunk(
    header: list[str], rows: list[list[str]], lines: list[int], mapping: dict[str, Any], ctx: Context,
    texts: list[str],
) -> tuple[pd.DataFrame, list[RowError]]:
    """Return the good rows normalised (one column per CarrierCdr field) and the row errors.

    ``texts`` holds each record as written in the file; it is stored as the row's evidence.
    """
    with collector_paused():
        return _normalise(header, rows, lines, mapping, ctx, texts)


def _normalise(
    header: list[str], rows: list[list[str]], lines: list[int], mapping: dict[str, Any], ctx: Context,
    texts: list[str],
) -> tuple[pd.DataFrame, list[RowError]]:
    index = pd.Index(lines, name="line")
    # One 2-D object block (built in C), read column by column below.
    table = pd.DataFrame(rows, columns=_unique(header), dtype=object).to_numpy() if rows else None

    def column(i: int) -> list[str]:
        return table[:, i].tolist() if table is not None else []
    out = pd.DataFrame(index=index)
    errors: list[pd.DataFrame] = []

    columns: dict[str, pd.Series] = {}
    unique_header = _unique(header)

    def col(key: str) -> pd.Series:
        name = mapping.get(key)
        if not name:
            return pd.Series("", index=index, dtype=str)
        if name not in columns:  # each file column is stripped once, however many keys map to it
            # map(str.strip) runs in C; pandas' .str.strip adds a per-cell Python wrapper.
            values = column(header.index(name))
            columns[name] = pd.Series(list(map(str.strip, values)), index=index, dtype=object)
        return columns[name]

    def fail(mask: pd.Series, key: str, reason: str | Callable[[], pd.Series]) -> None:
        if mask.any():
            column = mapping.get(key, key)
            if callable(reason):  # per-row reasons are built only when some row failed
                reason = reason()
            bad = pd.DataFrame({"column": column, "reason": reason}, index=index)[mask]
            errors.append(bad)

    # A NUL character cannot be stored (PostgreSQL text refuses it): a row error, never stripped.
    # One C-level join of the record texts finds the rare chunk that has one at all.
    for i, name in enumerate(unique_header if "\x00" in "".join(texts) else ()):
        values = column(i)
        if "\x00" in "".join(values):
            has_nul = pd.Series(["\x00" in v for v in values], index=index, dtype=bool)
            errors.append(pd.DataFrame({"column": name, "reason": "contains a NUL character"},
                                       index=index)[has_nul])

    for key, limit in LIMITS.items():
        if mapping.get(key) and not (key == "currency" and mapping[key].startswith("=")):
            values = col(key)
            fail(_lengths(values) > limit, key, f"longer than {limit} characters")

    # Identity ------------------------------------------------------------------------------
    out["raw_call_id"] = _cap(col("call_id"), 512)
    # One pass of plain string methods per row beats a dozen pandas .str passes over object arrays.
    sip = [canonical_call_id(v) for v in out["raw_call_id"].tolist()]
    out["sip_call_id"] = pd.Series(sip, index=index, dtype=object)
    out["sip_call_id_local"] = pd.Series([v.split("@", 1)[0] for v in sip], index=index, dtype=object)
    out["record_id"] = _cap(col("record_id"), 128)

    # Times ---------------------------------------------------------------------------------
    tz = ctx.timezone_override or mapping.get("timezone", "UTC")
    fmt = mapping.get("start_format", "iso")
    start_text = col("start")
    fail(start_text == "", "start", "start time is empty")
    setup, setup_ambiguous = _parse_times(start_text, fmt, tz)
    fail((start_text != "") & setup.isna(), "start", _bad_time_reason(start_text, fmt))
    start = setup
    ambiguous = setup_ambiguous
    answer = pd.Series(pd.NaT, index=index, dtype="datetime64[us, UTC]")
    if mapping.get("answer"):
        answer_text = col("answer")
        if mapping.get("start_utc_reference"):
            # Telnyx: local start/answer plus a UTC start; the per-row offset converts the answer,
            # exact across DST changes (platforms-and-carriers.md §4.2, semantics [A]).
            ref_text = col("start_utc_reference")
            ref, _ = _parse_times(ref_text, fmt, "UTC")
            fail((ref_text != "") & ref.isna(), "start_utc_reference", _bad_time_reason(ref_text, fmt))
            local_start = _naive(start_text, fmt)
            local_answer = _naive(answer_text, fmt)
            offset = local_start - ref.dt.tz_localize(None)
            answer = (local_answer - offset).dt.tz_localize("UTC")
            # A row without its UTC column falls back to the report zone, like any local time.
            zoned_answer, _ = _parse_times(answer_text, fmt, tz)
            answer = answer.where(ref.notna(), zoned_answer)
            start = ref.where(ref.notna(), setup)
            ambiguous = setup_ambiguous.where(ref.isna(), False)
        else:
            answer, answer_ambiguous = _parse_times(answer_text, fmt, tz)
            ambiguous = ambiguous.where(answer.isna(), answer_ambiguous)
        fail((answer_text != "") & answer.isna(), "answer", _bad_time_reason(answer_text, fmt))
        start = answer.where(answer.notna(), start)
    # Whatever the mapping, a row must end with a start instant; never let NaT reach the database.
    fail((start_text != "") & setup.notna() & start.isna(), "start", "no usable start time")
    out["start_utc"] = start
    out["start_original"] = _cap(start_text, 64)
    out["start_ambiguous"] = ambiguous.fillna(False).astype(bool)

    # Durations -----------------------------------------------------------------------------
    unit = mapping.get("duration_unit", "seconds")
    duration_ms = pd.Series(np.nan, index=index)
    if mapping.get("duration"):
        duration_ms = _duration_ms(col("duration"), unit, "duration", fail)
    if mapping.get("end") and mapping.get("answer"):
        end, _ = _parse_times(col("end"), fmt, tz)
        talk = (end - answer).dt.total_seconds() * 1000
        duration_ms = talk.where(talk.notna() & (talk >= 0), duration_ms)
    out["duration_ms"] = duration_ms.round().astype("Int64")
    # Whole seconds truncate milliseconds: the canonical talk seconds of the reference samples
    # (Bandwidth 31 685 ms = 31 s); billing applies its own rounding rule on our side.
    out["duration_seconds"] = (duration_ms // 1000).astype("Int64")
    billed = pd.Series(np.nan, index=index)
    if mapping.get("billed_duration"):
        billed_ms = _duration_ms(col("billed_duration"), unit, "billed_duration", fail)
        billed = -(-billed_ms // 1000)  # a billed fraction of a second is a whole second billed
    out["billed_seconds"] = billed.astype("Int64")

    # Money ---------------------------------------------------------------------------------
    # Money stays the validated decimal text (never a float); the database column is numeric.
    charge_text = col("charge")
    money = _per_distinct(charge_text, lambda u: _money(u, mapping.get("negative_charges", "")))
    fail(money["bad"], "charge", lambda: "not a number: " + charge_text.str.slice(0, 40))
    fail(money["too_large"], "charge", f"amount out of range (at most {MAX_CHARGE:,} per call)")
    out["charge"] = money["charge"]
    out["is_credit"] = money["is_credit"]
    rate_text = col("rate")
    rates = _per_distinct(rate_text, _rate)
    fail(rates["bad"], "rate", lambda: "not a number: " + rate_text.str.slice(0, 40))
    fail(rates["too_large"], "rate", f"rate out of range (at most {MAX_RATE:,} per minute)")
    out["rate_per_minute"] = rates["rate"]
    currency = mapping.get("currency", "")
    if currency.startswith("="):
        out["currency"] = currency[1:].upper()
    else:
        codes = _per_distinct(col("currency"), lambda u: _currency(u, ctx.carrier_currency))
        out["currency"] = codes["currency"]
        fail(codes["bad"], "currency", "not a 3-letter currency code")

    # Numbers and direction -----------------------------------------------------------------
    out["from_raw"] = _cap(col("from"), 255)
    out["to_raw"] = _cap(col("to"), 255)
    out["from_e164"] = _e164(out["from_raw"], ctx.default_region)
    out["to_e164"] = _e164(out["to_raw"], ctx.default_region)
    direction_raw = _cap(col("direction"), 32)
    out["direction_raw"] = direction_raw
    directions = _per_distinct(direction_raw, _directions)
    out["direction"] = directions["direction"]
    out["is_forwarded"] = directions["is_forwarded"]

    out["raw_line"] = pd.Series(texts, index=index, dtype=object)
    if mapping.get("duration"):
        out["duration_blank"] = col("duration") == ""  # for the preview: empty is not zero

    row_errors: list[RowError] = []
    if errors:
        bad = pd.concat(errors)
        row_errors = [RowError(int(line), str(c), str(r)) for line, c, r in bad.itertuples(name=None)]
        out = out[~out.index.isin(bad.index)]
    return out, row_errors


def to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return None
    return Decimal(str(value))


def _unique(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in header:
        n = seen.get(name, 0)
        out.append(name if n == 0 else f"{name}.{n}")
        seen[name] = n + 1
    return out


def _naive(text: pd.Series, fmt: str) -> pd.Series:
    stripped = text.str.replace(_HAS_OFFSET, "", regex=True).str.strip() if fmt == "iso" else text
    if fmt == "iso":
        return pd.to_datetime(stripped, format="ISO8601", errors="coerce")
    return pd.to_datetime(stripped, format=fmt, errors="coerce")


def _parse_times(text: pd.Series, fmt: str, tz: str) -> tuple[pd.Series, pd.Series]:
    """UTC datetimes and a flag for local times in the repeated DST hour (taken as the first one)."""
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    ambiguous = pd.Series(False, index=text.index)
    present = text != ""
    if not present.any():
        return result, ambiguous
    if fmt == "iso" and tz == "UTC":
        # Naive times are UTC here, so they need not be told apart from times with an offset.
        parsed = pd.to_datetime(text if present.all() else text[present], format="ISO8601", utc=True,
                                errors="coerce").astype("datetime64[us, UTC]")
        if present.all():
            return parsed, ambiguous
        result[present] = parsed
        return result, ambiguous
    if fmt == "iso":
        aware = present & _has_offset(text)
        naive = present & ~aware
        if aware.any():
            result[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        if naive.any():
            parsed = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            local, amb = _localise(parsed, tz)
            result[naive] = local
            ambiguous[naive] = amb
        return result, ambiguous
    if "%z" in fmt or "%Z" in fmt:
        result[present] = pd.to_datetime(text[present], format=fmt, utc=True, errors="coerce")
        return result, ambiguous
    parsed = pd.to_datetime(text[present], format=fmt, errors="coerce")
    local, amb = _localise(parsed, tz)
    result[present] = local
    ambiguous[present] = amb
    return result, ambiguous


def _localise(parsed: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    parsed = parsed.astype("datetime64[us]")
    if tz == "UTC":
        return parsed.dt.tz_localize("UTC"), pd.Series(False, index=parsed.index)
    # In the repeated hour when summer time ends we take the first (summer-time) instant and flag
    # the row; a Call-ID match does not depend on it, and fuzzy matching widens its window.
    strict = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    first = parsed.dt.tz_localize(tz, ambiguous=np.ones(len(parsed), dtype=bool), nonexistent="shift_forward")
    amb = strict.isna() & parsed.notna()
    return first.dt.tz_convert("UTC"), amb


def _bad_time_reason(text: pd.Series, fmt: str) -> Callable[[], pd.Series]:
    expected = "an ISO 8601 time" if fmt == "iso" else f"format {fmt}"
    return lambda: "not a valid time (expected " + expected + "): " + text.str.slice(0, 40)


def _per_distinct(values: pd.Series, compute: Callable[[pd.Series], pd.DataFrame]) -> pd.DataFrame:
    """``compute`` run once per distinct value, then spread back to every row (same index).

    Carrier columns repeat a lot (currency, direction, rates, charges, durations), so the string
    work runs on a few thousand values instead of on every row.
    """
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), sort=False)
    result = compute(pd.Series(uniques, dtype=object))
    spread = result.iloc[codes]  # no code is -1: every value is a string, never NaN
    spread.index = values.index
    return spread


def _matches(values: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    return pd.Series([pattern.match(v) is not None for v in values.tolist()], index=values.index, dtype=bool)


def _has_offset(values: pd.Series) -> pd.Series:
    return pd.Series([_HAS_OFFSET.search(v) is not None for v in values.tolist()], index=values.index, dtype=bool)


def _money(text: pd.Series, negative_charges: str) -> pd.DataFrame:
    """Distinct charge texts -> validity, the charge as we store it (cost ≥ 0) and the credit flag."""
    present = text != ""
    negative = pd.Series([v.startswith("-") for v in text.tolist()], index=text.index, dtype=bool)
    positive = pd.Series([v.lstrip("+-") for v in text.tolist()], index=text.index, dtype=object)
    nonzero = pd.Series([v.strip("0.") != "" for v in positive.tolist()], index=text.index, dtype=bool)
    if negative_charges == "charge":
        # Twilio writes charges negative [C]; a positive price is money back to us.
        charge = positive.where(negative, "-" + positive)
        is_credit = ~negative & present & nonzero
    else:
        charge = text
        is_credit = negative & nonzero
    charge = pd.Series([v[2:] if v.startswith("--") else v for v in charge.where(present, "").tolist()],
                       index=text.index, dtype=object)
    bad = present & ~_matches(text, _NUMBER)
    return pd.DataFrame({"bad": bad, "too_large": _too_large(text, ~bad & present, MAX_CHARGE),
                         "charge": charge, "is_credit": is_credit})


def _rate(text: pd.Series) -> pd.DataFrame:
    present = text != ""
    good = present & _matches(text, _NUMBER)
    too_large = _too_large(text, good, MAX_RATE)
    return pd.DataFrame({
        "rate": [v.lstrip("+-") if ok and not big else "" for v, ok, big in zip(text, good, too_large, strict=True)],
        "bad": present & ~good,
        "too_large": too_large,
    }, index=text.index)


def _too_large(text: pd.Series, numeric: pd.Series, limit: int) -> pd.Series:
    """Numbers whose magnitude does not fit the money columns (checked exactly, in Decimal)."""
    return pd.Series([bool(ok) and abs(Decimal(v)) >= limit for v, ok in zip(text, numeric, strict=True)],
                     index=text.index, dtype=bool)


def _currency(text: pd.Series, default: str) -> pd.DataFrame:
    codes = pd.Series([v.upper() or default for v in text.tolist()], index=text.index, dtype=object)
    return pd.DataFrame({"currency": codes, "bad": ~_matches(codes, _CURRENCY)})


def _directions(text: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({
        "direction": [_direction_of(v) for v in text.tolist()],
        "is_forwarded": ["forward" in v.lower() for v in text.tolist()],
    }, index=text.index)


def _numbers(text: pd.Series) -> pd.DataFrame:
    present = text != ""
    bad = present & ~_matches(text, _NUMBER)
    return pd.DataFrame({"bad": bad, "value": pd.to_numeric(text.where(present & ~bad), errors="coerce")})


def _lengths(values: pd.Series) -> np.ndarray:
    return np.fromiter(map(len, values.tolist()), dtype=np.int64, count=len(values))


def _cap(values: pd.Series, limit: int) -> pd.Series:
    """Truncate to the column's width; a no-op (no copy) in the usual case of nothing too long."""
    if not len(values) or _lengths(values).max() <= limit:
        return values
    return values.str.slice(0, limit)


def _duration_ms(text: pd.Series, unit: str, key: str, fail) -> pd.Series:
    present = text != ""
    if unit == "hms":
        parts = text.str.extract(_HMS)
        bad = present & parts[0].isna()
        fail(bad, key, lambda: "not a HH:MM:SS duration: " + text.str.slice(0, 40))
        seconds = parts[0].astype(float) * 3600 + parts[1].astype(float) * 60 + parts[2].astype(float)
        too_long = (seconds * 1000) > MAX_DURATION_MS
        fail(too_long, key, "duration longer than 7 days")
        return (seconds * 1000).where(present & ~bad & ~too_long)
    numbers = _per_distinct(text, _numbers)
    bad = numbers["bad"]
    fail(bad, key, lambda: "not a number: " + text.str.slice(0, 40))
    values = numbers["value"]
    fail(values < 0, key, "negative duration")
    factor = {"seconds": 1000, "milliseconds": 1, "minutes": 60_000}[unit]
    too_long = (values * factor) > MAX_DURATION_MS
    fail(too_long, key, "duration longer than 7 days")
    return (values * factor).where((values >= 0) & ~too_long)


def _direction_of(value: str) -> str:
    text = value.strip().lower()
    if not text:
        return ""
    if text in _INBOUND or text.startswith("inbound"):
        return "inbound"
    if text in _OUTBOUND or text.startswith("outbound"):
        return "outbound"
    return ""  # an unknown value is kept in direction_raw and reported by the preview


_NANP_REGIONS = {"US", "CA", "PR", "VI", "GU", "AS", "MP"}
_E164_FORM = re.compile(r"\+[1-9]\d{6,14}")
# NANP national numbers, with or without the leading 1. phonenumbers' is_possible_number only
# checks the length for country code 1, so any 10 digits starting 2-9 give "+1" + those digits
# (checked against billing.numbers.e164_digits on 40,000 random numbers, exchange 0/1 included).
_NANP_NATIONAL = re.compile(r"1?[2-9]\d{9}")
_NANP_INTERNATIONAL = re.compile(r"011[1-9]\d{6,14}")
_INTERNATIONAL = re.compile(r"00[1-9]\d{6,14}")


def _e164(raw: pd.Series, region: str) -> pd.Series:
    """'+E164' or ''; computed once per distinct value (fast paths first, then phonenumbers).

    Fast paths: values already in E.164, '00'/'011' international prefixes, and for NANP carriers
    10-digit national and 11-digit '1…' numbers (Vonage, Flowroute, wholesale decks). phonenumbers
    costs about a millisecond a call, too slow for a million distinct numbers.
    """
    codes, uniques = pd.factorize(raw, sort=False)
    if not len(uniques):
        return pd.Series("", index=raw.index, dtype=object)
    nanp = (region or "").upper() in _NANP_REGIONS
    mapped = np.array([_e164_one(str(v), region, nanp) for v in uniques], dtype=object)
    return pd.Series(mapped[codes], index=raw.index, dtype=object)


def _e164_one(value: str, region: str, nanp: bool) -> str:
    if not value:
        return ""
    if _E164_FORM.fullmatch(value):
        return value
    if nanp:
        if _NANP_NATIONAL.fullmatch(value):
            return "+1" + value[-10:]
        if _NANP_INTERNATIONAL.fullmatch(value):
            return "+" + value[3:]
    elif _INTERNATIONAL.fullmatch(value):
        return "+" + value[2:]
    digits = e164_digits(value, region)
    return "+" + digits if digits else ""
