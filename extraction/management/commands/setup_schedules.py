"""Create or update every django-q2 schedule: extraction (sweeper, incremental runs per active
connection) and the billing, reconciliation and forecast sweepers. Run by `make run`."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from cdrweb import schedules


class Command(BaseCommand):
    help = "Create/update django-q2 schedules (extraction runs and every sweeper)."

    def handle(self, *args, **options) -> None:
        count = schedules.setup_all()
        self.stdout.write(f"{count} schedules in place")
