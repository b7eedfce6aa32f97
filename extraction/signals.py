"""Signals extraction sends; other apps connect to them (imports run one way)."""

from django.dispatch import Signal

# Sent after an extraction run (or chunk) committed call legs.
# kwargs: connection_id: int, start: datetime, end: datetime (the half-open UTC period covered).
legs_extracted = Signal()
