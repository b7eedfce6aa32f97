"""Point a named Connection at a running simulator (the ``--connect`` option of the sandbox commands)."""

from __future__ import annotations

from typing import Any

from cdrweb import audit
from extraction import services
from extraction.models import Connection


def connect_to_sandbox(*, name: str, platform: str, base_url: str, client_id: str, secret: str,
                       options: dict[str, Any], api_token: str = "", actor: str) -> Connection:
    """Create or update the connection through the shared service, then set its platform options.

    Stored tokens are cleared: they belong to the previous simulator process.
    """
    existing = Connection.objects.filter(name=name).first()
    connection = services.save_connection(connection=existing, user=actor, data={
        "platform": platform, "name": name, "region": "", "base_url": base_url, "client_id": client_id,
        "client_secret": secret, "default_region": "US", "is_active": True})
    before = dict(connection.settings or {})
    connection.settings = {**before, **options}
    connection.api_token = api_token
    connection.refresh_token = connection.access_token = ""
    connection.token_expires_at = None
    connection.save(update_fields=["settings", "api_token", "refresh_token", "access_token", "token_expires_at",
                                   "updated_at"])
    audit.record(actor=actor, action="extraction.connection.update", obj=connection,
                 summary=f"Pointed {name} at the {platform} sandbox",
                 changes={"settings": {"before": before, "after": connection.settings}})
    return connection
