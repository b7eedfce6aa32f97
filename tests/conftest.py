"""Shared fixtures: one user per role, fast password hashing, tasks run inline."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("CDRWEB_TESTING", "1")

pytest_plugins = ["tests.browser_fixtures"]


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    from django.core.cache import cache

    cache.clear()  # per-process cache: dashboards, permissions, sessions start cold in each test
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CDRWEB_TASKS_INLINE = True
    settings.AXES_ENABLED = False
    settings.MEDIA_ROOT = tmp_path / "media"


def _user_with_role(django_user_model, username: str, role: str | None):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def admin_user_role(db, django_user_model):
    from cdrweb.roles import ADMINISTRATOR

    user = _user_with_role(django_user_model, "alice_admin", ADMINISTRATOR)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def analyst(db, django_user_model):
    from cdrweb.roles import FINANCE_ANALYST

    return _user_with_role(django_user_model, "annie_analyst", FINANCE_ANALYST)


@pytest.fixture
def viewer(db, django_user_model):
    from cdrweb.roles import FINANCE_VIEWER

    return _user_with_role(django_user_model, "victor_viewer", FINANCE_VIEWER)


@pytest.fixture
def auditor(db, django_user_model):
    from cdrweb.roles import AUDITOR

    return _user_with_role(django_user_model, "audrey_auditor", AUDITOR)


@pytest.fixture
def no_role_user(db, django_user_model):
    return _user_with_role(django_user_model, "nobody", None)


@pytest.fixture
def role_users(admin_user_role, analyst, viewer, auditor, no_role_user):
    return {
        "administrator": admin_user_role,
        "analyst": analyst,
        "viewer": viewer,
        "auditor": auditor,
        "none": no_role_user,
    }
