"""Deterministic synthetic RingCX traffic: (seed, UTC day, calls per day) -> calls.

One ``SimCall`` renders both ways the adapter reads it: interaction-metadata segment rows
(platforms-and-carriers.md §1.7) and a Cloud Call Detail CSV row (§1.6). Numbers are fictional
(NXX-555-01xx), 10-digit NANP like the sample.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("US/Eastern")
PROFILES = {1111: "Support Main", 2222: "Sales TFN"}
PROFILE_GROUPS = {111: [1111], None: [2222]}  # the doc's "null" group holds ungrouped profiles
DESTINATIONS = {4546: ("Tier1 Agents", "3125550170"), 4551: ("Tier2 Agents", "3125550171"),
                4467: ("Sales Desk", "3125550172")}
OUR_DIDS = {1111: "3125550101", 2222: "8885550111"}
AREAS = ["312", "415", "512", "646", "773", "217", "630", "847"]


@dataclass(frozen=True)
class Segment:
    segment_id: str
    segment_type: str  # IVR | AGENT
    start: datetime
    end: datetime
    agent_group_id: str = ""
    agent_disposition: str = ""


@dataclass(frozen=True)
class SimCall:
    uii: str
    direction: str  # INBOUND | OUTBOUND
    ani: str
    dnis: str
    start: datetime  # dialog start, UTC
    queue_seconds: int
    talk_seconds: int  # 0 = abandoned / not answered
    profile_id: int
    destination_id: int
    system_disposition: str
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @property
    def answered(self) -> bool:
        return self.talk_seconds > 0

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.queue_seconds + self.talk_seconds)


def make_uii(start: datetime, seed: int, index: int) -> str:
    """30 digits; the first 14 are the initiation time on the US/Eastern clock (§1.6 [I])."""
    local = start.astimezone(EASTERN)
    return f"{local:%Y%m%d%H%M%S}{seed % 100:02d}{index:014d}"[:30]


def build_call(*, seed: int, index: int, start: datetime, rng: random.Random) -> SimCall:
    inbound = rng.random() < 0.75
    profile_id = rng.choice(sorted(PROFILES))
    destination_id = 4467 if profile_id == 2222 else rng.choice([4546, 4551])
    queue_seconds = rng.randint(0, 40) if inbound else 0
    answered = rng.random() < 0.85
    talk_seconds = rng.randint(5, 900) if answered else 0
    customer = f"{rng.choice(AREAS)}55501{rng.randint(0, 99):02d}"
    ani, dnis = (customer, OUR_DIDS[profile_id]) if inbound else (OUR_DIDS[profile_id], customer)
    uii = make_uii(start, seed, index)
    segments: list[Segment] = []
    if inbound and queue_seconds:
        segments.append(Segment(f"{uii}-1", "IVR", start, start + timedelta(seconds=queue_seconds)))
    if answered:
        agent_start = start + timedelta(seconds=queue_seconds)
        # A transfer in a fifth of answered calls: two AGENT segments.
        split = talk_seconds // 2 if rng.random() < 0.2 else talk_seconds
        segments.append(Segment(f"{uii}-2", "AGENT", agent_start, agent_start + timedelta(seconds=split),
                                str(destination_id), "Resolved" if split == talk_seconds else "Transferred"))
        if split != talk_seconds:
            segments.append(Segment(f"{uii}-3", "AGENT", agent_start + timedelta(seconds=split),
                                    agent_start + timedelta(seconds=talk_seconds), "4551", "Resolved"))
    elif not segments:  # an unanswered outbound call still has one (system) segment
        segments.append(Segment(f"{uii}-1", "AGENT", start, start + timedelta(seconds=rng.randint(10, 30))))
    disposition = "COMPLETE" if answered else ("ABANDON" if inbound else "NO_ANSWER")
    return SimCall(uii=uii, direction="INBOUND" if inbound else "OUTBOUND", ani=ani, dnis=dnis, start=start,
                   queue_seconds=queue_seconds, talk_seconds=talk_seconds, profile_id=profile_id,
                   destination_id=destination_id, system_disposition=disposition, segments=tuple(segments))


@lru_cache(maxsize=64)
def calls_for_day(seed: int, day: date, calls_per_day: int) -> tuple[SimCall, ...]:
    """The calls starting on one UTC day, in start order; a pure function of its arguments."""
    rng = random.Random(f"engage:{seed}:{day.isoformat()}")
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    offsets = sorted(rng.randint(0, 86_399) for _ in range(calls_per_day))
    return tuple(build_call(seed=seed, index=i, start=midnight + timedelta(seconds=s), rng=rng)
                 for i, s in enumerate(offsets))


def calls_between(seed: int, start: datetime, end: datetime, calls_per_day: int,
                  extra: tuple[SimCall, ...] = ()) -> list[SimCall]:
    """Calls whose dialog overlaps [start, end) by a day either side (callers filter further)."""
    found: list[SimCall] = []
    day = (start - timedelta(days=1)).date()
    while day <= end.date():
        found.extend(calls_for_day(seed, day, calls_per_day))
        day += timedelta(days=1)
    found.extend(extra)
    return found


def metadata_rows(call: SimCall, sub_account_id: str) -> list[dict[str, object]]:
    """One interaction-metadata row per segment (§1.7 field names; ISO UTC despite the Ms suffix)."""
    dialog_ms = int((call.end - call.start).total_seconds() * 1000)
    rows = []
    for seg in call.segments:
        rows.append({
            "subAccountId": sub_account_id,
            "dialogId": f"D{call.uii}",
            "interactionId": call.uii,
            "channelId": f"C{call.profile_id}",
            "channelType": "VOICE",
            "channelClass": "VOICE",
            "channelEndpointAddress": call.ani,
            "contactEndpointAddress": call.dnis,
            "dialogOrigination": call.direction,
            "dialogStartTimeMs": iso(call.start),
            "dialogEndTimeMs": iso(call.end),
            "dialogDurationMs": dialog_ms,
            "segmentId": seg.segment_id,
            "segmentType": seg.segment_type,
            "segmentParticipantId": "",
            "segmentParticipantRcExtensionId": "",
            "segmentStartTimeMs": iso(seg.start),
            "segmentEndTimeMs": iso(seg.end),
            "segmentDurationMs": int((seg.end - seg.start).total_seconds() * 1000),
            "segmentAgentGroupId": seg.agent_group_id,
            "systemDisposition": call.system_disposition,
            "agentDisposition": seg.agent_disposition,
            "agentNotes": "",
            "hasRecording": call.answered,
            "hasTranscript": False,
            "segmentEvents": [],
        })
    return rows


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


CSV_HEADER = (
    "cloud_profile_id,profile_name,uii,ani,dnis,outbound_externid,media_isci,media_network,media_market,"
    "media_code,media_format,media_version,media_length,enqueue_time,dequeue_time,queue_time,call_state,"
    "is_cellular,dequeue_attempts,call_result,inbound_duration,recording_url,connected_id,connected_name,"
    "connected_route,connected_duration,attempt_1_id,attempt_1_name,attempt_1_route,attempt_1_disp,"
    "attempt_2_id,attempt_2_name,attempt_2_route,attempt_2_disp"
)


def local_minute(value: datetime, zone: ZoneInfo) -> str:
    """``M/D/YY h:mm AM`` in the report zone: minute precision, no offset (§1.6)."""
    local = value.astimezone(zone)
    hour = local.hour % 12 or 12
    return f"{local.month}/{local.day}/{local:%y} {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def csv_row(call: SimCall, zone: ZoneInfo) -> str:
    """A Cloud_Call_Detail_Download row with the sample's quirks: 'uii, padded call_state, blanks."""
    name = PROFILES[call.profile_id]
    dest_name, dest_route = DESTINATIONS[call.destination_id]
    enqueue = local_minute(call.start, zone)
    if call.answered:
        dequeue = local_minute(call.start + timedelta(seconds=call.queue_seconds), zone)
        connected = [str(call.destination_id), dest_name, dest_route, str(call.talk_seconds)]
        attempts = [str(call.destination_id), dest_name, dest_route, f"ANSWER({min(call.queue_seconds, 9)})",
                    "", "", "", ""]
        result = "CONNECTED"
    else:
        dequeue, connected, result = "", ["", "", "", ""], "ABANDON"
        attempts = [""] * 8
    cells = [str(call.profile_id), name, "'" + call.uii, call.ani, call.dnis, "", "", "", "", "", "", "", "0",
             enqueue, dequeue, str(call.queue_seconds), "COMPLETE".ljust(20), "No", "1" if call.answered else "0",
             result, str(call.queue_seconds + call.talk_seconds), "", *connected, *attempts]
    return ",".join(cells)
