"""One normalised call -> our Conversation row and one CallLeg row (shared by Engage and Voiso).

Neither platform exposes a SIP Call-ID (platforms-and-carriers.md §1.6, §2.1), so ``sip_call_id``
stays empty and reconciliation matches these legs with its number + time + duration fallback (§3.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers

from extraction.platforms.genesys.flatten import to_e164

_DIGITS = re.compile(r"^\d{11,15}$")


def number_e164(raw: str | None, region: str) -> str:
    """'+E164' or ''. Digits-only 11-15 digit values are tried as international first (Voiso sends
    ``13125550101`` and ``447700900123`` alike [3P]); a 10-digit NANP value uses the region."""
    text = (raw or "").strip()
    if _DIGITS.match(text) and not text.startswith("0"):
        try:
            number = phonenumbers.parse("+" + text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return to_e164(text, region)


@dataclass(frozen=True)
class Call:
    """A platform call in our terms: UTC instants, milliseconds, lower-case direction."""

    call_id: str
    direction: str  # inbound | outbound
    ani: str
    dnis: str
    started_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None
    duration_ms: int  # answer -> end: what the carrier bills
    talk_ms: int = 0
    queue_id: str = ""
    wrapup_code: str = ""
    disconnect_type: str = ""
    agent_id: str = ""
    agent_name: str = ""
    trunk: str = ""


def rows_for(call: Call, *, region: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(conversation row, leg row) in the shapes ``extraction.storage`` stores."""
    participants = []
    if call.agent_id or call.agent_name:
        # The id column is not masked, so a name never goes there (PII lives in participant_name).
        participants.append({"participant_id": call.agent_id or "agent", "participant_name": call.agent_name,
                             "purpose": "agent", "user_id": call.agent_id, "external_contact_id": "",
                             "attributes": {}, "sessions": []})
    conversation = {
        "conversation_id": call.call_id,
        "conversation_start": call.started_at,
        "conversation_end": call.ended_at,
        "is_open": False,  # both platforms report finished calls only
        "originating_direction": call.direction,
        "division_ids": [],
        "media_stats_min_conversation_mos": None,
        "participants": participants,
    }
    leg = {
        "external_call_id": call.call_id,
        "leg_id": call.call_id,  # one carrier leg per call on these platforms
        "sip_call_id": "",
        "sip_call_id_local": "",
        "direction": call.direction,
        "ani": call.ani,
        "dnis": call.dnis,
        "ani_e164": number_e164(call.ani, region),
        "dnis_e164": number_e164(call.dnis, region),
        "started_at": call.started_at,
        "connected_at": call.connected_at,
        "ended_at": call.ended_at,
        "duration_ms": max(0, call.duration_ms),
        "talk_ms": max(0, call.talk_ms),
        "queue_id": call.queue_id,
        "wrapup_code": call.wrapup_code,
        "edge_id": "",
        "trunk": call.trunk,
        "provider": "",
        "purpose": "customer",
        "is_open": False,
        "disconnect_type": call.disconnect_type[:32],
        "sip_response_code": None,
    }
    return conversation, leg
