"""Secrets: encrypted at rest in every EncryptedTextField, and never in a page, export, log line,
error report or audit entry, even for the Administrator who set them."""

from __future__ import annotations

import logging
import sys

import pytest
from django.apps import apps
from django.db import connection as db
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.debug import ExceptionReporter

from cdrweb.fields import EncryptedTextField
from cdrweb.models import AuditEntry
from extraction.models import Connection
from tests.hardening import factories, figures
from tests.hardening.crawl import crawl

UI_SECRET = "Sup3r-S3cret-client-value-7f3a9c"


def _secret_fields() -> list[tuple[type, str]]:
    return [(m, f.name) for m in apps.get_models() for f in m._meta.concrete_fields
            if isinstance(f, EncryptedTextField)]


def _raw(model: type, column: str, pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{model._meta.db_table}" WHERE id = %s', [pk])
        return cursor.fetchone()[0] or ""


def _plant_secrets(admin_client: Client) -> dict[str, str]:
    """A connection and a webhook target through their forms, every other secret field through the ORM."""
    response = admin_client.post(reverse("extraction:connection-create"), {
        "platform": "genesys", "name": "Secret test", "region": "", "base_url": "http://127.0.0.1:9",
        "client_id": "cid-secret-test", "client_secret": UI_SECRET, "default_region": "US", "is_active": "on",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    factories.HandoffTargetFactory(secret="hook-S3cret-b41e0d")
    secrets = {"ui": UI_SECRET, "hook": "hook-S3cret-b41e0d"}
    for model, field in _secret_fields():
        obj = model.objects.order_by("pk").first()
        if obj is None:
            continue
        if not getattr(obj, field):
            value = f"{model._meta.model_name}-{field}-S3cret-{obj.pk}x"
            setattr(obj, field, value)
            obj.save(update_fields=[field])
            secrets[f"{model._meta.label}.{field}"] = value
        else:
            secrets[f"{model._meta.label}.{field}"] = getattr(obj, field)
    return secrets


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [k for k, v in secrets.items() if v and v in text]


@pytest.mark.slow
def test_secrets_never_leave_the_database(demo_world, admin_user_role, caplog):
    caplog.set_level(logging.DEBUG)
    client = Client(raise_request_exception=False)
    client.force_login(admin_user_role)
    secrets = _plant_secrets(client)
    assert len(secrets) >= 3

    # Encrypted at rest: the raw column holds a token, never the value.
    raw_checked = 0
    for model, field in _secret_fields():
        for obj in model.objects.exclude(**{field: ""}):
            raw = _raw(model, model._meta.get_field(field).column, obj.pk)
            assert raw and getattr(obj, field) not in raw, f"{model._meta.label}.{field} stored in clear"
            raw_checked += 1

    # Exercise the paths that could echo a secret: editing with a blank secret, and a failing test.
    conn = Connection.objects.get(name="Secret test")
    edit = reverse("extraction:connection-edit", args=[conn.pk])
    form_html = client.get(edit).content.decode()
    assert UI_SECRET not in form_html
    client.post(edit, {"platform": "genesys", "name": "Secret test", "region": "", "base_url": "http://127.0.0.1:9",
                       "client_id": "cid-secret-test", "client_secret": "", "default_region": "US", "is_active": "on"})
    conn.refresh_from_db()
    assert conn.client_secret == UI_SECRET  # blank kept the stored value
    client.post(reverse("extraction:connection-test", args=[conn.pk]))
    conn.refresh_from_db()
    assert UI_SECRET not in (conn.last_error or "")

    # Every page and export the Administrator can reach (the Django admin: see the test below).
    result = crawl(client, ["/"], per_route=2, skip=("/admin/",))
    assert result.errors == []
    page_leaks = {p.url: _leaks(p.text, secrets) for p in result.pages if _leaks(p.text, secrets)}
    assert page_leaks == {}

    # The audit log: only that a secret changed, never its value.
    audit_text = "\n".join(f"{a.summary} {a.changes} {a.reason}" for a in AuditEntry.objects.all())
    assert _leaks(audit_text, secrets) == []
    assert AuditEntry.objects.filter(action__icontains="connection").exists()

    # Logs, as captured.
    log_text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert _leaks(log_text, secrets) == []

    figures.record("secrets", secret_fields=len(_secret_fields()), raw_rows_checked=raw_checked,
                   pages_checked=len(result.pages), audit_entries=AuditEntry.objects.count(),
                   log_records=len(caplog.records))


def test_the_django_admin_never_renders_a_secret(db, admin_user_role):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user_role)
    secrets: dict[str, str] = {}
    for model, field in _secret_fields():
        obj = model.objects.order_by("pk").first()
        if obj is None and model is Connection:
            obj = Connection.objects.create(name="admin secrets", client_id="cid")
        elif obj is None:
            obj = factories.HandoffTargetFactory() if model._meta.model_name == "handofftarget" else None
        if obj is None:
            continue
        value = f"{model._meta.model_name}-{field}-S3cret-admin"
        setattr(obj, field, value)
        obj.save(update_fields=[field])
        secrets[f"{model._meta.label}.{field}"] = value
    result = crawl(client, ["/admin/"], per_route=3)
    assert result.errors == []
    assert {p.url: _leaks(p.text, secrets) for p in result.pages if _leaks(p.text, secrets)} == {}


# The views whose forms carry a secret field (write-only PasswordInput).
SECRET_FORMS = {"extraction:connection-create": "client_secret", "extraction:connection-edit": "client_secret",
                "forecast:target-create": "secret", "forecast:target-edit": "secret"}


def test_an_error_report_never_carries_a_posted_secret(db, admin_user_role):
    from django.urls import resolve

    conn = Connection.objects.create(name="report", client_id="cid", client_secret="stored")
    target = factories.HandoffTargetFactory()
    leaked = []
    for name, field in SECRET_FORMS.items():
        pk = target.pk if name.startswith("forecast") else conn.pk
        url = reverse(name, args=[pk]) if name.endswith("edit") else reverse(name)
        request = RequestFactory().post(url, {field: UI_SECRET, "name": "x"})
        request.user = admin_user_role
        request._dont_enforce_csrf_checks = True
        match = resolve(url)
        try:
            match.func(request, *match.args, **match.kwargs)
            raise RuntimeError("a failure after the view ran")
        except Exception:  # noqa: BLE001 - any server error is reported the same way
            report = ExceptionReporter(request, *sys.exc_info())
            if UI_SECRET in report.get_traceback_text() or UI_SECRET in report.get_traceback_html():
                leaked.append(name)
    assert leaked == []
