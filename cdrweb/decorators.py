"""View decorators: every view declares the permission it needs, and a 403 names it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied


def permission_label(perm: str) -> str:
    app_label, codename = perm.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    return f"{found.name} ({perm})" if found else perm


def require_perm(*perms: str) -> Callable:
    """Login required, then every permission in ``perms``; a 403 says which one is missing."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            missing = [p for p in perms if not request.user.has_perm(p)]
            if missing:
                raise PermissionDenied(
                    "You need the permission: " + ", ".join(permission_label(p) for p in missing)
                )
            return view(request, *args, **kwargs)

        wrapper.required_permissions = perms  # read by the role × URL access tests
        return wrapper

    return decorator


def require_any_perm(*perms: str) -> Callable:
    """Login required, then at least one of ``perms``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not any(request.user.has_perm(p) for p in perms):
                raise PermissionDenied(
                    "You need one of the permissions: " + ", ".join(permission_label(p) for p in perms)
                )
            return view(request, *args, **kwargs)

        wrapper.required_permissions = perms
        wrapper.any_permission = True
        return wrapper

    return decorator
