"""Reporting periods: the presets finance staff pick, resolved to local calendar days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import models
from django.utils import timezone


class Preset(models.TextChoices):
    LAST_7 = "last7", "Last 7 days"
    LAST_WEEK = "last_week", "Last week (Mon–Sun)"
    LAST_30 = "last30", "Last 30 days"
    THIS_MONTH = "this_month", "This month"
    LAST_MONTH = "last_month", "Last month"
    CUSTOM = "custom", "Custom dates"


DEFAULT_PRESET = Preset.LAST_30
MAX_DAYS = 1100  # about three years: keeps an accidental "since 1970" from scanning everything


@dataclass(frozen=True)
class Period:
    """Calendar days ``start``..``end`` inclusive, in the site time zone (TIME_ZONE)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        """Exclusive upper bound: midnight after the last day."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    def previous(self) -> Period:
        """The period of equal length that ends the day before this one starts."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def label(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def resolve(preset: str, *, today: date, start: date | None = None, end: date | None = None) -> Period:
    """The days a preset covers on ``today``; CUSTOM uses ``start``/``end`` as given."""
    if preset == Preset.LAST_7:
        return Period(today - timedelta(days=6), today)
    if preset == Preset.LAST_WEEK:
        monday = today - timedelta(days=today.weekday())
        return Period(monday - timedelta(days=7), monday - timedelta(days=1))
    if preset == Preset.LAST_30:
        return Period(today - timedelta(days=29), today)
    if preset == Preset.THIS_MONTH:
        return Period(_month_start(today), today)
    if preset == Preset.LAST_MONTH:
        last_day = _month_start(today) - timedelta(days=1)
        return Period(_month_start(last_day), last_day)
    if preset == Preset.CUSTOM:
        if start is None or end is None:
            raise ValueError("a custom period needs both a start and an end date")
        return Period(start, end)
    raise ValueError(f"unknown period {preset!r}")


def months_back(end: date, count: int) -> date:
    """The first day of the month ``count - 1`` months before ``end``'s month."""
    year, month = end.year, end.month - (count - 1)
    while month < 1:
        month += 12
        year -= 1
    return date(year, month, 1)
