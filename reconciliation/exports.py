"""Discrepancy exports: a streamed CSV with a stable header and an XLSX dispute package.

Both are masked by the caller's :class:`cdrweb.masking.Masker` and guarded against formula
injection: a text cell starting with = + - @ tab or CR gets a leading apostrophe.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from django.utils import timezone
from openpyxl import Workbook

from cdrweb.masking import Masker, PiiKind
from reconciliation import selectors
from reconciliation.models import Discrepancy, DiscrepancyType, ReconciliationRun

CSV_HEADER = [
    "discrepancy_id", "type", "cause", "status", "carrier", "carrier_record_id", "sip_call_id",
    "conversation_id", "match_method", "start_utc", "platform_seconds", "expected_billable_seconds",
    "carrier_billed_seconds", "expected_cost", "carrier_charge", "amount_at_stake", "currency",
]
DETAIL_EXTRA = ["cause_detail", "carrier_file", "carrier_line", "carrier_from", "carrier_to", "carrier_start_original"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text; numbers (Decimal, int) stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def csv_row(d: Discrepancy) -> list[Any]:
    """One discrepancy as the documented CSV columns (raw values, before text conversion)."""
    cdr, leg = d.carrier_cdr, d.leg
    conversation = ""
    if leg is not None:
        conversation = leg.conversation.conversation_id if leg.conversation_id else leg.external_call_id
    sip = (cdr.sip_call_id if cdr is not None and cdr.sip_call_id else (leg.sip_call_id if leg else ""))
    return [
        d.pk, d.type, d.cause, d.status, d.run.carrier.name, cdr.record_id if cdr else "", sip, conversation,
        d.match_method, d.start_utc.strftime("%Y-%m-%dT%H:%M:%SZ") if d.start_utc else "",
        d.platform_seconds, d.expected_billable_seconds, d.carrier_billed_seconds, d.expected_cost,
        d.carrier_charge, d.amount_at_stake, d.currency,
    ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def iter_csv(discrepancies: Iterable[Discrepancy]) -> Iterator[str]:
    """CSV lines, header first; no PII columns in this layout, text cells formula-guarded."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for d in discrepancies:
        yield writer.writerow([safe_cell(_text(v)) if isinstance(v, str) else _text(v) for v in csv_row(d)])


def run_discrepancies(run: ReconciliationRun):
    return selectors.discrepancies_for_review(run_id=run.pk).order_by("type", "-amount_at_stake", "id").iterator(
        chunk_size=2000
    )


def write_csv(run: ReconciliationRun, out: IO[str]) -> int:
    lines = 0
    for line in iter_csv(run_discrepancies(run)):
        out.write(line)
        lines += 1
    return lines - 1  # without the header


def write_xlsx(run: ReconciliationRun, out: IO[bytes] | str, masker: Masker) -> int:
    """The dispute package: a summary sheet and a detail sheet (write-only, streamed rows)."""
    book = Workbook(write_only=True)
    summary = book.create_sheet("Summary")
    carrier = run.carrier
    rows = [
        ["Dispute package", f"{carrier.name}"],
        ["Period (UTC)", f"{run.period_start:%Y-%m-%d %H:%M} to {run.period_end:%Y-%m-%d %H:%M} (end exclusive)"],
        ["Reconciliation run", run.pk],
        ["Generated (UTC)", timezone.now().strftime("%Y-%m-%d %H:%M")],
        ["Carrier rows", run.carrier_rows],
        ["Matched", run.matched],
        ["Match rate %", round(run.match_rate, 2)],
        ["Billed total", run.billed_total],
        ["Expected total", run.expected_total],
        ["Credits already given", run.credits_total],
        ["Currency", carrier.currency],
        [],
        ["Type", "Count", "Amount at stake"],
    ]
    for row in rows:
        summary.append([safe_cell(v) for v in row])
    disputed = Decimal(0)
    for total in selectors.discrepancy_totals(run):
        summary.append([DiscrepancyType(total["type"]).label, total["count"], total["amount"] or Decimal(0)])
        if total["type"] != DiscrepancyType.UNBILLED:
            disputed += total["amount"] or Decimal(0)
    summary.append([])
    summary.append(["Total claimed (excluding unbilled)", None, disputed])

    detail = book.create_sheet("Detail")
    detail.append(CSV_HEADER + DETAIL_EXTRA)
    count = 0
    for d in run_discrepancies(run):
        cdr = d.carrier_cdr
        extra = [
            d.cause_detail,
            cdr.upload.original_name if cdr else "",
            cdr.line_number if cdr else None,
            masker(cdr.from_raw, PiiKind.PHONE) if cdr else "",
            masker(cdr.to_raw, PiiKind.PHONE) if cdr else "",
            cdr.start_original if cdr else "",
        ]
        detail.append([safe_cell(v) for v in csv_row(d) + extra])
        count += 1
    book.save(out)
    return count
