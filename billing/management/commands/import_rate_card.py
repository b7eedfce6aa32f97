"""Import a carrier's rate card CSV as a new version (creating the carrier if new)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing import services
from billing.csv_io import parse_increment
from billing.management.commands._when import parse_instant


class Command(BaseCommand):
    help = "Import a rate card CSV (header: billing/README.md); every row error is reported by line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")
        parser.add_argument("--carrier", required=True)
        parser.add_argument("--currency", required=True)
        parser.add_argument("--effective-from", required=True, dest="effective_from")
        parser.add_argument("--increment", default=None, help="card default first/next, e.g. 60/6")
        parser.add_argument("--default", action="store_true", help="carrier for legs no trunk mapping claims")
        parser.add_argument("--dry-run", action="store_true", dest="dry_run")

    def handle(self, *args, **opts) -> None:
        path = Path(opts["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        increment = None
        if opts["increment"]:
            try:
                increment = parse_increment(opts["increment"])
            except ValueError as exc:
                raise CommandError(f"--increment: {exc}") from None
        result = services.import_rate_card(
            actor="command:import_rate_card", data=data, carrier_name=opts["carrier"].strip(),
            currency=opts["currency"], effective_from=parse_instant(opts["effective_from"], "--effective-from"),
            increment=increment, make_default=opts["default"], dry_run=opts["dry_run"], run_inline=True,
        )
        if result.errors:
            for error in result.errors:
                self.stderr.write(f"{path.name}: {error}")
            raise CommandError(f"{len(result.errors)} error(s) in {path.name}; nothing was imported")
        if result.dry_run:
            self.stdout.write(f"Dry run: {len(result.rows)} rates in {path.name} are valid; nothing written")
            return
        run = result.run
        rerated = f"; re-rated {run.processed_legs} legs ({run.changed_legs} changed)" if run else ""
        self.stdout.write(
            f"Imported {len(result.rows)} rates as {result.card} from "
            f"{result.card.effective_from:%Y-%m-%d %H:%M} UTC"
            f"{' (new carrier)' if result.carrier_created else ''}{rerated}"
        )
