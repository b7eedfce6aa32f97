import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from cdrweb import masking
from cdrweb.models import AuditEntry


@pytest.mark.django_db
def test_auditor_sees_masked_by_default_and_reveal_needs_a_reason(client, auditor):
    client.force_login(auditor)
    response = client.post(reverse("pii-reveal"), {"next": "/audit/", "reason": ""})
    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()


@pytest.mark.django_db
def test_reveal_is_audited_and_scoped_to_the_page(client, auditor):
    client.force_login(auditor)
    response = client.post(reverse("pii-reveal"), {"next": "/audit/?page=2", "reason": "dispute 42 evidence"})
    assert response.status_code == 302 and response["Location"] == "/audit/?page=2"
    entry = AuditEntry.objects.get(action="pii.reveal")
    assert entry.actor == auditor and entry.reason == "dispute 42 evidence" and "/audit/" in entry.summary
    request = RequestFactory().get("/audit/")
    request.user, request.session = auditor, client.session
    assert masking.masker_for(request).reveal is True
    other = RequestFactory().get("/calls/")
    other.user, other.session = auditor, client.session
    assert masking.masker_for(other).reveal is False


@pytest.mark.django_db
def test_viewer_cannot_reveal(client, viewer):
    client.force_login(viewer)
    response = client.post(reverse("pii-reveal"), {"next": "/", "reason": "curious about it"})
    assert response.status_code == 403
    assert b"reveal_pii" in response.content
    assert not AuditEntry.objects.filter(action="pii.reveal").exists()


@pytest.mark.django_db
def test_reveal_rejects_offsite_next(client, auditor):
    client.force_login(auditor)
    response = client.post(reverse("pii-reveal"), {"next": "//evil.example/", "reason": "whatever reason"})
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_template_tags_mask_by_request(rf, viewer):
    template = Template("{% load pii %}{% phone n %}|{% person p %}|{% email e %}|{% freetext t %}")
    context = Context({"n": "+14155550188", "p": "Jane", "e": "j@example.com", "t": "call me", "pii": masking.MASKED})
    assert template.render(context) == "***0188|REDACTED|***@example.com|REDACTED"
    context["pii"] = masking.REVEALED
    assert template.render(context) == "+14155550188|Jane|j@example.com|call me"
