"""Period presets resolve to whole local days; the previous period has the same length."""

from __future__ import annotations

from datetime import date

import pytest

from cdrweb.explorer.periods import Period, months_back, resolve

TODAY = date(2026, 3, 4)  # a Wednesday


@pytest.mark.parametrize("preset, start, end", [
    ("last7", date(2026, 2, 26), date(2026, 3, 4)),
    ("last_week", date(2026, 2, 23), date(2026, 3, 1)),
    ("last30", date(2026, 2, 3), date(2026, 3, 4)),
    ("this_month", date(2026, 3, 1), date(2026, 3, 4)),
    ("last_month", date(2026, 2, 1), date(2026, 2, 28)),
])
def test_presets(preset, start, end):
    assert resolve(preset, today=TODAY) == Period(start, end)


def test_custom_needs_both_dates():
    assert resolve("custom", today=TODAY, start=date(2026, 1, 5), end=date(2026, 1, 5)).days == 1
    with pytest.raises(ValueError):
        resolve("custom", today=TODAY, start=date(2026, 1, 5))


def test_previous_period_has_equal_length_and_touches():
    period = Period(date(2026, 2, 1), date(2026, 2, 28))
    assert period.previous() == Period(date(2026, 1, 4), date(2026, 1, 31))
    assert period.end_at - period.start_at == period.previous().end_at - period.previous().start_at


def test_months_back_crosses_the_year():
    assert months_back(date(2026, 2, 14), 6) == date(2025, 9, 1)
