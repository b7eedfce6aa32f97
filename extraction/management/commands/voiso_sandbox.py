"""Run the Voiso simulator in the foreground, for the demo or manual testing."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from extraction.platforms.engage.sandbox.connect import connect_to_sandbox
from extraction.platforms.sandbox_cli import serve_until_stopped
from extraction.platforms.voiso.sandbox.server import start_sandbox


class Command(BaseCommand):
    help = "Serve a simulated Voiso CDR API (v2 search_token paging, v4 cursor paging) on loopback."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8712)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--records-per-day", type=int, default=60)
        parser.add_argument("--search-cap", type=int, default=10_000, help="records per search (10,000 live)")
        parser.add_argument("--connect", metavar="NAME", default="",
                            help="create/update connection NAME pointing at this simulator")
        parser.add_argument("--faults", default="", help='JSON, e.g. {"rate_limit": 3, "server_error": 1}')

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            faults = json.loads(options["faults"]) if options["faults"] else None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--faults is not JSON: {exc}") from None
        try:
            handle = start_sandbox(options["port"], host=options["host"], faults=faults, seed=options["seed"],
                                   records_per_day=options["records_per_day"], search_cap=options["search_cap"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot start the Voiso sandbox: {exc}") from None
        line = (f"Voiso sandbox on {handle.base_url} (seed {options['seed']}, {options['records_per_day']} "
                f"records/day, search cap {options['search_cap']})")
        if options["connect"]:
            try:
                connection = connect_to_sandbox(
                    name=options["connect"], platform="voiso", base_url=handle.base_url, client_id="",
                    secret=handle.app.api_key, options={"api_version": "v2", "report_timezone": "UTC"},
                    actor="manage.py voiso_sandbox")
            except ValidationError as exc:
                handle.stop()
                raise CommandError("; ".join(exc.messages)) from exc
            line += f"; connection {connection.name} (id {connection.pk}) points at it"
        serve_until_stopped(handle, self.stdout, banner=line + ". Ctrl-C stops it.")
