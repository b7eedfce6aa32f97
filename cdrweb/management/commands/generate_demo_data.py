"""Generate demo data deterministically through the real pipeline (also used by the benchmarks).

    python manage.py generate_demo_data --days 60 --calls-per-day 120 --seed 42
Extracts from the local Genesys sandbox over HTTP, imports two carriers' rate cards, rates, writes
one carrier CSV per carrier with known injected discrepancies, imports and reconciles them.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cdrweb import demo


class Command(BaseCommand):
    help = "Generate deterministic demo traffic, carrier files and reconciliations."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=demo.DEFAULT_DAYS)
        parser.add_argument("--calls-per-day", type=int, default=demo.DEFAULT_CALLS_PER_DAY)
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
        parser.add_argument("--port", type=int, default=None, help="sandbox port (default 8765; 0 = any free)")
        parser.add_argument("--out-dir", default="", help="where to write the carrier CSV files")

    def handle(self, *args, days, calls_per_day, seed, port, out_dir, **options):
        if days < 1 or calls_per_day < 1:
            raise CommandError("--days and --calls-per-day must be at least 1")
        started = time.monotonic()
        summary = demo.generate_demo_data(
            days=days, calls_per_day=calls_per_day, seed=seed, out=self.stdout.write, port=port,
            workdir=Path(out_dir) if out_dir else None,
        )
        if summary.skipped:
            return
        self.stdout.write(
            f"generated {summary.conversations} conversations, {summary.legs} legs in "
            f"{time.monotonic() - started:.1f} s; files: {summary.files}"
        )
