"""Genesys detail records -> rows for our tables and platform-neutral CallLegs. Pure Python, no ORM.

Field names: genesys-cloud.md §6 (record model), §7 (Call-ID and billable legs), §8 (metrics).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import phonenumbers

from extraction.platforms import FlatPage

# Session metrics kept as numeric columns too (§8: a metric can repeat per session; we sum).
METRIC_COLUMNS = {
    "tTalk": "t_talk_ms",
    "tHeld": "t_held_ms",
    "tAcw": "t_acw_ms",
    "tHandle": "t_handle_ms",
    "tAlert": "t_alert_ms",
    "tConnected": "t_connected_ms",
    "nTransferred": "n_transferred",
}
# §7: PSTN-facing participants are the billable carrier legs.
TRUNK_PURPOSES = {"customer", "external"}
AGENT_PURPOSES = {"agent", "user"}

_CALL_ID_HEADER = re.compile(r"^(?:call-id|i)\s*:\s*", re.IGNORECASE)
_URI_USER = re.compile(r"^(?:tel|sips?):", re.IGNORECASE)


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 UTC with 'Z' (§6) to an aware datetime; None stays None."""
    if not value:
        return None
    return datetime.fromisoformat(value)


def canonical_call_id(value: str | None) -> str:
    """Trim, drop a leading 'Call-ID:'/'i:' header name and one pair of <>; keep host and case (§7)."""
    text = (value or "").strip()
    text = _CALL_ID_HEADER.sub("", text).strip()
    if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
        text = text[1:-1].strip()
    return text


