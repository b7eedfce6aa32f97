from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from cdrweb import schedules
from reconciliation.models import ReconciliationRun
from reconciliation.sweeper import resume_stalled_work
from tests.reconciliation.factories import CarrierFactory, utc


@pytest.mark.django_db
def test_setup_all_creates_every_sweeper_once():
    schedules.setup_all()
    schedules.setup_all()
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"extraction-sweeper", "billing-sweeper", "reconciliation-sweeper", "forecast-sweeper",
            "dashboard-warmer"} <= names
    assert Schedule.objects.get(name="dashboard-warmer").minutes == 1
    assert Schedule.objects.filter(name="reconciliation-sweeper").count() == 1


@pytest.mark.django_db
def test_a_run_whose_worker_died_is_picked_up_by_the_sweeper(django_capture_on_commit_callbacks):
    carrier = CarrierFactory()
    run = ReconciliationRun.objects.create(
        carrier=carrier, period_start=utc("2026-11-01T00:00:00Z"), period_end=utc("2026-11-02T00:00:00Z"),
        status=ReconciliationRun.Status.RUNNING, lease_until=timezone.now() - timedelta(minutes=1),
    )
    held = ReconciliationRun.objects.create(
        carrier=carrier, period_start=utc("2026-11-02T00:00:00Z"), period_end=utc("2026-11-03T00:00:00Z"),
        status=ReconciliationRun.Status.RUNNING, lease_until=timezone.now() + timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_stalled_work() == 1
    run.refresh_from_db()
    held.refresh_from_db()
    assert run.status == ReconciliationRun.Status.DONE
    assert held.status == ReconciliationRun.Status.RUNNING


@pytest.mark.django_db
def test_sweep_now_runs_every_sweeper(django_capture_on_commit_callbacks):
    carrier = CarrierFactory()
    run = ReconciliationRun.objects.create(
        carrier=carrier, period_start=utc("2026-11-01T00:00:00Z"), period_end=utc("2026-11-02T00:00:00Z"),
        status=ReconciliationRun.Status.QUEUED,
    )
    with django_capture_on_commit_callbacks(execute=True):
        schedules.sweep_now()
    run.refresh_from_db()
    assert run.status == ReconciliationRun.Status.DONE
