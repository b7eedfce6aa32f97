"""Rebuild the dashboard's daily and hourly rollups from every call leg and cost record.

Run it once on a database that has legs from before the rollups existed, and after changing
TIME_ZONE; until then the dashboard aggregates the legs directly (same numbers, slower). Rating and
extraction keep the rollups current afterwards (see cdrweb.rollup).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from cdrweb import rollup


class Command(BaseCommand):
    help = "Rebuild the dashboard rollups (cdrweb.rollup) from the call legs; safe to run at any time."

    def handle(self, *args, **options):
        began = time.monotonic()
        daily, hourly = rollup.rebuild()
        seconds = time.monotonic() - began
        self.stdout.write(f"rollup rebuilt: {daily} daily rows, {hourly} hourly rows in {seconds:.1f} s")
