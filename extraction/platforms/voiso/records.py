"""Voiso CDR records -> calls, tolerantly (platforms-and-carriers.md §2.1, §2.2).

The v2 record fields are known only from third-party code [3P]: uuid, timestamp, type, from, to,
agent, agent_id, duration (``HH:MM:SS``), disposition. Anything else is optional: a queue or
wrap-up id is used when a likely key carries one [A], other fields are reported by name only.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from extraction.platforms.engage.calls import Call

# §2.1: ``type`` is an open enum; '-' and '_' both occur. Voice types are rated, others skipped.
INBOUND_TYPES = {"inbound"}
OUTBOUND_TYPES = {"outbound", "dialer", "click_to_call", "queue_callback", "callback", "scheduled_callback",
                  "campaign", "call"}  # [A] callbacks and campaigns dial out; v4 "call" carries its direction
NON_VOICE_TYPES = {"outbound_sms", "sms", "whatsapp", "facebook", "instagram", "telegram", "web_chat",
                   "hlr_lookup", "conversation"}
# [A] a machine that answers is still a connected, billed call.
ANSWERED = {"answered", "answered_by_vm", "machine_answered"}
KNOWN_V2 = {"uuid", "timestamp", "type", "from", "to", "agent", "agent_id", "duration", "disposition"}
QUEUE_KEYS = ("queue_id", "queue_uuid", "queue")  # [A]
WRAPUP_KEYS = ("wrapup_code_id", "wrap_up_code_id", "wrapup_code", "wrap_up_code")  # [A]
OPTIONAL = set(QUEUE_KEYS) | set(WRAPUP_KEYS)
POSITION = "_position"
_HMS = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d)$")


class RecordError(ValueError):
    pass


def kind_of(record: dict[str, Any]) -> str:
    return str(record.get("type") or "").strip().lower().replace("-", "_")


def seconds_of(value: Any, field: str = "duration") -> int:
    """``HH:MM:SS`` (hours may exceed 24), or a number of seconds; blank is 0."""
    if value is None or value == "":
        return 0
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value)
    text = str(value).strip()
    match = _HMS.match(text)
    if match:
        h, m, s = (int(x) for x in match.groups())
        return h * 3600 + m * 60 + s
    if text.isdigit():
        return int(text)
    raise RecordError(f"{field}: {text[:20]!r} is not HH:MM:SS")


def instant(value: Any, field: str) -> datetime:
    text = str(value or "").strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{field}: {text[:30]!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise RecordError(f"{field}: {text[:30]!r} has no offset")
    return parsed


def _id(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id") or value.get("uuid")
    return "" if value is None else str(value)[:64]


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> str:
    return next((_id(record[k]) for k in keys if record.get(k) not in (None, "")), "")


def _direction(kind: str, explicit: Any = None) -> str:
    text = str(explicit or "").strip().lower()
    if text in ("inbound", "outbound"):
        return text
    return "inbound" if kind in INBOUND_TYPES else "outbound"


def v2_call(record: dict[str, Any], kind: str) -> Call:
    """One v2 record of a voice type -> a Call."""
    call_id = str(record.get("uuid") or "").strip()
    if not call_id:
        raise RecordError("uuid: missing")
    started = instant(record.get("timestamp"), "timestamp")
    seconds = seconds_of(record.get("duration"))
    disposition = str(record.get("disposition") or "").strip().lower()
    answered = disposition in ANSWERED and seconds > 0
    # [A] timestamp is read as the answer time of an answered call and duration as its talk time;
    # the reference has no separate setup/answer instants for Voiso.
    return Call(
        call_id=call_id, direction=_direction(kind), ani=str(record.get("from") or "").strip(),
        dnis=str(record.get("to") or "").strip(), started_at=started,
        connected_at=started if answered else None,
        ended_at=started + timedelta(seconds=seconds),
        duration_ms=seconds * 1000 if answered else 0, talk_ms=seconds * 1000 if answered else 0,
        queue_id=_first(record, QUEUE_KEYS), wrapup_code=_first(record, WRAPUP_KEYS),
        disconnect_type=disposition, agent_id=_id(record.get("agent_id")),
        agent_name=str(record.get("agent") or "")[:255],
    )


def v4_call(record: dict[str, Any]) -> Call:
    """One v4 ``call`` record (``id, type, started_at, ended_at, data{...}``; data keys [A])."""
    call_id = str(record.get("id") or "").strip()
    if not call_id:
        raise RecordError("id: missing")
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    started = instant(record.get("started_at"), "started_at")
    ended = instant(record.get("ended_at"), "ended_at") if record.get("ended_at") else None
    if "duration" in data or "talk_duration" in data:
        seconds = seconds_of(data.get("talk_duration", data.get("duration")), "data.duration")
    else:
        seconds = int((ended - started).total_seconds()) if ended else 0
    disposition = str(data.get("disposition") or "").strip().lower()
    answered = disposition in ANSWERED and seconds > 0
    kind = str(data.get("subtype") or "").lower().replace("-", "_")
    return Call(
        call_id=call_id, direction=_direction(kind, data.get("direction")),
        ani=str(data.get("from") or "").strip(), dnis=str(data.get("to") or "").strip(), started_at=started,
        connected_at=started if answered else None, ended_at=ended or started + timedelta(seconds=seconds),
        duration_ms=seconds * 1000 if answered else 0, talk_ms=seconds * 1000 if answered else 0,
        queue_id=_first(data, QUEUE_KEYS), wrapup_code=_first(data, WRAPUP_KEYS), disconnect_type=disposition,
        agent_id=_id(data.get("agent_id") or data.get("user_id")), agent_name=str(data.get("agent_name") or "")[:255],
    )


def unknown_fields(record: dict[str, Any]) -> set[str]:
    """Field names the mapping does not read (names only: values may be PII)."""
    return {k for k in record if not k.startswith("_") and k not in KNOWN_V2 and k not in OPTIONAL}
