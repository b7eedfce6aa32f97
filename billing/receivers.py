"""Billing's reaction to extraction: rate the period whose legs were just stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing import services


def rate_extracted_legs(sender: Any, *, connection_id: int, start: datetime, end: datetime, **kwargs: Any) -> None:
    """Queue a rating run for the connection's period (extraction.signals.legs_extracted)."""
    if end <= start:
        return
    services.start_rating_run(
        actor="system", start=start, end=end, connection_id=connection_id, reason="legs extracted"
    )