@lru_cache(maxsize=100_000)
def to_e164(raw: str | None, region: str = "US") -> str:
    """'+E164' from a tel:/sip: URI or a bare number; '' when it cannot be parsed."""
    text = (raw or "").strip()
    if not text:
        return ""
    text = _URI_USER.sub("", text)
    text = text.split("@", 1)[0].split(";", 1)[0].strip()
    if not any(ch.isdigit() for ch in text):
        return ""
    try:
        number = phonenumbers.parse(text, (region or "US").upper())
    except phonenumbers.NumberParseException:
        return ""
    # is_possible, not is_valid: fictional ranges (555-01xx, 7700 900xxx) must still normalise.
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _span_ms(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return max(0, int(round((end - start).total_seconds() * 1000)))


def flatten_conversations(records: list[dict[str, Any]], *, region: str = "US") -> FlatPage:
    """Flatten detail records; duplicates in one page collapse to the last copy (§5: pages repeat)."""
    unique: dict[str, dict[str, Any]] = {}
    for record in records:
        unique[record["conversationId"]] = record
    page = FlatPage()
    for record in unique.values():
        conversation, legs = _flatten_one(record, region)
        page.conversations.append(conversation)
        page.legs.extend(legs)
    return page


def _flatten_one(record: dict[str, Any], region: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    conversation_id = record["conversationId"]
    end = parse_time(record.get("conversationEnd"))
    participants: list[dict[str, Any]] = []
    # session id -> (participant purpose, session dict, flattened session row)
    sessions_by_id: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for participant in record.get("participants") or ():
        purpose = participant.get("purpose") or ""
        sessions: list[dict[str, Any]] = []
        for session in participant.get("sessions") or ():
            row = _flatten_session(session)
            sessions.append(row)
            sessions_by_id[row["session_id"]] = (purpose, session, row)
        participants.append({
            "participant_id": participant.get("participantId") or "",
            "participant_name": participant.get("participantName") or "",
            "purpose": purpose,
            "user_id": participant.get("userId") or "",
            "external_contact_id": participant.get("externalContactId") or "",
            "attributes": participant.get("attributes") or {},
            "sessions": sessions,
        })
    conversation = {
        "conversation_id": conversation_id,
        "conversation_start": parse_time(record.get("conversationStart")),
        "conversation_end": end,
        "is_open": end is None,
        "originating_direction": record.get("originatingDirection") or "",
        "division_ids": record.get("divisionIds") or [],
        "media_stats_min_conversation_mos": record.get("mediaStatsMinConversationMos"),
        "participants": participants,
    }
    legs = [
        _leg(conversation, purpose, session, row, sessions_by_id, region)
        for purpose, session, row in sessions_by_id.values()
        if purpose in TRUNK_PURPOSES and session.get("mediaType") == "voice"
    ]
    return conversation, legs


def _flatten_session(session: dict[str, Any]) -> dict[str, Any]:
    totals: dict[str, int] = {}
    metrics: dict[tuple[str, str], dict[str, Any]] = {}
    for metric in session.get("metrics") or ():
        name = metric.get("name") or ""
        value = int(metric.get("value") or 0)
        column = METRIC_COLUMNS.get(name)
        if column:
            totals[column] = totals.get(column, 0) + value
        emit = metric.get("emitDate") or ""
        # One row per (name, emitDate): the natural key; a repeat at the same instant is summed.
        key = (name, emit)
        if key in metrics:
            metrics[key]["value"] += value
        else:
            metrics[key] = {"name": name, "value": value, "emit_date": parse_time(emit)}
    segments = []
    for index, segment in enumerate(session.get("segments") or ()):
        segments.append({
            "segment_index": index,
            "segment_start": parse_time(segment.get("segmentStart")),
            "segment_end": parse_time(segment.get("segmentEnd")),
            "segment_type": segment.get("segmentType") or "",
            "queue_id": segment.get("queueId") or "",
            "wrap_up_code": segment.get("wrapUpCode") or "",
            "wrap_up_note": segment.get("wrapUpNote") or "",
            "disconnect_type": segment.get("disconnectType") or "",
            "sip_response_codes": segment.get("sipResponseCodes") or [],
            "q850_response_codes": segment.get("q850ResponseCodes") or [],
        })
    flow = session.get("flow") or {}
    row = {
        "session_id": session.get("sessionId") or "",
        "media_type": session.get("mediaType") or "",
        "direction": session.get("direction") or "",
        "ani": session.get("ani") or "",
        "dnis": session.get("dnis") or "",
        "session_dnis": session.get("sessionDnis") or "",
        "remote": session.get("remote") or "",
        "protocol_call_id": session.get("protocolCallId") or "",
        "provider": session.get("provider") or "",
        "edge_id": session.get("edgeId") or "",
        "peer_id": session.get("peerId") or "",
        "flow_name": flow.get("flowName") or "",
        "segments": segments,
        "metrics": list(metrics.values()),
    }
    for column in METRIC_COLUMNS.values():
        row[column] = totals.get(column)
    return row


def _leg(
    conversation: dict[str, Any],
    purpose: str,
    session: dict[str, Any],
    row: dict[str, Any],
    sessions_by_id: dict[str, tuple[str, dict[str, Any], dict[str, Any]]],
    region: str,
) -> dict[str, Any]:
    segments = row["segments"]
    session_id = row["session_id"]
    interact = [s for s in segments if s["segment_type"] == "interact"]
    started_at = segments[0]["segment_start"] if segments else conversation["conversation_start"]
    ended = [s["segment_end"] for s in segments if s["segment_end"] is not None]
    is_open = conversation["is_open"] or any(s["segment_end"] is None for s in segments)
    ended_at = max(ended) if ended and not is_open else None
    # §7: the carrier bills answer -> hang-up: the PSTN session's interact span (tConnected cross-checks).
    connected_at = interact[0]["segment_start"] if interact else None
    last_interact_end = interact[-1]["segment_end"] if interact else None
    duration_ms = _span_ms(connected_at, last_interact_end) if connected_at else 0

    # Agent/user sessions serving this leg: linked by peerId in either direction (samples A-E).
    own_peer = row["peer_id"]
    linked = [
        (p, r) for p, _s, r in sessions_by_id.values()
        if r["session_id"] != session_id and (r["peer_id"] == session_id or r["session_id"] == own_peer)
    ]
    talk_ms = sum(r["t_talk_ms"] or 0 for p, r in linked if p in AGENT_PURPOSES)
    wrapup_code = ""
    for p, r in linked:
        if p in AGENT_PURPOSES:
            for seg in r["segments"]:
                if seg["wrap_up_code"]:
                    wrapup_code = seg["wrap_up_code"]  # the last agent's code wins (transfers)
    queue_id = next((s["queue_id"] for s in segments if s["queue_id"]), "")
    if not queue_id:
        queue_id = next(
            (seg["queue_id"] for p, r in linked if p == "acd" for seg in r["segments"]
             if seg["queue_id"] and seg["segment_type"] == "interact"),
            "",
        )
    disconnect = next((s["disconnect_type"] for s in reversed(segments) if s["disconnect_type"]), "")
    sip_codes = [c for s in segments for c in s["sip_response_codes"]]
    direction = row["direction"] or conversation["originating_direction"] or "inbound"
    return {
        "external_call_id": conversation["conversation_id"],
        "leg_id": session_id,
        "sip_call_id": canonical_call_id(row["protocol_call_id"]),
        "sip_call_id_local": canonical_call_id(row["protocol_call_id"]).split("@", 1)[0],
        "direction": direction,
        "ani": row["ani"],
        "dnis": row["dnis"],
        "ani_e164": to_e164(row["ani"], region),
        "dnis_e164": to_e164(row["dnis"], region),
        "started_at": started_at,
        "connected_at": connected_at,
        "ended_at": ended_at,
        "duration_ms": duration_ms,
        "talk_ms": talk_ms,
        "queue_id": queue_id,
        "wrapup_code": wrapup_code,
        "edge_id": row["edge_id"],
        # AnalyticsSession has no trunk field (SDK 269: only edgeId and provider); billing maps
        # trunks by edge/provider until a platform gives a trunk name.
        "trunk": "",
        "provider": row["provider"],
        "purpose": purpose,
        "is_open": is_open,
        "disconnect_type": disconnect,
        "sip_response_code": sip_codes[-1] if sip_codes else None,
    }
