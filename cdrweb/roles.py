"""The four roles as Django groups, and the permissions each one holds.

Groups are created by a data migration (cdrweb 0002) and their permissions are re-synced after
every ``migrate`` (post_migrate), so permissions added by later apps/migrations are picked up.
Rules, not lists, where a rule is the intent ("read-only everywhere" = every view_* permission).
"""

from __future__ import annotations

from collections.abc import Iterable

ADMINISTRATOR = "Administrator"
FINANCE_ANALYST = "Finance Analyst"
FINANCE_VIEWER = "Finance Viewer"
AUDITOR = "Auditor"
ROLES = (ADMINISTRATOR, FINANCE_ANALYST, FINANCE_VIEWER, AUDITOR)
ROLE_SLUGS = {
    "administrator": ADMINISTRATOR,
    "analyst": FINANCE_ANALYST,
    "viewer": FINANCE_VIEWER,
    "auditor": AUDITOR,
}

PRODUCT_APPS = ("cdrweb", "extraction", "billing", "reconciliation")

# Models finance staff read. Connections (credentials) and the audit log are not among them.
FINANCE_READABLE_MODELS = {
    "extraction": {
        "callleg", "conversation", "participant", "session", "segment", "sessionmetric",
        "wrapupcode", "queue", "extractionrun", "extractionchunk",
    },
    "billing": {"carrier", "ratecard", "rate", "costrecord", "costrecordhistory", "carriertrunkmapping", "ratingrun"},
    "reconciliation": {
        "columnmapping", "carrierupload", "carriercdr", "uploadrowerror", "reconciliationrun",
        "discrepancy", "discrepancynote", "cdrmatch",
    },
}

VIEWER_EXTRA = {"cdrweb.view_dashboard", "cdrweb.export_data"}
ANALYST_EXTRA = {
    "cdrweb.use_sql_console",
    "cdrweb.run_forecast",
    "reconciliation.add_carrierupload",
    "reconciliation.change_carrierupload",
    "reconciliation.add_columnmapping",
    "reconciliation.change_columnmapping",
    "reconciliation.add_reconciliationrun",
    "reconciliation.change_discrepancy",
    "reconciliation.add_discrepancynote",
}
AUDITOR_EXTRA = {
    "cdrweb.view_dashboard",
    "cdrweb.export_data",
    "cdrweb.use_sql_console",
    "cdrweb.reveal_pii",
    "cdrweb.view_auditentry",
    "auth.view_user",
    "auth.view_group",
}


def permissions_for(role: str, available: Iterable[str]) -> set[str]:
    """The ``app_label.codename`` permissions a role holds, out of those that exist."""
    available = set(available)
    ours = {p for p in available if p.split(".", 1)[0] in PRODUCT_APPS}

    def finance_views() -> set[str]:
        out = set()
        for perm in ours:
            app, codename = perm.split(".", 1)
            if codename.startswith("view_") and codename[5:] in FINANCE_READABLE_MODELS.get(app, ()):
                out.add(perm)
        return out

    if role == ADMINISTRATOR:
        return {p for p in available if p.split(".", 1)[0] in (*PRODUCT_APPS, "auth", "django_q")}
    if role == FINANCE_VIEWER:
        return finance_views() | (VIEWER_EXTRA & available)
    if role == FINANCE_ANALYST:
        return finance_views() | ((VIEWER_EXTRA | ANALYST_EXTRA) & available)
    if role == AUDITOR:
        views = {p for p in ours if p.split(".", 1)[1].startswith("view_")}
        return views | (AUDITOR_EXTRA & available)
    raise ValueError(f"unknown role {role!r}")


def sync_role_groups(group_model, permission_model) -> None:
    """Create the role groups if missing and set each one's permissions exactly."""
    perms = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in permission_model.objects.select_related("content_type")
    }
    for role in ROLES:
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = permissions_for(role, perms)
        group.permissions.set([perms[name] for name in wanted])


def role_of(user) -> str | None:
    """The user's role name (first matching group), or None."""
    if not user or not user.is_authenticated:
        return None
    from cdrweb.access import facts_for

    names = set(facts_for(user).groups)
    for role in ROLES:
        if role in names:
            return role
    return ADMINISTRATOR if user.is_superuser else None
