"""Run the local Genesys sandbox in the foreground (the demo and `make run` point a connection at it)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from extraction.platforms.genesys.sandbox import start_sandbox
from extraction.platforms.sandbox_cli import serve_until_stopped


class Command(BaseCommand):
    help = "Serve a Genesys-compatible API with deterministic synthetic traffic until Ctrl-C/SIGTERM."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--calls-per-day", type=int, default=200)
        parser.add_argument("--faults", default="", help='JSON, e.g. {"rate_limit": 5, "fail_jobs": 1}')
        parser.add_argument("--pending-polls", type=int, default=1)

    def handle(self, *args, host, port, seed, calls_per_day, faults, pending_polls, **options) -> None:
        try:
            fault_map = json.loads(faults) if faults else {}
        except ValueError as exc:
            raise CommandError(f"--faults is not JSON: {exc}") from exc
        try:
            handle = start_sandbox(port=port, host=host, seed=seed, calls_per_day=calls_per_day, faults=fault_map,
                                   pending_polls=pending_polls)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        serve_until_stopped(handle, self.stdout, stopped="Genesys sandbox stopped",
                            banner=f"Genesys sandbox on {handle.base_url} (seed {seed}, {calls_per_day} calls/day)")
