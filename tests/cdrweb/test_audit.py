import pytest
from django.core.management import call_command
from django.urls import reverse

from cdrweb import audit
from cdrweb.models import AuditEntry


@pytest.mark.django_db
def test_audit_log_is_append_only(admin_user_role):
    entry = audit.record(actor=admin_user_role, action="test.thing", summary="hello")
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().update(action="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "test.thing"


@pytest.mark.django_db
def test_diff_hides_secrets_and_keeps_before_after():
    changes = audit.diff(
        {"name": "a", "client_secret": "s1", "rate": "0.01"}, {"name": "b", "client_secret": "s2", "rate": "0.01"}
    )
    assert changes == {
        "client_secret": {"before": None, "after": "(secret changed)"},
        "name": {"before": "a", "after": "b"},
    }
    entry = audit.record(actor=None, action="x", changes={"api_key": "k-123", "nested": {"password": "p"}})
    assert "k-123" not in str(entry.changes) and entry.changes["nested"]["password"] != "p"


@pytest.mark.django_db
def test_audit_page_filters_and_masks_numbers(client, auditor, admin_user_role):
    audit.record(actor=admin_user_role, action="connection.update", summary="called +14155550188")
    audit.record(actor=auditor, action="pii.reveal", summary="revealed")
    client.force_login(auditor)
    response = client.get(reverse("audit-log"), {"action": "connection.update"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "connection.update" in body and "***0188" in body and "4155550188" not in body
    assert "revealed" not in body


@pytest.mark.django_db
def test_audit_page_forbidden_to_finance_roles(client, viewer, analyst):
    for user in (viewer, analyst):
        client.force_login(user)
        response = client.get(reverse("audit-log"))
        assert response.status_code == 403
        assert b"view_auditentry" in response.content


@pytest.mark.django_db
def test_create_user_command_assigns_role_and_audits(monkeypatch):
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("NEW_PW", "s3cret-Password-1")
    call_command("create_user", "carol", "--role", "analyst", "--password-env", "NEW_PW")
    user = get_user_model().objects.get(username="carol")
    assert user.check_password("s3cret-Password-1")
    assert [g.name for g in user.groups.all()] == ["Finance Analyst"]
    entry = AuditEntry.objects.get(action="user.create")
    assert entry.object_id == str(user.pk) and "s3cret" not in str(entry.changes) + entry.summary
