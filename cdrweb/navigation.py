"""The main navigation: one registry, each entry shown only to users holding its permission.

Apps add their pages here; an entry whose URL does not resolve (yet) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.urls import NoReverseMatch, get_script_prefix, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    any_of: tuple[str, ...]  # permissions; the user needs at least one


NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", "home", ()),
    NavItem("Calls", "calls:list", ("extraction.view_callleg",)),
    NavItem("Connections", "extraction:connection-list", ("extraction.view_connection",)),
    NavItem("Extractions", "extraction:run-list", ("extraction.view_extractionrun",)),
    NavItem("Rate cards", "billing:ratecard-list", ("billing.view_ratecard",)),
    NavItem("Carrier CDRs", "reconciliation:upload-list", ("reconciliation.view_carrierupload",)),
    NavItem("Reconciliation", "reconciliation:run-list", ("reconciliation.view_reconciliationrun",)),
    NavItem("Discrepancies", "reconciliation:discrepancy-list", ("reconciliation.view_discrepancy",)),
    NavItem("SQL console", "console:index", ("cdrweb.use_sql_console",)),
    NavItem("Forecast", "forecast:index", ("cdrweb.view_dashboard",)),
    NavItem("Audit log", "audit-log", ("cdrweb.view_auditentry",)),
    NavItem("Admin", "admin:index", ("auth.change_user",)),
)


@lru_cache(maxsize=64)
def _url(url_name: str, script_prefix: str) -> str | None:
    """The entry's URL (None when it does not resolve), once per process and script prefix (the
    prefix is part of the key only: ``reverse`` reads the current one itself)."""
    try:
        return reverse(url_name)
    except NoReverseMatch:
        return None


def links_for(request) -> list[dict]:
    user = request.user
    prefix = get_script_prefix()
    out = []
    for item in NAV:
        if item.any_of and not any(user.has_perm(p) for p in item.any_of):
            continue
        url = _url(item.url_name, prefix)
        if url is None:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        out.append({"label": item.label, "url": url, "active": active})
    return out
