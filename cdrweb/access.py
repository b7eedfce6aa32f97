"""Who may do what, read once per user and kept in the shared cache.

Every page asks several permission questions (the navigation alone asks a dozen) and the role
name; Django's ModelBackend answers them with two queries per request (user permissions, group
permissions) plus one for the groups. ``CachedModelBackend`` answers from one cache read instead.

Freshness: the entries carry a stamp; any change to a group, a permission, a user or their
memberships (saved through the ORM's models and relation managers, as the admin and ``manage.py``
do) replaces the stamp, so every process sees the change on its next request. Entries also expire
after ``SECONDS``, which bounds how long a change made past those can go unseen: raw SQL,
``QuerySet.update()``, or rows written straight into the membership tables (Django sends no
signals for them). Call ``invalidate()`` after such a change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

SECONDS = 300
STAMP_KEY = "access:stamp"


@dataclass(frozen=True)
class AccessFacts:
    permissions: frozenset[str]  # "app_label.codename", groups' included
    groups: tuple[str, ...]


def _user_key(user_id: int) -> str:
    return f"access:user:{user_id}"


def _current_stamp(found: dict) -> str:
    stamp = found.get(STAMP_KEY)
    if stamp is None:
        cache.add(STAMP_KEY, uuid.uuid4().hex, None)
        stamp = cache.get(STAMP_KEY)
    return stamp


def _read_facts(user) -> AccessFacts:
    backend = ModelBackend()
    permissions = {*backend.get_user_permissions(user), *backend.get_group_permissions(user)}
    groups = tuple(user.groups.order_by("name").values_list("name", flat=True))
    return AccessFacts(frozenset(permissions), groups)


def facts_for(user) -> AccessFacts:
    """The permissions and group names of an active, saved user: from the request's user object,
    else the shared cache, else the database (and then cached)."""
    facts = getattr(user, "_access_facts", None)
    if facts is not None:
        return facts
    key = _user_key(user.pk)
    found = cache.get_many([STAMP_KEY, key])
    stamp = _current_stamp(found)
    entry = found.get(key)
    if entry is not None and entry[0] == stamp:
        facts = entry[1]
    else:
        facts = _read_facts(user)
        cache.set(key, (stamp, facts), SECONDS)
    user._access_facts = facts
    return facts


def invalidate() -> None:
    """Make every cached entry stale (on any change to who may do what)."""
    cache.set(STAMP_KEY, uuid.uuid4().hex, None)


class CachedModelBackend(ModelBackend):
    """ModelBackend whose permission checks read ``facts_for`` (same answers, one cache read)."""

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = set(facts_for(user_obj).permissions)
        return user_obj._perm_cache


# --- invalidation (connected in CdrwebConfig.ready) ----------------------------------------------


def _on_change(sender, **kwargs) -> None:
    invalidate()


def _on_user_saved(sender, update_fields=None, **kwargs) -> None:
    # a login only moves last_login: nothing about access changed
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    invalidate()


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.db.models.signals import m2m_changed, post_delete, post_save

    user_model = get_user_model()
    for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(_on_change, sender=through, dispatch_uid=f"access.m2m.{through._meta.label}")
    for model in (Group, Permission, user_model):
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"access.delete.{model._meta.label}")
    for model in (Group, Permission):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"access.save.{model._meta.label}")
    post_save.connect(_on_user_saved, sender=user_model, dispatch_uid="access.save.user")
