"""Write to the append-only audit log. Secrets never reach it; PII in it is masked on display."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import models

from cdrweb.models import AuditEntry

logger = logging.getLogger(__name__)

SECRET_MARKERS = ("secret", "password", "api_key", "apikey", "token", "private_key")
SECRET_PLACEHOLDER = "(secret changed)"  # noqa: S105 - a marker, not a secret


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return str(value)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Field values of a model instance for a before/after diff (secret fields excluded)."""
    names = fields or [f.attname for f in instance._meta.concrete_fields]
    return {
        name: _jsonable(getattr(instance, name, None)) for name in names if not is_secret_field(name)
    }


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"before": x, "after": y}}`` for the fields that changed; secrets as a marker."""
    changes: dict[str, dict[str, Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if is_secret_field(key):
            changes[key] = {"before": None, "after": SECRET_PLACEHOLDER}
        else:
            changes[key] = {"before": _jsonable(old), "after": _jsonable(new)}
    return changes


def _scrub_secrets(changes: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if is_secret_field(str(key)):
            clean[key] = SECRET_PLACEHOLDER
        elif isinstance(value, Mapping):
            clean[key] = _scrub_secrets(value)
        else:
            clean[key] = _jsonable(value)
    return clean


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    summary: str = "",
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
    request: Any = None,
) -> AuditEntry:
    """Append one audit entry. ``actor`` may be None for system actions (tasks, commands)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    ip = None
    if request is not None:
        ip = request.META.get("REMOTE_ADDR") or None
    entry = AuditEntry.objects.create(
        actor=user,
        actor_name=getattr(user, "username", "") if user else (actor if isinstance(actor, str) else "system"),
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        summary=summary,
        changes=_scrub_secrets(changes or {}),
        reason=reason,
        ip_address=ip,
    )
    logger.info("audit %s by %s on %s:%s", action, entry.actor_name, entry.object_type, entry.object_id)
    return entry
