"""Deterministic synthetic Genesys traffic: (seed, UTC day, calls per day) -> detail records.

A pure function of its inputs, so tests can compute exactly what the sandbox serves. Shapes follow
genesys-samples/ (genesys-cloud.md §14): IVR->queue->agent with hold and wrap-up, outbound
user->external, blind transfer with two agents, abandoned in queue, callback with two customer
sessions. Numbers are in fictional ranges (NXX-555-01xx, +44 20 7946 0xxx, +44 7700 900xxx,
+61 491 570 xxx, +33 1 99 00 xx xx); hosts in documentation IP ranges. Ids encode (day, index):
``dddddddd-5a3b-<kind>-8sss-<index,k>`` so a conversation id leads back to its day.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Any

MS = timedelta(milliseconds=1)
OUR_DIDS = ["+14155550100", "+14155550101", "+14155550105", "+442079460000"]
QUEUES = {
    "00000000-5a3b-40a0-8000-000000000001": "Billing",
    "00000000-5a3b-40a0-8000-000000000002": "Sales",
    "00000000-5a3b-40a0-8000-000000000003": "Support UK",
}
WRAPUP_CODES = {
    "00000000-5a3b-40c0-8000-000000000001": "Billing - Resolved",
    "00000000-5a3b-40c0-8000-000000000002": "Billing - Transferred",
    "00000000-5a3b-40c0-8000-000000000003": "Sales - Callback Completed",
    "00000000-5a3b-40c0-8000-000000000004": "Sales - Order Placed",
}
AGENTS = [
    ("00000000-5a3b-405e-8000-000000000001", "Avery Example"),
    ("00000000-5a3b-405e-8000-000000000002", "Jordan Sample"),
    ("00000000-5a3b-405e-8000-000000000003", "Riley Placeholder"),
    ("00000000-5a3b-405e-8000-000000000004", "Morgan Testcase"),
]
EDGES = ["00000000-5a3b-40ed-8000-000000000001", "00000000-5a3b-40ed-8000-000000000002"]
US_AREAS = ["212", "312", "415", "617", "646", "713", "773", "206"]
SHAPES = (("ivr_queue_agent", 40), ("outbound", 25), ("abandoned", 15), ("blind_transfer", 10),
          ("callback", 10))
_SHAPE_NAMES = [name for name, _ in SHAPES]
_SHAPE_CUM_WEIGHTS = list(accumulate(weight for _, weight in SHAPES))
CONVERSATION = "4c01"
PARTICIPANT = "49a0"
SESSION = "45e5"
CALL = "41c1"


def iso(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds truncated), the form the API uses."""
    if value.year < 1000:  # strftime("%Y") does not pad these; isoformat does
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    # isoformat is several times faster than strftime; the sandbox formats ~30 instants per call.
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def make_id(day: date, kind: str, seed: int, index: int, k: int = 0) -> str:
    return f"{day.toordinal():08x}-5a3b-{kind}-8{seed % 4096:03x}-{(index << 8) + k:012x}"


def day_of(conversation_id: str) -> date | None:
    """The UTC day a sandbox conversation id was generated for (None if not ours)."""
    try:
        return date.fromordinal(int(conversation_id[:8], 16))
    except (ValueError, OverflowError):
        return None


def index_of(conversation_id: str) -> int:
    return int(conversation_id.rsplit("-", 1)[1], 16) >> 8


def external_number(rng: random.Random) -> str:
    """A caller/callee: mostly US, some UK landline and mobile, AU mobile, France."""
    roll = rng.random()
    if roll < 0.6:
        return f"+1{rng.choice(US_AREAS)}55501{rng.randint(0, 99):02d}"
    if roll < 0.75:
        return f"+4420794600{rng.randint(0, 99):02d}"[:13]
    if roll < 0.85:
        return f"+447700900{rng.randint(0, 999):03d}"
    if roll < 0.93:
        return f"+61491570{rng.randint(100, 159):03d}"
    return f"+3319900{rng.randint(0, 9999):04d}"


