"""Add (or update) a platform connection. The secret comes from an env var or stdin, never argv."""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from extraction import services
from extraction.models import Connection, Platform


class Command(BaseCommand):
    help = "Add a platform connection (updates it if the name exists). Secret from --client-secret-env or stdin."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--platform", required=True, choices=[p.value for p in Platform])
        parser.add_argument("--name", required=True)
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--region", help="Genesys region domain, e.g. mypurecloud.ie")
        where.add_argument("--base-url", help="explicit API base URL (sandbox, proxy)")
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--client-secret-env", metavar="VAR",
                            help="name of the environment variable holding the secret (else read stdin)")
        parser.add_argument("--default-region", default="US", help="country for national-format numbers")
        parser.add_argument("--api-token-env", metavar="VAR",
                            help="environment variable holding an API token / RingCentral JWT (Engage, Voiso)")
        parser.add_argument("--platform-settings", default="", metavar="JSON",
                            help='platform options, e.g. \'{"sub_account_id": "12345"}\'')

    def handle(self, *args, platform, name, region, base_url, client_id, client_secret_env, default_region,
               api_token_env=None, platform_settings="", **options) -> None:
        extra = self._extra(api_token_env, platform_settings)
        if client_secret_env:
            secret = os.environ.get(client_secret_env, "")
            if not secret:
                raise CommandError(f"Environment variable {client_secret_env} is empty or not set")
        else:
            if sys.stdin.isatty():
                self.stderr.write("Client secret (then Enter): ", ending="")
            secret = sys.stdin.readline().strip()
            if not secret:
                raise CommandError("No client secret on stdin (or use --client-secret-env VAR)")
        existing = Connection.objects.filter(name=name).first()
        data = {"platform": platform, "name": name, "region": region or "", "base_url": base_url or "",
                "client_id": client_id, "client_secret": secret, "default_region": default_region.upper(), **extra}
        try:
            connection = services.save_connection(connection=existing, user="manage.py add_connection", data=data)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        verb = "Updated" if existing else "Added"
        self.stdout.write(f"{verb} connection {connection.name} (id {connection.pk}, {connection.platform}, "
                          f"{connection.base_url or connection.region})")

    def _extra(self, api_token_env: str | None, settings: str) -> dict:
        import json

        extra: dict = {}
        if api_token_env:
            token = os.environ.get(api_token_env, "")
            if not token:
                raise CommandError(f"Environment variable {api_token_env} is empty or not set")
            extra["api_token"] = token
        if settings:
            try:
                value = json.loads(settings)
            except ValueError as exc:
                raise CommandError(f"--platform-settings is not valid JSON: {exc}") from exc
            if not isinstance(value, dict):
                raise CommandError("--platform-settings must be a JSON object")
            extra["settings"] = value
        return extra
