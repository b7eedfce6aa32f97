"""Access beyond the URL matrix: real object ids per role, per-user objects, CSRF on every POST,
login throttling, and the production session settings.

The route list is the one tests/cdrweb/test_access_matrix.py enumerates from the URL resolver; here
every ``<int:...>`` is replaced by the id of a real object, so a 403 is proven on data that exists.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import get_resolver, reverse

from billing.models import Carrier, CarrierTrunkMapping, CostRecord, Rate, RateCard, RatingRun
from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.forecast.models import ForecastRun, HandoffTarget
from cdrweb.models import AuditEntry
from extraction.models import CallLeg, Connection, ExtractionRun
from reconciliation.models import (
    CarrierUpload,
    ColumnMapping,
    Discrepancy,
    DiscrepancyNote,
    ReconciliationRun,
)
from tests.cdrweb.test_access_matrix import ALL_VIEWS, OPEN_TO_LOGGED_IN, PUBLIC, _allowed, _concrete, _walk
from tests.hardening import factories, figures

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["administrator", "analyst", "viewer", "auditor", "none"]
# Route name prefix -> the model its <int:pk> addresses (longest prefix wins).
ROUTE_MODELS = {
    "billing:carrier": Carrier, "billing:cost": CostRecord, "billing:mapping": CarrierTrunkMapping,
    "billing:rate-create": RateCard, "billing:rate": Rate, "billing:ratecard": RateCard, "billing:run": RatingRun,
    "calls:detail": CallLeg, "console:export": QueryHistory, "console:poll": QueryHistory,
    "console:saved": SavedQuery, "extraction:connection": Connection, "extraction:run": ExtractionRun,
    "forecast:run": ForecastRun, "forecast:target": HandoffTarget, "reconciliation:discrepancy": Discrepancy,
    "reconciliation:mapping": ColumnMapping, "reconciliation:run": ReconciliationRun,
    "reconciliation:upload": CarrierUpload,
}
ROUTES = {(name or route): route for name, route, _cb in _walk(get_resolver().url_patterns)}


def _model_for(name: str):
    keys = [k for k in ROUTE_MODELS if name.startswith(k)]
    return ROUTE_MODELS[max(keys, key=len)] if keys else None


def _objects(owner) -> None:
    """One of each object the demo does not create, owned by ``owner`` where objects are per user."""
    factories.SavedQueryFactory(owner=owner)
    factories.QueryHistoryFactory(user=owner)
    factories.HandoffTargetFactory()
    factories.ColumnMappingFactory(carrier=Carrier.objects.order_by("pk").first())
    factories.ForecastRunFactory(created_by=owner)


def _real_url(name: str) -> tuple[str, object | None]:
    route = ROUTES[name]
    model = _model_for(name)
    obj = model.objects.order_by("pk").first() if model else None
    if "<int:" in route:
        assert obj is not None, f"no {model} to address {name}"
        route = re.sub(r"<int:\w+>", str(obj.pk), route)
    return _concrete(route), obj


def _state(obj) -> tuple:
    if obj is None:
        return (AuditEntry.objects.count(),)
    fresh = type(obj).objects.filter(pk=obj.pk).first()
    return AuditEntry.objects.count(), fresh and model_to_dict(fresh)


def test_every_id_route_maps_to_a_model():
    unmapped = [name for name, route, _ in ALL_VIEWS if "999999" in route and _model_for(name) is None]
    assert unmapped == [], f"add these routes to ROUTE_MODELS: {unmapped}"


@pytest.mark.slow
def test_real_objects_by_role(demo_world, role_users):
    """With real ids: refused roles get 403 on GET and POST and change nothing; allowed roles never 403/500."""
    _objects(role_users["administrator"])
    client = Client(raise_request_exception=False)
    checked = 0
    failures = []
    for name, _route, callback in ALL_VIEWS:
        if name in PUBLIC:
            continue
        url, obj = _real_url(name)
        for role in ROLES:
            user = role_users[role]
            client.force_login(user)
            allowed = name in OPEN_TO_LOGGED_IN or _allowed(user, callback)
            for method in ("get", "post"):
                if allowed and method == "post":
                    continue  # allowed writes are the feature tests' business
                before = _state(obj)
                status = getattr(client, method)(url).status_code
                checked += 1
                if status >= 500:
                    failures.append(f"{role} {method} {url} -> {status}")
                elif allowed and status == 403:
                    failures.append(f"{role} {method} {url} -> 403 but the role holds the permission")
                elif not allowed and status not in (403, 405):
                    failures.append(f"{role} {method} {url} -> {status}, expected 403")
                if not allowed and _state(obj) != before:
                    failures.append(f"{role} {method} {url} changed data while refused")
            client.logout()
    figures.record("access_objects", requests=checked, routes=len(ALL_VIEWS), roles=len(ROLES))
    assert failures == []


def test_an_analyst_cannot_open_admin_only_objects(demo_world, analyst, client):
    connection = Connection.objects.get()
    client.force_login(analyst)
    for name in ("extraction:connection-edit", "extraction:connection-test"):
        url = reverse(name, args=[connection.pk])
        assert client.get(url).status_code in (403, 405)
        assert client.post(url, {"name": "hijacked", "client_secret": "x"}).status_code == 403
    connection.refresh_from_db()
    assert connection.name != "hijacked"
    card = RateCard.objects.order_by("pk").first()
    assert client.post(reverse("billing:ratecard-activate", args=[card.pk])).status_code == 403


def test_a_viewer_cannot_change_a_discrepancy(demo_world, viewer, analyst, client):
    d = Discrepancy.objects.order_by("pk").first()
    url = reverse("reconciliation:discrepancy-detail", args=[d.pk])
    audit_before = AuditEntry.objects.count()
    client.force_login(viewer)
    assert client.post(url, {"status": "disputed", "note": "viewer was here"}).status_code == 403
    d.refresh_from_db()
    assert d.status != "disputed"
    assert not DiscrepancyNote.objects.filter(text="viewer was here").exists()
    assert AuditEntry.objects.count() == audit_before
    # The same request from an analyst goes through, so the refusal above is about the role.
    client.force_login(analyst)
    assert client.post(url, {"status": "disputed", "note": "analyst note"}).status_code == 302
    d.refresh_from_db()
    assert d.status == "disputed"


def test_console_history_and_saved_queries_are_per_user(demo_world, analyst, auditor, client):
    mine = factories.QueryHistoryFactory(user=auditor)
    saved = factories.SavedQueryFactory(owner=auditor)
    client.force_login(analyst)
    assert client.get(reverse("console:index"), {"h": mine.pk}).status_code == 404
    assert client.get(reverse("console:export", args=[mine.pk])).status_code == 404
    assert client.get(reverse("console:poll", args=[mine.pk])).status_code == 404
    assert client.get(reverse("console:index"), {"saved": saved.pk}).status_code == 404
    client.post(reverse("console:saved-delete", args=[saved.pk]))
    assert SavedQuery.objects.filter(pk=saved.pk).exists()
    assert saved.sql not in client.get(reverse("console:history")).content.decode()


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self.forms.append({"action": a.get("action") or "", "inputs": set()})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].add(a.get("name"))


@pytest.mark.slow
def test_every_post_needs_a_csrf_token(demo_world, admin_user_role):
    """Tokenless POSTs are refused on every route; every POST form on every page carries the token."""
    _objects(admin_user_role)
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(admin_user_role)
    refused, forms_seen, missing = 0, 0, []
    for name, _route, _cb in ALL_VIEWS:
        url, _obj = _real_url(name)
        if name not in PUBLIC or name in ("login", "logout"):
            response = client.post(url, {"status": "x"})
            assert response.status_code in (403, 405), f"tokenless POST {url} -> {response.status_code}"
            if response.status_code == 403:
                assert b"CSRF" in response.content, f"{url}: 403 but not a CSRF refusal"
                refused += 1
        page = client.get(url)
        if "html" in page.get("Content-Type", "") and page.status_code == 200:
            parser = _Forms()
            parser.feed(page.content.decode())
            for form in parser.forms:
                forms_seen += 1
                if "csrfmiddlewaretoken" not in form["inputs"]:
                    missing.append(f"{url} form action={form['action']!r}")
    figures.record("csrf", tokenless_posts_refused=refused, post_forms_checked=forms_seen)
    assert missing == []
    assert refused > 20 and forms_seen > 10


def test_login_is_throttled_by_axes(settings, client, django_user_model):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_user(username="mallory", password="the-right-password-1")
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "mallory", "password": "guess"})
        assert "_auth_user_id" not in client.session
    response = client.post(reverse("login"), {"username": "mallory", "password": "the-right-password-1"})
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in client.session
    from axes.models import AccessAttempt

    assert AccessAttempt.objects.filter(username="mallory", failures_since_start__gte=3).exists()


def test_below_the_limit_the_right_password_still_works(settings, client, django_user_model):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_user(username="trudy", password="the-right-password-2")
    client.post(reverse("login"), {"username": "trudy", "password": "guess"})
    response = client.post(reverse("login"), {"username": "trudy", "password": "the-right-password-2"})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


_PROBE = """
import json, django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
         "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SESSION_COOKIE_AGE", "SESSION_COOKIE_SAMESITE", "SECURE_SSL_REDIRECT",
         "SECURE_HSTS_SECONDS", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS", "AXES_ENABLED"]
print(json.dumps({n: getattr(s, n) for n in names}))
"""


def test_production_session_settings(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "cdrweb.settings",
        "SECRET_KEY": "y" * 30 + "-production-secret-key-with-enough-entropy-0987654321",
        "FIELD_ENCRYPTION_KEYS": "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE=",
        "DEBUG": "false", "SECURE_HTTPS": "true", "ALLOWED_HOSTS": "cdrweb.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "CDRWEB_TESTING": "false",
    }
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    s = json.loads(out.strip().splitlines()[-1])
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SESSION_EXPIRE_AT_BROWSER_CLOSE"] and s["SESSION_COOKIE_AGE"] <= 8 * 3600
    assert s["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    assert s["SECURE_SSL_REDIRECT"] and s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] and s["X_FRAME_OPTIONS"] == "DENY"
    assert s["AXES_ENABLED"] is True
