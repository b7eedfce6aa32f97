"""Cost export: one CSV row per leg with the documented header; numbers via the masking layer."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from typing import TextIO

from billing.selectors import EXPORT_HEADER, cost_export_rows
from cdrweb.masking import Masker


def write_costs_csv(*, start: datetime, end: datetime, out: TextIO, masker: Masker) -> int:
    """Write legs started in [start, end) with their cost; returns the row count.

    ``cost`` is printed at the card's ``money_decimals`` (the rounded, invoiced amount, rating.md §5);
    legs not rated yet have an empty status. ``from``/``to`` are masked unless the masker reveals.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    count = 0
    for row in cost_export_rows(start=start, end=end).iterator(chunk_size=5000):
        cost = row["cost_record__cost"]
        places = row["cost_record__rate_card__money_decimals"]
        if cost is not None and places is not None:
            cost = format(Decimal(cost).quantize(Decimal(1).scaleb(-places)), "f")
        elif cost is not None:
            cost = format(Decimal(cost).normalize(), "f")
        writer.writerow([
            row["conversation__conversation_id"] or row["external_call_id"], row["leg_id"], row["sip_call_id"],
            row["started_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", row["direction"],
            masker.phone(row["ani_e164"] or row["ani"]), masker.phone(row["dnis_e164"] or row["dnis"]),
            row["cost_record__carrier__name"] or "", _blank(row["cost_record__rate_card__version"]),
            row["cost_record__matched_prefix"] or "", row["cost_record__destination"] or "", row["duration_ms"],
            _blank(row["cost_record__billable_seconds"]), cost if cost is not None else "",
            row["cost_record__currency"] or "", row["cost_record__status"] or "",
            row["cost_record__reason"] or ("not rated yet" if row["cost_record__status"] is None else ""),
        ])
        count += 1
    return count


def _blank(value: object) -> object:
    return "" if value is None else value
