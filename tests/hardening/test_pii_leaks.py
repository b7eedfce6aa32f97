"""PII leak scan: crawl every page and export as each role that has not revealed, query the SQL console,
and read the logs; no planted or stored personal value may appear unmasked."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from tests.hardening import figures
from tests.hardening.crawl import crawl, response_text
from tests.hardening.planted import find_leaks

# Every role sees masked values until it reveals: Auditor and Administrator included.
ROLES = ["viewer", "analyst", "administrator", "auditor"]


def _configured_filters() -> list[logging.Filter]:
    return [f for h in logging.getLogger().handlers for f in h.filters]


def _log_text(records: list[logging.LogRecord]) -> str:
    """The log lines as the configured handlers would write them (after their masking filters)."""
    filters = _configured_filters()
    lines = []
    for record in records:
        for f in filters:
            f.filter(record)
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def _console_tables() -> list[str]:
    from cdrweb.console.vtables import virtual_tables

    return sorted(virtual_tables())  # the console's own registry, so a new table is scanned too


def _console_texts(client: Client) -> tuple[list[str], int]:
    """Every console table's rows through the page and the CSV export."""
    from cdrweb.console.models import QueryHistory

    texts = []
    tables = _console_tables()
    for table in tables:
        response = client.post(reverse("console:index"), {"sql": f"SELECT * FROM {table}", "skip_plan": "on"})
        assert response.status_code in (200, 400), f"console {table} -> {response.status_code}"
        texts.append(response_text(response))
        history = QueryHistory.objects.filter(sql=f"SELECT * FROM {table}").order_by("-pk").first()
        if history is not None:
            export = client.get(reverse("console:export", args=[history.pk]))
            if export.status_code == 200:
                texts.append(response_text(export))
    return texts, len(tables)


@pytest.mark.slow
def test_no_personal_value_appears_unmasked_anywhere(planted, role_users, caplog):
    caplog.set_level(logging.DEBUG)
    needles = planted.needles()
    assert planted.models, "no model declares pii_fields"
    assert len(needles) > 50
    leaks: dict[str, list[str]] = {}
    pages_checked = exports_checked = console_tables = 0
    per_role: dict[str, int] = {}
    for role in ROLES:
        client = Client(raise_request_exception=False)
        user = role_users[role]
        client.force_login(user)
        starts = ["/"] + (["/admin/"] if user.is_staff else [])
        result = crawl(client, starts, per_route=2)
        assert result.errors == [], f"{role}: server errors while crawling: {result.errors}"
        per_role[role] = len(result.pages)
        pages_checked += len(result.pages)
        exports_checked += len(result.exports)
        for page in result.pages:
            hits = find_leaks(page.text, needles)
            if hits:
                leaks[f"{role} {page.url}"] = hits
        if user.has_perm("cdrweb.use_sql_console"):
            texts, console_tables = _console_texts(client)
            for i, text in enumerate(texts):
                hits = find_leaks(text, needles)
                if hits:
                    leaks[f"{role} console #{i}"] = hits
    # Setup records too: the demo pipeline (extraction, rating, import, reconciliation) logs there.
    records = caplog.get_records("setup") + caplog.records
    log_hits = find_leaks(_log_text(records), needles)
    if log_hits:
        leaks["logs"] = log_hits
    figures.record(
        "pii_scan", roles=ROLES, pages_per_role=per_role, pages_checked=pages_checked,
        exports_checked=exports_checked, console_tables=console_tables, values_planted=planted.models,
        distinct_values=len(planted.phones) + len(planted.names) + len(planted.emails), needles=len(needles),
        log_records=len(records),
    )
    assert leaks == {}
    # The crawl really reached the data pages and the exports.
    assert all(n >= 10 for n in per_role.values()), per_role
    assert exports_checked >= 4
