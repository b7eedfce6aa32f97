"""Export per-leg costs as CSV; phone numbers are masked unless --reveal (which is audited)."""

from __future__ import annotations

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.exports import write_costs_csv
from billing.management.commands._when import parse_instant
from cdrweb import audit
from cdrweb.masking import MASKED, REVEALED


class Command(BaseCommand):
    help = "Write one CSV row per leg started in [--start, --end) with its cost (header: billing/README.md)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--start", required=True)
        parser.add_argument("--end", required=True)
        parser.add_argument("--format", default="csv", choices=["csv"])
        parser.add_argument("--out", required=True)
        parser.add_argument("--reveal", action="store_true", help="unmasked numbers (operator with shell access)")

    def handle(self, *args, **opts) -> None:
        start, end = parse_instant(opts["start"], "--start"), parse_instant(opts["end"], "--end")
        if end <= start:
            raise CommandError("--end must be after --start")
        out = Path(opts["out"])
        try:
            handle = out.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror}") from None
        with handle:
            count = write_costs_csv(start=start, end=end, out=handle, masker=REVEALED if opts["reveal"] else MASKED)
        if opts["reveal"]:
            audit.record(
                actor=f"shell:{_operator()}", action="billing.export.reveal",
                summary=f"export_costs --reveal of {count} legs {start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} "
                        f"to {out}",
                reason="operator with shell access",
            )
        self.stdout.write(f"Exported {count} legs to {out}{' (numbers revealed, audited)' if opts['reveal'] else ''}")


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
