"""Interaction metadata (platforms-and-carriers.md §1.7): request body, segment rows -> calls.

One row per segment; a call is every row with the same ``interactionId`` (the 30-digit UII).
Times are ISO-8601 UTC strings despite the ``Ms`` suffix; durations are milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from extraction.platforms.engage.calls import Call

MAX_INTERVAL_SECONDS = 10_800  # §1.7 (an older page says 3600)
# [A] systemDisposition values of calls nobody answered; the list is not published.
UNANSWERED = {"ABANDON", "ABANDONED", "NO_ANSWER", "NOANSWER", "BUSY", "FAILED", "INTERCEPT", "CANCELLED",
              "REJECTED"}
POSITION = "_position"
STEP = "_step"  # [step start, step end, asked from] as ISO strings, set by the adapter


def metadata_body(*, start: datetime, seconds: int, zone: ZoneInfo) -> dict[str, Any]:
    """§1.7: ``segmentEndTime`` is, despite its name, the start of the window, in ``timeZone``."""
    return {"segmentEndTime": f"{start.astimezone(zone):%Y-%m-%d %H:%M:%S}", "timeInterval": seconds,
            "timeZone": zone.key}


def segment_rows(body: Any) -> list[dict[str, Any]] | None:
    """The array of segments (or under a few likely keys, [A]); None when it is not one."""
    if isinstance(body, dict):
        body = next((body[k] for k in ("segments", "data", "records", "items") if isinstance(body.get(k), list)),
                    None)
    if not isinstance(body, list):
        return None
    return body


class SegmentError(ValueError):
    pass


def parse_instant(value: Any, field: str) -> datetime:
    text = str(value or "").strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SegmentError(f"{field}: {text[:30]!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise SegmentError(f"{field}: {text[:30]!r} has no offset")
    return parsed


def _ms(value: Any, field: str) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        raise SegmentError(f"{field}: {str(value)[:20]!r} is not milliseconds") from None


def ends_in_step(segments: list[dict[str, Any]]) -> bool:
    """True when the call's last returned segment ends inside the step that fetched it."""
    step = segments[0].get(STEP)
    if not step:
        return True
    last = max(parse_instant(s.get("segmentEndTimeMs"), "segmentEndTimeMs") for s in segments)
    return datetime.fromisoformat(step[0]) <= last < datetime.fromisoformat(step[1])


def segments_to_call(call_id: str, segments: list[dict[str, Any]]) -> tuple[Call, str]:
    """All segment rows of one interaction -> a Call (and a note or '')."""
    first = segments[0]
    started = parse_instant(first.get("dialogStartTimeMs"), "dialogStartTimeMs")
    ended = parse_instant(first.get("dialogEndTimeMs"), "dialogEndTimeMs") if first.get("dialogEndTimeMs") else None
    origination = str(first.get("dialogOrigination") or "").strip().lower()
    note = ""
    step = first.get(STEP)
    if step and started < datetime.fromisoformat(step[2]):
        note = "the call began before the look-back window; its earliest segments may be missing"
    if origination not in ("inbound", "outbound"):
        unknown = f"dialogOrigination {origination[:20]!r} is not INBOUND/OUTBOUND; read as inbound"
        note = f"{note}; {unknown}" if note else unknown
        origination = "inbound"
    timed = sorted(((parse_instant(s.get("segmentStartTimeMs"), "segmentStartTimeMs"), s) for s in segments),
                   key=lambda pair: pair[0])
    agents = [(start, s) for start, s in timed if str(s.get("segmentType") or "").upper() == "AGENT"]
    disposition = str(first.get("systemDisposition") or "").strip().upper()
    answered = bool(agents) and disposition not in UNANSWERED
    # [A] The carrier-billed answer is taken as the first AGENT segment's start (IVR/queue before
    # it is the platform's own time), matching the CSV path's connected_duration.
    connected = agents[0][0] if answered else None
    if ended is None and first.get("dialogDurationMs") is not None:
        ended = started + timedelta(milliseconds=_ms(first.get("dialogDurationMs"), "dialogDurationMs"))
    duration = int((ended - connected).total_seconds() * 1000) if connected and ended else 0
    talk = sum(_ms(s.get("segmentDurationMs"), "segmentDurationMs") for _, s in agents) if answered else 0
    last_agent = agents[-1][1] if agents else {}
    wrapup = next((str(s.get("agentDisposition")) for _, s in reversed(agents) if s.get("agentDisposition")), "")
    call = Call(
        call_id=call_id,
        direction=origination,
        ani=str(first.get("channelEndpointAddress") or "").strip(),
        dnis=str(first.get("contactEndpointAddress") or "").strip(),
        started_at=started,
        connected_at=connected,
        ended_at=ended,
        duration_ms=max(0, duration),
        talk_ms=talk,
        queue_id=str(last_agent.get("segmentAgentGroupId") or ""),
        wrapup_code=wrapup[:100],
        disconnect_type=disposition.lower(),
        agent_id=str(last_agent.get("segmentParticipantId") or ""),
    )
    return call, note
