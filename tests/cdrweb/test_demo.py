"""The demo data set: built through the real pipeline, every injected discrepancy found."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from billing.models import CostRecord
from cdrweb import demo
from extraction.models import CallLeg
from reconciliation.models import Discrepancy

END = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.django_db
def test_demo_users_one_per_role(django_user_model):
    call_command("load_demo", "--users-only")
    users = {u.username: [g.name for g in u.groups.all()] for u in django_user_model.objects.all()}
    assert users == {"admin": ["Administrator"], "analyst": ["Finance Analyst"],
                     "viewer": ["Finance Viewer"], "auditor": ["Auditor"]}
    call_command("load_demo", "--users-only")  # idempotent
    assert django_user_model.objects.count() == 4


@pytest.mark.django_db
def test_generate_demo_data_finds_every_injected_discrepancy(tmp_path):
    summary = demo.generate_demo_data(days=3, calls_per_day=40, seed=7, end=END, port=0, workdir=tmp_path)
    assert summary.legs == CallLeg.objects.count() > 0
    assert CostRecord.objects.filter(status="rated").count() == summary.rated == summary.legs
    for carrier, injected in summary.injected.items():
        found = summary.discrepancies[carrier]
        assert found.get("phantom", 0) == injected["phantom"]
        assert found.get("double_billed", 0) == injected["double_billed"]
        assert found.get("rate_mismatch", 0) + found.get("cost_mismatch", 0) == injected["wrong_rate"]
        assert found.get("duration_mismatch", 0) == injected["over_long"]
        assert found.get("unbilled", 0) == injected["missing"]
        assert Discrepancy.objects.filter(run_id=summary.run_ids[carrier]).count() == sum(found.values())
    # a second call is a no-op
    assert demo.generate_demo_data(days=3, calls_per_day=40, seed=7, end=END, port=0, workdir=tmp_path).skipped
