"""Load the demo: one user per role, then 60 days of rated, reconciled traffic. Safe to re-run."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from cdrweb import demo


class Command(BaseCommand):
    help = "Create one demo user per role and the demo data set (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--users-only", action="store_true", help="create the demo users and stop")
        parser.add_argument("--days", type=int, default=demo.DEFAULT_DAYS)
        parser.add_argument("--calls-per-day", type=int, default=demo.DEFAULT_CALLS_PER_DAY)
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)

    def handle(self, *args, users_only, days, calls_per_day, seed, **options):
        started = time.monotonic()
        self.stdout.write("Demo users (one per role):")
        for user, created in demo.create_demo_users():
            state = "created" if created else "exists"
            self.stdout.write(f"  {user.role:<16} login: {user.username:<8} password: {user.password}  ({state})")
        if users_only:
            return
        summary = demo.generate_demo_data(days=days, calls_per_day=calls_per_day, seed=seed, out=self.stdout.write)
        if not summary.skipped:
            self.stdout.write(f"demo ready in {time.monotonic() - started:.0f} s: {summary.legs} call legs, "
                              f"{summary.rated} rated; injected per carrier: {summary.injected}")
