"""Run the RingCX (Engage Voice) simulator in the foreground, for the demo or manual testing."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from extraction.platforms.engage.sandbox.connect import connect_to_sandbox
from extraction.platforms.engage.sandbox.server import start_sandbox
from extraction.platforms.sandbox_cli import serve_until_stopped


class Command(BaseCommand):
    help = "Serve a simulated RingCX API (token exchange, interaction metadata, Call Detail CSV) on loopback."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8711)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--calls-per-day", type=int, default=40)
        parser.add_argument("--no-wem", action="store_true", help="refuse interaction metadata (403)")
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
                                   calls_per_day=options["calls_per_day"], wem_access=not options["no_wem"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot start the RingCX sandbox: {exc}") from None
        app = handle.app
        settings = {"rc_account_id": app.rc_account_id, "sub_account_id": app.sub_account_id,
                    "rc_platform_url": handle.base_url, "report_timezone": "US/Arizona",
                    "use_deprecated_report": options["no_wem"]}
        line = (f"RingCX sandbox on {handle.base_url} (seed {options['seed']}, {options['calls_per_day']} calls/day, "
                f"{'Call Detail Report only' if options['no_wem'] else 'interaction metadata'})")
        if options["connect"]:
            try:
                connection = connect_to_sandbox(
                    name=options["connect"], platform="engage", base_url=handle.base_url, client_id=app.client_id,
                    secret=app.client_secret, api_token=app.jwt, options=settings, actor="manage.py engage_sandbox")
            except ValidationError as exc:
                handle.stop()
                raise CommandError("; ".join(exc.messages)) from exc
            line += f"; connection {connection.name} (id {connection.pk}) points at it"
        serve_until_stopped(handle, self.stdout, banner=line + ". Ctrl-C stops it.")
