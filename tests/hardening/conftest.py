"""Fixtures for the hardening suite: the demo data set with planted personal values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.hardening.planted import Planted, plant

END = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def demo_world(db, tmp_path):
    """Two days of demo traffic through the real pipeline (sandbox → rating → carrier import → reconcile)."""
    from cdrweb import demo

    return demo.generate_demo_data(days=2, calls_per_day=30, seed=7, end=END, port=0, workdir=tmp_path)


@pytest.fixture
def planted(demo_world, admin_user_role) -> Planted:
    """The demo data with distinctive names, numbers and e-mails written into every PII model."""
    from reconciliation.models import Discrepancy, DiscrepancyNote

    # Notes are only written by reviewers; add one per the first discrepancies so the model has rows.
    for discrepancy in Discrepancy.objects.order_by("pk")[:3]:
        DiscrepancyNote.objects.create(discrepancy=discrepancy, author=admin_user_role, text="placeholder")
    return plant()
