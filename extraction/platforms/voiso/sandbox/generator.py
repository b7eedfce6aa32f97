"""Deterministic synthetic Voiso CDRs: (seed, UTC day, records per day) -> v2 records.

Fields as third-party clients read them (platforms-and-carriers.md §2.1 [3P]): uuid, timestamp,
type, from, to, agent, agent_id, duration (``HH:MM:SS``), disposition; plus ``queue_id`` and
``hangup_side``, which the reference does not evidence ([A]) - the adapter must stay tolerant.
Numbers are fictional (NXX-555-01xx), digits-only like the sample, a few with ``+``.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

OUR_NUMBERS = ["13125550101", "13125550102", "18885550111"]
AREAS = ["202", "212", "305", "404", "512", "617", "713", "917"]
AGENTS = [(31415, "Dana Whitfield"), (27182, "Luis Ortega"), (16180, "Sam Placeholder")]
QUEUES = {"q-101": "Sales", "q-102": "Support"}
WRAPUP_CODES = {"w-1": "Resolved", "w-2": "Callback booked"}
TYPES = (("outbound", 40), ("inbound", 35), ("dialer", 10), ("click_to_call", 3), ("queue-callback", 2),
         ("outbound_sms", 6), ("whatsapp", 4))
VOICE_TYPES = {"outbound", "inbound", "dialer", "click_to_call", "queue_callback"}


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _record(rng: random.Random, start: datetime) -> dict[str, Any]:
    kind = rng.choices([t for t, _ in TYPES], weights=[w for _, w in TYPES])[0]
    customer = f"1{rng.choice(AREAS)}55501{rng.randint(0, 99):02d}"
    if rng.random() < 0.1:
        customer = "+" + customer
    ours = rng.choice(OUR_NUMBERS)
    inbound = kind == "inbound"
    agent_id, agent = rng.choice(AGENTS)
    if kind in ("outbound_sms", "whatsapp"):
        disposition, seconds = rng.choice(["delivered", "sent"]), 0
    else:
        disposition = rng.choices(["answered", "no_answer", "busy", "abandoned"], weights=[75, 12, 6, 7])[0]
        seconds = rng.randint(1, 1500) if disposition == "answered" else 0
    if disposition == "abandoned":
        agent_id, agent = None, None
    record = {
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": iso(start),
        "type": kind,
        "from": customer if inbound else ours,
        "to": ours if inbound else customer,
        "agent": agent,
        "agent_id": agent_id,
        "duration": hms(seconds),
        "disposition": disposition,
    }
    if kind in ("inbound", "queue-callback"):
        record["queue_id"] = rng.choice(sorted(QUEUES))
    if rng.random() < 0.3:
        record["hangup_side"] = rng.choice(["agent", "customer"])
    return record


@lru_cache(maxsize=32)
def records_for_day(seed: int, day: date, per_day: int) -> tuple[dict[str, Any], ...]:
    """The day's records in (timestamp, uuid) order; a pure function of its arguments."""
    rng = random.Random(f"voiso:{seed}:{day.isoformat()}")
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    starts = sorted(midnight + timedelta(seconds=rng.randint(0, 86_399)) for _ in range(per_day))
    records = [_record(rng, start) for start in starts]
    records.sort(key=lambda r: (r["timestamp"], r["uuid"]))
    return tuple(records)


def voice_records(seed: int, start: datetime, end: datetime, per_day: int) -> list[dict[str, Any]]:
    """Voice records with a timestamp in [start, end): what an extraction should store."""
    found = []
    day = start.date()
    while datetime.combine(day, time(), tzinfo=UTC) < end:
        for record in records_for_day(seed, day, per_day):
            kind = record["type"].replace("-", "_")
            if kind in VOICE_TYPES and start <= datetime.fromisoformat(record["timestamp"]) < end:
                found.append(record)
        day += timedelta(days=1)
    return found
