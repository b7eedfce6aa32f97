"""The explorer's rows and filter bar are drawn in Python: every value must still be escaped."""

from __future__ import annotations

import pytest

from tests.explorer.factories import CarrierFactory, ConnectionFactory, at, rated_leg

LIST = "/calls/"
WEEK = "?period=custom&start=2026-11-02&end=2026-11-08"
EVIL = '<script>alert("x")</script>'


@pytest.mark.django_db
def test_values_from_platforms_and_admins_are_escaped_in_rows_and_selects(client, viewer):
    carrier = CarrierFactory(name=f"Carrier {EVIL}")
    ConnectionFactory(name=f"conn {EVIL}")
    rated_leg(cost="1.00", carrier=carrier, started_at=at(3, 10), queue_name=f"Q {EVIL}",
              wrapup_name=f"W {EVIL}")
    client.force_login(viewer)

    page = client.get(LIST + WEEK + f"&queue=Q {EVIL}").content.decode()

    assert EVIL not in page
    assert "&lt;script&gt;" in page
    assert page.count("&lt;script&gt;") >= 5  # carrier and connection options, queue, wrap-up, filter value
