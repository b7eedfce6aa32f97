"""Issue 8: Engage Voice and Voiso legs carry no SIP Call-ID, so a carrier's file for them is
reconciled through the fuzzy fallback, beside nothing else changing in reconciliation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from billing import services as billing
from cdrweb import demo
from extraction.platforms.engage.sandbox.connect import connect_to_sandbox
from extraction.platforms.engage.transport import Pacer
from reconciliation import services as recon
from reconciliation.models import CdrMatch, Discrepancy
from tests.billing.factories import CarrierFactory, RateCardFactory, RateFactory

START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("platform", ["engage", "voiso"])
def test_a_carrier_file_for_platform_legs_reconciles_by_the_fuzzy_fallback(
    engage_sandbox, voiso_sandbox, tmp_path, platform
):
    Pacer.forget()
    if platform == "engage":
        connection = connect_to_sandbox(
            name="Engage sandbox", platform="engage", base_url=engage_sandbox.base_url, client_id="sandbox-client",
            secret="sandbox-secret", api_token="sandbox-jwt", actor="test",
            options={"rc_account_id": "99990000", "sub_account_id": "99990001", "request_limits": [],
                     "rc_platform_url": engage_sandbox.base_url, "backoff_base": 0.01, "poll_seconds": 0.01})
    else:
        connection = connect_to_sandbox(
            name="Voiso sandbox", platform="voiso", base_url=voiso_sandbox.base_url, client_id="",
            secret="sandbox-voiso-key", actor="test", options={"report_timezone": "UTC", "poll_seconds": 0.01})
    call_command("extract", "--connection", connection.name, "--start", START.isoformat(), "--end",
                 END.isoformat(), "--wait", stdout=StringIO())
    carrier = CarrierFactory(name="Platform carrier", is_default=True)
    card = RateCardFactory(carrier=carrier, default_increment_first=60, default_increment_next=60)
    RateFactory(rate_card=card, prefix="", direction="outbound")
    RateFactory(rate_card=card, prefix="", direction="inbound")
    billing.rate_period(actor="test", start=START, end=END)

    path = tmp_path / "carrier.csv"
    injected = demo.write_carrier_file(carrier_name=carrier.name, edge="", preset="telnyx", path=path,
                                       start=START, end=END, seed=11)
    upload, summary, _ = recon.import_file(path=path, carrier_name=carrier.name, preset="telnyx")
    assert summary.rows_error == 0, upload.error
    run = recon.start_run(carrier=carrier, period_start=START, period_end=END, background=False)
    run = recon.reconcile_run(run_id=run.pk)

    methods = set(CdrMatch.objects.filter(run=run).values_list("method", flat=True))
    assert methods == {"fuzzy"}  # no SIP Call-ID on either platform's legs
    found = Counter(Discrepancy.objects.filter(run=run).values_list("type", flat=True))
    # The injected second rows carry their own record id and no Call-ID: nothing ties them to the first
    # row, so they are flagged as phantoms (whole charge at stake) rather than as double billing.
    assert found["phantom"] + found["double_billed"] == injected["phantom"] + injected["double_billed"]
    assert found["rate_mismatch"] + found["cost_mismatch"] == injected["wrong_rate"]
    assert found["duration_mismatch"] == injected["over_long"]
    assert found["unbilled"] == injected["missing"]
