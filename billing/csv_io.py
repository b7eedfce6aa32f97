"""Rate card CSV: parse with line-numbered errors (all of them, not just the first) and write.

Header (billing/README.md): prefix,destination,direction,rate_per_minute,connect_fee,
min_billable_seconds,minimum_cost,increment — then optionally band,band_weekdays,band_start,band_end.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation

from billing import rating

REQUIRED_COLUMNS = (
    "prefix", "destination", "direction", "rate_per_minute", "connect_fee", "min_billable_seconds",
    "minimum_cost", "increment",
)
BAND_COLUMNS = ("band", "band_weekdays", "band_start", "band_end")
DIRECTIONS = ("outbound", "inbound")
MAX_RATE = Decimal("999999")  # numeric(14, 8) holds six integer digits


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ParsedRate:
    line: int
    prefix: str
    destination: str
    direction: str
    rate_per_minute: Decimal
    connect_fee: Decimal
    min_billable_seconds: int
    minimum_cost: Decimal
    increment_first: int | None
    increment_next: int | None
    band: str = ""
    band_weekdays: str = ""
    band_start: time | None = None
    band_end: time | None = None


def _money(value: str, column: str, line: int, errors: list[RowError], *, required: bool) -> Decimal:
    text = value.strip()
    if not text:
        if required:
            errors.append(RowError(line, column, "is required"))
        return Decimal("0")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        errors.append(RowError(line, column, f"{text!r} is not a number"))
        return Decimal("0")
    if not amount.is_finite():
        errors.append(RowError(line, column, f"{text!r} is not a number"))
    elif amount < 0:
        errors.append(RowError(line, column, f"{text} is negative"))
    elif amount >= MAX_RATE:
        errors.append(RowError(line, column, f"{text} is too large"))
    elif amount.as_tuple().exponent < -8:  # type: ignore[operator]
        errors.append(RowError(line, column, f"{text} has more than 8 decimal places"))
    return amount if amount.is_finite() else Decimal("0")


def _seconds(value: str, column: str, line: int, errors: list[RowError]) -> int:
    text = value.strip()
    if not text:
        return 0
    if not re.fullmatch(r"\d+", text):
        errors.append(RowError(line, column, f"{text!r} is not a whole number of seconds (>= 0)"))
        return 0
    return int(text)


def parse_increment(text: str) -> tuple[int, int] | None:
    """'60/6' -> (60, 6); raises ValueError when malformed."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"{text!r} is not first/next whole seconds >= 1, e.g. 60/6")
    return int(match.group(1)), int(match.group(2))


def _clock(value: str, column: str, line: int, errors: list[RowError]) -> time | None:
    text = value.strip()
    if not text:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        errors.append(RowError(line, column, f"{text!r} is not a time HH:MM"))
        return None


def parse_rate_card_csv(data: bytes | str) -> tuple[list[ParsedRate], list[RowError]]:
    """Every row of a rate card CSV, and every problem found (line, column, reason)."""
    errors: list[RowError] = []
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return [], [RowError(0, "", f"the file is not UTF-8 text (byte {exc.start})")]
    data = data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [RowError(1, "", "the file is empty; expected the header " + ",".join(REQUIRED_COLUMNS))]
    except csv.Error as exc:
        return [], [RowError(1, "", f"unreadable CSV: {exc}")]
    known = set(REQUIRED_COLUMNS) | set(BAND_COLUMNS)
    for name in header:
        if name not in known:
            errors.append(RowError(1, name, "unknown column"))
    for name in REQUIRED_COLUMNS:
        if name not in header:
            errors.append(RowError(1, name, "missing column"))
    duplicates = {h for h in header if header.count(h) > 1}
    for name in sorted(duplicates):
        errors.append(RowError(1, name, "column appears twice"))
    if errors:
        return [], errors

    rows: list[ParsedRate] = []
    seen: dict[tuple[str, str, str], int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                errors.append(RowError(line, "", f"has {len(values)} fields, the header has {len(header)}"))
                continue
            parsed = _parse_row(dict(zip(header, values, strict=True)), line, errors)
            if parsed is None:
                continue
            key = (parsed.prefix, parsed.direction, parsed.band)
            if key in seen:
                label = parsed.prefix or "(catch-all)"
                errors.append(RowError(line, "prefix", f"duplicate prefix {label} for {parsed.direction}"
                                       f"{' band ' + parsed.band if parsed.band else ''}"
                                       f" (first on line {seen[key]})"))
                continue
            seen[key] = line
            rows.append(parsed)
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "", f"unreadable CSV: {exc}"))
    if not rows and not errors:
        errors.append(RowError(2, "", "the file has a header but no rates"))
    return rows, errors