def call_id(rng: random.Random) -> str:
    """A PSTN-leg SIP Call-ID, ``user@ip`` (§14)."""
    host = rng.choice(["198.51.100.", "203.0.113."]) + str(rng.randint(2, 250))
    return f"{rng.getrandbits(80):020x}@{host}"


class _Builder:
    """Builds one conversation; ids derived from (day, index) and a per-conversation counter."""

    def __init__(self, day: date, seed: int, index: int, rng: random.Random) -> None:
        self.day, self.seed, self.index, self.rng = day, seed, index, rng
        self.k = 0
        self.conversation_id = make_id(day, CONVERSATION, seed, index)

    def next_id(self, kind: str) -> str:
        self.k += 1
        return make_id(self.day, kind, self.seed, self.index, self.k)

    def participant(self, purpose: str, name: str, sessions: list[dict[str, Any]], **extra: Any) -> dict:
        p: dict[str, Any] = {"participantId": self.next_id(PARTICIPANT), "participantName": name,
                             "purpose": purpose}
        p.update(extra)
        p["sessions"] = sessions
        return p

    def session(self, media: str, direction: str, segments: list[dict], metrics: list[dict], **extra: Any) -> dict:
        s: dict[str, Any] = {"mediaType": media, "sessionId": self.next_id(SESSION), "direction": direction}
        s.update({k: v for k, v in extra.items() if v is not None})
        if metrics:
            s["metrics"] = metrics
        s["segments"] = segments
        return s


