"""In a real browser: the dashboard draws its charts and a click on a bar opens the calls behind it."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import CHROMIUM, login  # noqa: F401
from tests.explorer.factories import week_dataset

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM, reason="chromium not installed: `make chromium`"),
]


def test_clicking_a_country_bar_lists_its_calls(page, live_server, viewer, shot):  # noqa: F811
    week_dataset()
    login(page, live_server, viewer.username, "pw-" + viewer.username)
    page.goto(f"{live_server.url}/?period=custom&start=2026-11-02&end=2026-11-08")
    bar = page.locator("#cost-by-country .barlayer .point path").first
    bar.wait_for()
    shot(page, "dashboard-viewer")
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)  # plotly picks the point on hover, then reports it on click
    page.mouse.click(x, y)
    page.wait_for_url(lambda url: "/calls/" in url)
    assert "country=GB" in page.url
    assert page.locator("table.calls tbody tr").count() == 2
    assert "***0188" in page.locator("table.calls").inner_text()
    shot(page, "explorer-drilldown")