def _parse_row(row: dict[str, str], line: int, errors: list[RowError]) -> ParsedRate | None:
    before = len(errors)
    prefix = row["prefix"].strip().lstrip("+")
    if prefix and not re.fullmatch(r"\d{1,15}", prefix):
        errors.append(RowError(line, "prefix", f"{row['prefix']!r} is not E.164 digits (up to 15)"))
    direction = row["direction"].strip().lower()
    if direction not in DIRECTIONS:
        errors.append(RowError(line, "direction", f"{row['direction']!r} is not outbound or inbound"))
    rate = _money(row["rate_per_minute"], "rate_per_minute", line, errors, required=True)
    connect_fee = _money(row["connect_fee"], "connect_fee", line, errors, required=False)
    minimum_cost = _money(row["minimum_cost"], "minimum_cost", line, errors, required=False)
    min_seconds = _seconds(row["min_billable_seconds"], "min_billable_seconds", line, errors)
    first = next_ = None
    if row["increment"].strip():
        try:
            first, next_ = parse_increment(row["increment"])  # type: ignore[misc]
        except ValueError as exc:
            errors.append(RowError(line, "increment", str(exc)))
    band = row.get("band", "").strip()
    weekdays = row.get("band_weekdays", "").strip()
    try:
        rating.parse_weekdays(weekdays)
    except ValueError:
        errors.append(RowError(line, "band_weekdays", f"{weekdays!r} is not weekdays like 0-4 or 5,6"))
    start = _clock(row.get("band_start", ""), "band_start", line, errors)
    end = _clock(row.get("band_end", ""), "band_end", line, errors)
    if (start is None) != (end is None):
        errors.append(RowError(line, "band_end", "band_start and band_end go together"))
    if (weekdays or start) and not band:
        errors.append(RowError(line, "band", "a band with weekdays or times needs a name"))
    if len(errors) > before:
        return None
    return ParsedRate(
        line=line, prefix=prefix, destination=row["destination"].strip()[:200], direction=direction,
        rate_per_minute=rate, connect_fee=connect_fee, min_billable_seconds=min_seconds,
        minimum_cost=minimum_cost, increment_first=first, increment_next=next_, band=band,
        band_weekdays=weekdays, band_start=start, band_end=end,
    )


def write_rate_card_csv(rates: Iterable, out: io.TextIOBase) -> int:
    """Write Rate rows in the import format (round-trips through :func:`parse_rate_card_csv`)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*REQUIRED_COLUMNS, *BAND_COLUMNS])
    count = 0
    for r in rates:
        increment = f"{r.increment_first}/{r.increment_next}" if r.increment_first else ""
        writer.writerow([
            r.prefix, r.destination, r.direction, _plain(r.rate_per_minute), _plain(r.connect_fee),
            r.min_billable_seconds, _plain(r.minimum_cost), increment, r.band, r.band_weekdays,
            r.band_start.strftime("%H:%M") if r.band_start else "",
            r.band_end.strftime("%H:%M") if r.band_end else "",
        ])
        count += 1
    return count


def _plain(amount: Decimal) -> str:
    """0.01000000 -> 0.0100 (at least 4 places, no exponent)."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(4, '0')}"
