"""Issue 5: migration 0002 turns each stored jsonb raw row into the record's text, and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("reconciliation", "0001_initial")]
AFTER = [("reconciliation", "0002_carriercdr_lighter_rows")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_raw_rows_become_record_text_and_back():
    apps = _migrate(BEFORE)
    try:
        Carrier = apps.get_model("billing", "Carrier")
        CarrierUpload = apps.get_model("reconciliation", "CarrierUpload")
        CarrierCdr = apps.get_model("reconciliation", "CarrierCdr")
        carrier = Carrier.objects.create(name="Old rows", currency="USD")
        upload = CarrierUpload.objects.create(
            carrier=carrier, original_name="old.csv", file="old.csv", sha256="0" * 64, status="imported",
            preview={"header": ["Call-ID", "Note", "Amount"], "delimiter": ","},
        )
        raw = {"Call-ID": "a1@h", "Note": 'said "hi", then\nhung up', "Amount": "0.01"}
        cdr = CarrierCdr.objects.create(upload=upload, carrier=carrier, line_number=2,
                                        start_utc=datetime(2026, 11, 3, tzinfo=UTC), raw=raw)

        apps = _migrate(AFTER)
        line = apps.get_model("reconciliation", "CarrierCdr").objects.get(pk=cdr.pk).raw_line
        assert line == 'a1@h,"said ""hi"", then\nhung up",0.01'

        from reconciliation.models import CarrierCdr as Current

        assert Current.objects.get(pk=cdr.pk).raw == raw

        apps = _migrate(BEFORE)
        assert apps.get_model("reconciliation", "CarrierCdr").objects.get(pk=cdr.pk).raw == raw
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
