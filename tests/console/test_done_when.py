"""Issue 9's "done when", end to end against the Genesys sandbox over real HTTP.

An analyst asks for cost per carrier per week for Q3 joined with discrepancies; the console offers
to fetch the missing data, fetches it in the background (inline here), then shows the table and a
chart, with phone numbers masked.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import CostRecord
from cdrweb.console.models import QueryHistory
from extraction.models import CallLeg, ExtractionRun, RunState
from extraction.platforms.genesys.client import _TOKENS
from extraction.platforms.genesys.sandbox import start_sandbox
from tests.console.factories import (
    CarrierFactory,
    ConnectionFactory,
    DiscrepancyFactory,
    RateCardFactory,
    RateFactory,
    ReconciliationRunFactory,
)

SANDBOX_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
Q3_START, Q3_END = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)

COST_PER_CARRIER_PER_WEEK_Q3 = """
WITH weekly AS (
  SELECT carrier, date_trunc('week', started_at) AS week, sum(cost) AS cost, count(*) AS legs
  FROM costs
  WHERE started_at >= '2026-07-01' AND started_at < '2026-10-01'
  GROUP BY 1, 2
), flags AS (
  SELECT carrier, date_trunc('week', started_at) AS week, count(*) AS discrepancies
  FROM discrepancies GROUP BY 1, 2
)
SELECT w.carrier, w.week, w.cost, w.legs, coalesce(f.discrepancies, 0) AS discrepancies
FROM weekly w LEFT JOIN flags f ON f.carrier = w.carrier AND f.week = w.week
ORDER BY w.carrier, w.week
"""


@pytest.fixture
def sandbox():
    handle = start_sandbox(port=0, seed=9, calls_per_day=2, now=SANDBOX_NOW, retry_after=0, max_interval_days=31)
    _TOKENS.clear()
    yield handle
    handle.stop()
    _TOKENS.clear()


@pytest.fixture
def priced_carrier(db):
    carrier = CarrierFactory(name="Default Carrier", is_default=True)
    card = RateCardFactory(carrier=carrier, effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    for direction in ("outbound", "inbound"):
        RateFactory(rate_card=card, prefix="", direction=direction, rate_per_minute=Decimal("0.02"))
    run = ReconciliationRunFactory(carrier=carrier)
    DiscrepancyFactory(run=run, start_utc=datetime(2026, 7, 8, 9, 0, tzinfo=UTC))
    return carrier


def _expected_rows() -> list[tuple]:
    """The same figures from the ORM, for comparison to the cent."""
    totals: dict[tuple[str, str], list] = defaultdict(lambda: [Decimal(0), 0])
    records = CostRecord.objects.filter(leg__started_at__gte=Q3_START, leg__started_at__lt=Q3_END)
    for name, started, cost in records.values_list("carrier__name", "leg__started_at", "cost"):
        monday = (started - timedelta(days=started.weekday())).strftime("%Y-%m-%d 00:00:00")
        totals[(name, monday)][0] += cost
        totals[(name, monday)][1] += 1
    return [
        (name, week, total.normalize() if total != total.to_integral() else total.quantize(Decimal(1)), legs,
         1 if week == "2026-07-06 00:00:00" else 0)
        for (name, week), (total, legs) in sorted(totals.items())
    ]


def test_an_analyst_fetches_the_missing_weeks_and_sees_table_and_chart(
    client, analyst, sandbox, priced_carrier, django_capture_on_commit_callbacks
):
    # poll_seconds: the worker re-polls pending jobs without the production 2 s pause.
    connection = ConnectionFactory(name="genesys-sandbox", region="", base_url=sandbox.base_url,
                                   settings={"poll_seconds": 0})
    client.force_login(analyst)
    index = reverse("console:index")

    # 1. The console offers to fetch what is missing, batched by the 31-day job limit.
    plan_page = client.post(index, {"sql": COST_PER_CARRIER_PER_WEEK_Q3}).content.decode()
    assert "genesys-sandbox" in plan_page
    assert "2026-07-01 00:00 → 2026-10-01 00:00" in plan_page
    assert "3 platform jobs" in plan_page

    # 2. Confirming starts the extraction in the background (inline under test), then waits.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("console:fetch"), {"sql": COST_PER_CARRIER_PER_WEEK_Q3})
    history = QueryHistory.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"?h={history.pk}")
    run = ExtractionRun.objects.get(connection=connection)
    assert run.state == RunState.SUCCEEDED, run.error
    assert CallLeg.objects.filter(started_at__gte=Q3_START, started_at__lt=Q3_END).exists()
    assert CostRecord.objects.filter(status="rated").exists()

    # 3. The page runs the query once the runs finished and shows the table.
    poll = client.get(reverse("console:poll", args=[history.pk]))
    assert poll["HX-Refresh"] == "true"
    page = client.get(index, {"h": history.pk})
    history.refresh_from_db()
    assert history.status == QueryHistory.Status.OK
    result = page.context["result"]
    assert result.columns == ["carrier", "week", "cost", "legs", "discrepancies"]
    assert result.rows == _expected_rows()
    assert len(result.rows) >= 13  # every week of Q3 has calls

    # 4. The chart: cost by week, one series per carrier.
    chart = client.get(index, {"h": history.pk, "x": "week", "y": "cost", "series": "carrier", "kind": "line"})
    figure = chart.context["figure"]
    assert [trace["name"] for trace in figure["data"]] == ["Default Carrier"]
    assert figure["data"][0]["x"][0] == result.rows[0][1]

    # 5. Phone numbers from the fetched legs are masked wherever they appear.
    numbers = client.post(index, {"sql": "SELECT ani, dnis, ani_e164, dnis_e164 FROM call_legs "
                                         "WHERE started_at >= '2026-07-01' AND started_at < '2026-10-01'"})
    html = numbers.content.decode()
    raw = CallLeg.objects.exclude(dnis_e164="").values_list("dnis_e164", flat=True).first()
    assert raw and raw not in html and raw[1:] not in html
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert cells and all(re.fullmatch(r"\*\*\*\d{4}|\*{4}|REDACTED|", c) for c in cells)
