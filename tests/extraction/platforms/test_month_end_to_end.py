"""Issue 8's "done when": connect both simulators, extract a month from each, rate the calls."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from billing import services as billing
from billing.models import CostRecord
from extraction.models import CallLeg, Connection, ExtractionRun, RunState
from extraction.platforms.engage.sandbox import generator as engage_generator
from extraction.platforms.engage.sandbox.connect import connect_to_sandbox
from extraction.platforms.engage.transport import Pacer
from extraction.platforms.voiso.sandbox import generator as voiso_generator
from tests.billing.factories import CarrierFactory, RateCardFactory, RateFactory
from tests.extraction.platforms.conftest import ENGAGE_CALLS_PER_DAY, ENGAGE_SEED, VOISO_PER_DAY, VOISO_SEED

OCTOBER, NOVEMBER = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_month_from_each_sandbox_is_extracted_and_rated(engage_sandbox, voiso_sandbox):
    Pacer.forget()
    engage = connect_to_sandbox(
        name="Engage sandbox", platform="engage", base_url=engage_sandbox.base_url, client_id="sandbox-client",
        secret="sandbox-secret", api_token="sandbox-jwt", actor="test",
        options={"rc_account_id": "99990000", "sub_account_id": "99990001", "request_limits": [],
                 "rc_platform_url": engage_sandbox.base_url, "backoff_base": 0.01, "poll_seconds": 0.01})
    voiso = connect_to_sandbox(
        name="Voiso sandbox", platform="voiso", base_url=voiso_sandbox.base_url, client_id="",
        secret="sandbox-voiso-key", actor="test", options={"report_timezone": "UTC", "poll_seconds": 0.01})
    assert Connection.objects.get(pk=engage.pk).api_token == "sandbox-jwt"

    for connection in (engage, voiso):
        out = StringIO()
        call_command("extract", "--connection", connection.name, "--start", "2026-10-01", "--end", "2026-11-01",
                     "--wait", stdout=out)
        run = ExtractionRun.objects.filter(connection=connection).latest("pk")
        assert run.state == RunState.SUCCEEDED, (out.getvalue(), run.error)
        assert run.chunks.count() == 31

    engage_calls = [c for c in engage_generator.calls_between(ENGAGE_SEED, OCTOBER, NOVEMBER, ENGAGE_CALLS_PER_DAY)
                    if OCTOBER <= max(s.end for s in c.segments) < NOVEMBER]
    voiso_records = voiso_generator.voice_records(VOISO_SEED, OCTOBER, NOVEMBER, VOISO_PER_DAY)
    assert CallLeg.objects.filter(connection=engage).count() == len(engage_calls)
    assert CallLeg.objects.filter(connection=voiso).count() == len(voiso_records)

    card = RateCardFactory(carrier=CarrierFactory(name="Default carrier", is_default=True))
    RateFactory(rate_card=card, prefix="1", direction="outbound")
    RateFactory(rate_card=card, prefix="1", direction="inbound")
    billing.rate_period(actor="test", start=OCTOBER, end=NOVEMBER)

    answered = CallLeg.objects.filter(duration_ms__gt=0, started_at__gte=OCTOBER, started_at__lt=NOVEMBER)
    assert set(answered.values_list("platform", flat=True)) == {"engage", "voiso"}
    rated = CostRecord.objects.filter(leg__in=answered, status="rated")
    assert rated.count() == answered.count()
