"""Parse command-line instants: ISO date or datetime; naive means UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date, parse_datetime


def parse_instant(text: str, option: str) -> datetime:
    value = (text or "").strip()
    try:
        moment = parse_datetime(value.replace("Z", "+00:00"))
        if moment is None:
            day = parse_date(value)
            if day is None:
                raise ValueError
            moment = datetime.combine(day, time.min)
    except ValueError:
        raise CommandError(f"{option}: {text!r} is not an ISO date or date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
