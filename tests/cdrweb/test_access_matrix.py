"""Every URL × every role × GET/POST, enumerated from the URL resolver.

A new page cannot be forgotten: each view must declare its permissions with
cdrweb.decorators.require_perm / require_any_perm (or be listed below as open to every
logged-in user), and each role must get exactly the status its permissions imply.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Views any logged-in user may open (they mask by role themselves).
OPEN_TO_LOGGED_IN = {"home", "pii-hide"}
# Public endpoints.
PUBLIC = {"login", "logout", "healthz"}
ROLES = ["administrator", "analyst", "viewer", "auditor", "none"]


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            if p.app_name == "admin" or ns == "admin":
                continue
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield name, prefix + str(p.pattern), p.callback


def _concrete(route: str) -> str:
    route = re.sub(r"<(?:int:)?[a-z_]+>", "999999", route)
    route = re.sub(r"<slug:[a-z_]+>", "none", route)
    route = re.sub(r"<(?:str|uuid|path):[a-z_]+>", "00000000-0000-0000-0000-000000000000", route)
    return "/" + route.lstrip("^").rstrip("$")


ALL_VIEWS = sorted(
    (name or route, _concrete(route), callback) for name, route, callback in _walk(get_resolver().url_patterns)
)


def test_every_view_declares_its_permissions():
    undeclared = [
        name for name, _, cb in ALL_VIEWS
        if name not in OPEN_TO_LOGGED_IN | PUBLIC and not getattr(cb, "required_permissions", None)
    ]
    assert undeclared == [], f"views without require_perm/require_any_perm: {undeclared}"


def _allowed(user, callback) -> bool:
    perms = getattr(callback, "required_permissions", ())
    if not perms:
        return True
    # require_any_perm sets `any_permission`; require_perm needs all of them.
    if getattr(callback, "any_permission", False):
        return any(user.has_perm(p) for p in perms)
    return all(user.has_perm(p) for p in perms)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("name", "url", "callback"), ALL_VIEWS, ids=[v[0] for v in ALL_VIEWS])
def test_role_matrix(client, role_users, name, url, callback, method):
    if name in PUBLIC:
        return
    response = getattr(client, method)(url)
    if response.status_code != 405:  # a POST-only view refuses GET before asking who you are
        assert response.status_code == 302 and "/login/" in response["Location"], f"anonymous {method} {url}"
    for role in ROLES:
        user = role_users[role]
        client.force_login(user)
        response = getattr(client, method)(url)
        status = response.status_code
        assert status != 500, f"{role} {method} {url} -> 500"
        if name in OPEN_TO_LOGGED_IN or _allowed(user, callback):
            assert status in (200, 204, 302, 400, 404, 405), f"{role} {method} {url} -> {status}"
        elif status != 405:  # wrong method is refused before the permission check
            assert status == 403, f"{role} {method} {url} -> {status}, expected 403"
        client.logout()
