"""Cached permissions (cdrweb.access): the same answers as Django's ModelBackend, one cache read
per request, and any change to who may do what seen on the very next request."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from cdrweb import access, roles

pytestmark = pytest.mark.django_db


def _fresh(user):
    """The user as the next request loads it (no per-object permission cache)."""
    return get_user_model().objects.get(pk=user.pk)


def test_same_permissions_as_the_model_backend(admin_user_role, analyst, viewer, auditor):
    for user in (admin_user_role, analyst, viewer, auditor):
        assert _fresh(user).get_all_permissions() == ModelBackend().get_all_permissions(_fresh(user))


def test_a_second_request_reads_no_permission_rows(viewer, django_assert_num_queries):
    assert _fresh(viewer).has_perm("cdrweb.view_dashboard")
    again = _fresh(viewer)
    with django_assert_num_queries(0):
        assert again.has_perm("cdrweb.view_dashboard")
        assert roles.role_of(again) == roles.FINANCE_VIEWER


def test_joining_and_leaving_a_group_shows_at_once(viewer):
    assert not _fresh(viewer).has_perm("cdrweb.reveal_pii")
    auditors = Group.objects.get(name=roles.AUDITOR)
    viewer.groups.add(auditors)
    assert _fresh(viewer).has_perm("cdrweb.reveal_pii")
    auditors.user_set.remove(viewer)  # the reverse side of the same relation
    assert not _fresh(viewer).has_perm("cdrweb.reveal_pii")


def test_a_permission_taken_from_a_role_shows_at_once(viewer):
    assert _fresh(viewer).has_perm("extraction.view_callleg")
    group = Group.objects.get(name=roles.FINANCE_VIEWER)
    group.permissions.remove(Permission.objects.get(codename="view_callleg", content_type__app_label="extraction"))
    assert not _fresh(viewer).has_perm("extraction.view_callleg")


def test_deactivating_or_promoting_a_user_shows_at_once(viewer):
    viewer.is_superuser = True
    viewer.save()
    assert _fresh(viewer).has_perm("auth.change_user")
    viewer.is_superuser = False
    viewer.is_active = False
    viewer.save()
    assert not _fresh(viewer).has_perm("cdrweb.view_dashboard")


def test_a_login_keeps_the_cached_entries(client, viewer):
    _fresh(viewer).has_perm("cdrweb.view_dashboard")
    stamp = access.cache.get(access.STAMP_KEY)
    client.login(username=viewer.username, password="pw-" + viewer.username)  # saves last_login only
    assert access.cache.get(access.STAMP_KEY) == stamp


def test_a_cleared_cache_reads_the_database_again(viewer):
    assert _fresh(viewer).has_perm("cdrweb.view_dashboard")
    access.cache.clear()
    assert _fresh(viewer).has_perm("cdrweb.view_dashboard")


def test_a_revoked_role_locks_the_pages_on_the_next_request(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("calls:list")).status_code == 200
    viewer.groups.clear()
    assert client.get(reverse("calls:list")).status_code == 403