def seg(kind: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    s = {"segmentStart": iso(start), "segmentEnd": iso(end), "segmentType": kind}
    s.update(extra)
    return s


def metric(name: str, value: int, at: datetime) -> dict[str, Any]:
    return {"name": name, "value": int(value), "emitDate": iso(at)}


def span(a: datetime, b: datetime) -> int:
    return int(round((b - a) / MS))


def _secs(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(milliseconds=rng.randint(int(low * 1000), int(high * 1000)) // 100 * 100)


def _voice_common(b: _Builder, ani: str, dnis: str, edge: str) -> dict[str, Any]:
    return {"ani": f"tel:{ani}", "dnis": f"tel:{dnis}", "sessionDnis": f"tel:{dnis}", "provider": "Edge",
            "edgeId": edge}


def _inbound(b: _Builder, start: datetime, shape: str) -> tuple[list[dict], datetime]:
    rng = b.rng
    caller = external_number(rng)
    did = rng.choice(OUR_DIDS)
    edge = EDGES[0]
    queue_id = rng.choice(list(QUEUES))
    common = _voice_common(b, caller, did, edge)
    customer_session_id = make_id(b.day, SESSION, b.seed, b.index, 2)
    t_ivr_end = start + _secs(rng, 8, 45)
    participants: list[dict] = []
    internal: list[dict] = []
    ivr = b.participant("ivr", "Main Menu", [b.session(
        "voice", "inbound", [seg("ivr", start, t_ivr_end, disconnectType="transfer")],
        [metric("nFlow", 1, start), metric("tIvr", span(start, t_ivr_end), t_ivr_end),
         metric("tFlow", span(start, t_ivr_end), t_ivr_end)],
        **common, peerId=customer_session_id, protocolCallId=b.next_id(CALL), remote=caller[1:],
        flow={"flowId": "00000000-5a3b-40f1-8000-000000000001", "flowName": "Main Menu",
              "flowType": "INBOUNDCALL", "entryType": "dnis", "entryReason": f"tel:{did}",
              "exitReason": "TRANSFER", "transferType": "ACD", "transferTargetAddress": queue_id,
              "transferTargetName": QUEUES[queue_id]},
    )])
    internal.append(ivr)
    cursor = t_ivr_end
    wrap_codes = list(WRAPUP_CODES)
    if shape == "abandoned":
        abandon = cursor + _secs(rng, 5, 240)
        internal.append(b.participant("acd", QUEUES[queue_id], [b.session(
            "voice", "inbound", [seg("interact", cursor, abandon, queueId=queue_id, disconnectType="peer")],
            [metric("nOffered", 1, cursor), metric("tAbandon", span(cursor, abandon), abandon),
             metric("tAcd", span(cursor, abandon), abandon)],
            **common, peerId=customer_session_id, protocolCallId=b.next_id(CALL), remote=caller[1:])]))
        end = last_customer = abandon
    else:
        agents = 2 if shape == "blind_transfer" else 1
        queue_ids = [queue_id] + [q for q in QUEUES if q != queue_id][: agents - 1]
        for n, qid in enumerate(queue_ids):
            answered = cursor + _secs(rng, 5, 120)
            internal.append(b.participant("acd", QUEUES[qid], [b.session(
                "voice", "inbound", [seg("interact", cursor, answered, queueId=qid, disconnectType="transfer")],
                [metric("nOffered", 1, cursor), metric("tAcd", span(cursor, answered), answered)],
                **common, peerId=customer_session_id, protocolCallId=b.next_id(CALL), remote=caller[1:])]))
            user_id, name = AGENTS[(b.index + n) % len(AGENTS)]
            alert_start = answered - _secs(rng, 3, 9)
            segments = [seg("alert", alert_start, answered, queueId=qid)]
            metrics = [metric("tAlert", span(alert_start, answered), answered),
                       metric("tAnswered", span(cursor, answered), answered)]
            talk_end = answered + _secs(rng, 30, 900)
            last_agent = n == agents - 1
            if last_agent and shape == "ivr_queue_agent" and rng.random() < 0.5:
                hold_start = answered + (talk_end - answered) / 3
                hold_start = hold_start.replace(microsecond=hold_start.microsecond // 1000 * 1000)
                hold_end = hold_start + _secs(rng, 10, 120)
                talk_end = talk_end + (hold_end - hold_start) + MS * 0
                segments += [seg("interact", answered, hold_start, queueId=qid),
                             seg("hold", hold_start, hold_end, queueId=qid),
                             seg("interact", hold_end, talk_end, queueId=qid, disconnectType="peer")]
                held = span(hold_start, hold_end)
                talk = span(answered, hold_start) + span(hold_end, talk_end)
                metrics += [metric("tTalk", span(answered, hold_start), hold_start),
                            metric("tHeld", held, hold_end), metric("tHeldComplete", held, talk_end),
                            metric("tTalk", span(hold_end, talk_end), talk_end),
                            metric("tTalkComplete", talk, talk_end)]
            else:
                held = 0
                talk = span(answered, talk_end)
                segments.append(seg("interact", answered, talk_end, queueId=qid,
                                    disconnectType="peer" if last_agent else "transfer"))
                metrics += [metric("tTalk", talk, talk_end), metric("tTalkComplete", talk, talk_end)]
                if not last_agent:
                    metrics += [metric("nTransferred", 1, talk_end), metric("nBlindTransferred", 1, talk_end)]
            acw_end = talk_end + _secs(rng, 10, 60)
            code = wrap_codes[1] if not last_agent else rng.choice([wrap_codes[0], wrap_codes[3]])
            wrap = seg("wrapup", talk_end, acw_end, queueId=qid, wrapUpCode=code)
            if rng.random() < 0.3:
                wrap["wrapUpNote"] = "Sample note: customer asked about their invoice."
            segments.append(wrap)
            acw = span(talk_end, acw_end)
            metrics += [metric("tAcw", acw, acw_end), metric("tHandle", talk + held + acw, acw_end)]
            internal.append(b.participant("agent", name, [b.session(
                "voice", "inbound", segments, metrics, **common, peerId=customer_session_id,
                protocolCallId=b.next_id(CALL), remote=caller[1:], usedRouting="Standard")],
                userId=user_id))
            cursor = talk_end
            last_customer = talk_end
            end = acw_end
    connected = start + MS * 260
    customer = b.participant("customer", caller[2:] if caller.startswith("+1") else caller[1:], [{
        "mediaType": "voice", "sessionId": customer_session_id, "direction": "inbound", **common,
        "protocolCallId": call_id(rng), "remoteNameDisplayable": "CALLER",
        "metrics": [metric("nConnected", 1, connected),
                    metric("tConnected", span(connected, last_customer), last_customer)],
        "segments": [seg("system", start, connected),
                     seg("interact", connected, last_customer, queueId=queue_id, disconnectType="endpoint",
                         q850ResponseCodes=[16])],
    }], attributes={"accountTier": rng.choice(["gold", "silver", "bronze"])})
    # The customer participant was given participant counter 1 and session counter 2 up front.
    customer["participantId"] = make_id(b.day, PARTICIPANT, b.seed, b.index, 1)
    participants = [customer, *internal]
    return participants, end


def _outbound(b: _Builder, start: datetime) -> tuple[list[dict], datetime]:
    rng = b.rng
    user_id, name = AGENTS[b.index % len(AGENTS)]
    ours = rng.choice(OUR_DIDS)
    callee = external_number(rng)
    edge = EDGES[1]
    common = _voice_common(b, ours, callee, edge)
    dial_end = start + _secs(rng, 0.5, 2)
    answered = dial_end + _secs(rng, 3, 25)
    unanswered = rng.random() < 0.12
    talk_end = answered + _secs(rng, 20, 1500)
    user_session = {
        "mediaType": "voice", "sessionId": b.next_id(SESSION), "direction": "outbound", **common,
        "addressFrom": f"tel:{ours}", "addressTo": f"tel:{callee}", "protocolCallId": b.next_id(CALL),
        "remote": callee,
    }
    if unanswered:
        user_session["metrics"] = [metric("nOutbound", 1, start),
                                   metric("tContacting", span(dial_end, answered), answered)]
        user_session["segments"] = [seg("dialing", start, dial_end),
                                    seg("contacting", dial_end, answered, disconnectType="client")]
        ext_session = {"mediaType": "voice", "sessionId": b.next_id(SESSION), "direction": "outbound",
                       **common, "protocolCallId": call_id(rng), "peerId": user_session["sessionId"],
                       "segments": [seg("dialing", dial_end, answered, disconnectType="peer",
                                        sipResponseCodes=[487])]}
        end = answered
    else:
        talk = span(answered, talk_end)
        user_session["metrics"] = [metric("nOutbound", 1, start),
                                   metric("tContacting", span(dial_end, answered), answered),
                                   metric("tTalk", talk, talk_end), metric("tTalkComplete", talk, talk_end)]
        user_session["segments"] = [seg("dialing", start, dial_end), seg("contacting", dial_end, answered),
                                    seg("interact", answered, talk_end, disconnectType="client")]
        ext_session = {"mediaType": "voice", "sessionId": b.next_id(SESSION), "direction": "outbound",
                       **common, "protocolCallId": call_id(rng), "peerId": user_session["sessionId"],
                       "metrics": [metric("nConnected", 1, answered), metric("tConnected", talk, talk_end)],
                       "segments": [seg("interact", answered, talk_end, disconnectType="peer",
                                        sipResponseCodes=[200])]}
        end = talk_end
    participants = [
        {"participantId": b.next_id(PARTICIPANT), "participantName": name, "purpose": "user",
         "userId": user_id, "sessions": [user_session]},
        {"participantId": b.next_id(PARTICIPANT), "participantName": callee.lstrip("+"),
         "purpose": "external", "sessions": [ext_session]},
    ]
    return participants, end


def _callback(b: _Builder, start: datetime) -> tuple[list[dict], datetime]:
    rng = b.rng
    user_id, name = AGENTS[b.index % len(AGENTS)]
    number = external_number(rng)
    ours = OUR_DIDS[1]
    queue_id = "00000000-5a3b-40a0-8000-000000000002"
    edge = EDGES[1]
    cb_session_id = b.next_id(SESSION)
    voice_session_id = b.next_id(SESSION)
    scheduled_end = start + _secs(rng, 60, 1800)
    agent_answer = scheduled_end + _secs(rng, 3, 9)
    dial_start = agent_answer + _secs(rng, 1, 2)
    connected = dial_start + _secs(rng, 5, 20)
    talk_end = connected + _secs(rng, 30, 900)
    acw_end = talk_end + _secs(rng, 10, 60)
    talk = span(connected, talk_end)
    acw = span(talk_end, acw_end)
    common = _voice_common(b, ours, number, edge)
    customer = {"participantId": b.next_id(PARTICIPANT), "participantName": "Callback Customer",
                "purpose": "customer", "sessions": [
                    {"mediaType": "callback", "sessionId": cb_session_id, "direction": "inbound",
                     "callbackNumbers": [number], "callbackUserName": "Callback Customer",
                     "segments": [seg("scheduled", start, scheduled_end, queueId=queue_id)]},
                    {"mediaType": "voice", "sessionId": voice_session_id, "direction": "outbound", **common,
                     "protocolCallId": call_id(rng),
                     "metrics": [metric("nConnected", 1, connected), metric("tConnected", talk, talk_end)],
                     "segments": [seg("interact", connected, talk_end, queueId=queue_id,
                                      disconnectType="endpoint", sipResponseCodes=[200])]},
                ]}
    acd = {"participantId": b.next_id(PARTICIPANT), "participantName": QUEUES[queue_id], "purpose": "acd",
           "sessions": [{"mediaType": "callback", "sessionId": b.next_id(SESSION), "direction": "inbound",
                         "peerId": cb_session_id,
                         "metrics": [metric("nOffered", 1, start), metric("tAcd", span(start, agent_answer),
                                                                            agent_answer)],
                         "segments": [seg("interact", start, agent_answer, queueId=queue_id,
                                          disconnectType="transfer")]}]}
    agent = {"participantId": b.next_id(PARTICIPANT), "participantName": name, "purpose": "agent",
             "userId": user_id, "sessions": [
                 {"mediaType": "callback", "sessionId": b.next_id(SESSION), "direction": "inbound",
                  "peerId": cb_session_id, "callbackNumbers": [number],
                  "metrics": [metric("tAlert", span(scheduled_end, agent_answer), agent_answer)],
                  "segments": [seg("alert", scheduled_end, agent_answer, queueId=queue_id),
                               seg("interact", agent_answer, dial_start, queueId=queue_id,
                                   disconnectType="transfer")]},
                 {"mediaType": "voice", "sessionId": b.next_id(SESSION), "direction": "outbound",
                  "peerId": voice_session_id, **common, "protocolCallId": b.next_id(CALL), "remote": number,
                  "metrics": [metric("nOutbound", 1, dial_start),
                              metric("tContacting", span(dial_start, connected), connected),
                              metric("tTalk", talk, talk_end), metric("tTalkComplete", talk, talk_end),
                              metric("tAcw", acw, acw_end), metric("tHandle", talk + acw, acw_end)],
                  "segments": [seg("contacting", dial_start, connected, queueId=queue_id),
                               seg("interact", connected, talk_end, queueId=queue_id, disconnectType="peer"),
                               seg("wrapup", talk_end, acw_end, queueId=queue_id,
                                   wrapUpCode="00000000-5a3b-40c0-8000-000000000003")]},
             ]}
    return [customer, acd, agent], acw_end


def _conversation(day: date, seed: int, index: int, start: datetime) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{day.isoformat()}:{index}")
    shape = rng.choices(_SHAPE_NAMES, cum_weights=_SHAPE_CUM_WEIGHTS)[0]  # = weights=..., precomputed
    b = _Builder(day, seed, index, rng)
    if shape == "outbound":
        participants, end = _outbound(b, start)
        direction = "outbound"
    elif shape == "callback":
        participants, end = _callback(b, start)
        direction = "inbound"
    else:
        b.k = 2  # the customer participant/session take counters 1 and 2
        participants, end = _inbound(b, start, shape)
        direction = "inbound"
    return {
        "conversationId": b.conversation_id,
        "conversationStart": iso(start),
        "conversationEnd": iso(end),
        "originatingDirection": direction,
        "divisionIds": ["00000000-5a3b-40d1-8000-000000000001"],
        "mediaStatsMinConversationMos": round(rng.uniform(3.6, 4.5), 2),
        "participants": participants,
    }


@lru_cache(maxsize=64)
def _start_times(seed: int, day: date, calls_per_day: int) -> tuple[datetime, ...]:
    rng = random.Random(f"{seed}:{day.isoformat()}:starts")
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ms = sorted(rng.randrange(0, 86_400_000) for _ in range(calls_per_day))
    # Always one call a few minutes before midnight, so calls cross day (and chunk) boundaries.
    if calls_per_day >= 2:
        ms[-1] = 86_400_000 - 120_000
    return tuple(midnight + timedelta(milliseconds=m // 100 * 100) for m in ms)


def conversations_for_day(seed: int, day: date, calls_per_day: int) -> list[dict[str, Any]]:
    """Every conversation started on ``day`` (UTC), ordered by start."""
    return [_conversation(day, seed, i, start)
            for i, start in enumerate(_start_times(seed, day, calls_per_day))]


def conversation_by_id(seed: int, conversation_id: str, calls_per_day: int) -> dict[str, Any] | None:
    day = day_of(conversation_id)
    if day is None:
        return None
    index = index_of(conversation_id)
    starts = _start_times(seed, day, calls_per_day)
    if index >= len(starts):
        return None
    record = _conversation(day, seed, index, starts[index])
    return record if record["conversationId"] == conversation_id else None


def conversations_overlapping(
    seed: int, start: datetime, end: datetime, calls_per_day: int
) -> list[dict[str, Any]]:
    """Job semantics (§4.1): conversations whose lifetime overlaps [start, end), ordered by start."""
    out = []
    day = (start - timedelta(days=1)).date()  # calls last under a day: the day before can overlap
    while day <= end.date():
        for record in conversations_for_day(seed, day, calls_per_day):
            c_start = datetime.fromisoformat(record["conversationStart"])
            c_end = datetime.fromisoformat(record["conversationEnd"])
            if c_start < end and c_end >= start:
                out.append(record)
        day += timedelta(days=1)
    return out


def conversations_started_on_days(
    seed: int, start: datetime, end: datetime, calls_per_day: int
) -> list[dict[str, Any]]:
    """Sync-query semantics (§5): conversations started on a UTC day touched by [start, end)."""
    out = []
    day = start.date()
    last = (end - MS).date()
    while day <= last:
        out.extend(conversations_for_day(seed, day, calls_per_day))
        day += timedelta(days=1)
    return out


def as_open(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The record as seen at ``now`` while the call is in progress: no conversationEnd, later parts cut."""
    stamp = iso(now)
    if record.get("conversationEnd", "") <= stamp:
        return record
    copy = {k: v for k, v in record.items() if k not in ("conversationEnd", "participants")}
    copy["participants"] = []
    for participant in record["participants"]:
        sessions = []
        for session in participant["sessions"]:
            segments = []
            for s in session["segments"]:
                if s["segmentStart"] > stamp:
                    continue
                if s["segmentEnd"] > stamp:
                    s = {k: v for k, v in s.items() if k not in ("segmentEnd", "disconnectType")}
                segments.append(s)
            if not segments:
                continue
            s_copy = {k: v for k, v in session.items() if k not in ("metrics", "segments")}
            metrics = [m for m in session.get("metrics", ()) if m["emitDate"] <= stamp]
            if metrics:
                s_copy["metrics"] = metrics
            s_copy["segments"] = segments
            sessions.append(s_copy)
        if sessions:
            copy["participants"].append({**participant, "sessions": sessions})
    return copy
