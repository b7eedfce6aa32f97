"""Column-mapping presets per carrier format (platforms-and-carriers.md §4) and mapping validation.

A mapping is a dict with the public keys of the mapping JSON (:data:`MAPPING_KEYS`). Presets may
also carry a few format options (:data:`OPTION_KEYS`) that a custom mapping cannot express; a saved
mapping made from a preset keeps them through ``based_on_preset``. Tags copied from the reference:
[C] confirmed, [3P] third-party evidence, [A] assumed.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError

COLUMN_KEYS = ("call_id", "record_id", "start", "duration", "billed_duration", "charge", "from", "to", "direction")
MAPPING_KEYS = (*COLUMN_KEYS, "start_format", "timezone", "duration_unit", "currency", "delimiter", "encoding")
DURATION_UNITS = ("seconds", "milliseconds", "minutes", "hms")

# Format options only presets set:
# - answer: answer-time column; the row's start is the answer time when present (talk starts there)
# - start_utc_reference: a UTC twin of ``start`` (Telnyx); its per-row offset converts ``answer``
# - end: end-time column; talk seconds = end − answer when both exist (Sinch EST inbound counts ringing)
# - rate: the carrier's per-minute rate column (for rate-mismatch evidence)
# - negative_charges: "charge" when the carrier writes charges negative (Twilio), else "credit"
OPTION_KEYS = ("answer", "start_utc_reference", "end", "rate", "negative_charges")

PRESETS: dict[str, dict[str, Any]] = {
    # Twilio Elastic SIP Trunking call log CSV [C columns, A header "SIP Call ID"]. Prices negative [C];
    # "Start Time" is the answer time [A which instant]; RFC 2822 in UTC [C].
    "twilio": {
        "call_id": "SIP Call ID", "record_id": "Call Sid", "start": "Start Time", "duration": "Duration",
        "charge": "Price", "currency": "Price Unit", "from": "From", "to": "To", "direction": "Direction",
        "start_format": "%a, %d %b %Y %H:%M:%S %z", "timezone": "UTC", "duration_unit": "seconds",
        "negative_charges": "charge",
    },
    # Telnyx CDR report [C names]; start_timestamp/answer_timestamp in the report zone, start_timestamp_utc
    # in UTC [C names, A semantics], so the per-row offset between the two converts the answer time.
    "telnyx": {
        "call_id": "sip_call_id", "record_id": "call_leg_id", "start": "start_timestamp",
        "start_utc_reference": "start_timestamp_utc", "answer": "answer_timestamp",
        "duration": "call_duration", "billed_duration": "billable_time", "charge": "cost",
        "rate": "rate", "currency": "currency", "from": "origination_number", "to": "terminating_number",
        "direction": "direction", "start_format": "iso", "timezone": "UTC", "duration_unit": "seconds",
    },
    # Bandwidth Insights [C]: duration in milliseconds, cost empty until rated; callId as SIP Call-ID [A].
    "bandwidth": {
        "call_id": "callId", "start": "startTime", "duration": "duration", "charge": "cost",
        "currency": "=USD", "from": "callingNumber", "to": "calledNumber", "direction": "callDirection",
        "start_format": "iso", "timezone": "UTC", "duration_unit": "milliseconds",
    },
    # Vonage VOICE-CALL [C]: no SIP Call-ID (fuzzy match), total_price is the charge, price the rate.
    "vonage": {
        "record_id": "call_id", "start": "date_start", "duration": "duration", "charge": "total_price",
        "rate": "price", "currency": "currency", "from": "from", "to": "to", "direction": "direction",
        "start_format": "iso", "timezone": "UTC", "duration_unit": "seconds",
    },
    # Plivo Zentrunk [C]: UTC without offset; billed_duration is after rounding [I].
    "plivo": {
        "record_id": "call_uuid", "start": "initiation_time", "answer": "answer_time",
        "duration": "call_duration", "billed_duration": "billed_duration", "charge": "total_amount",
        "rate": "total_rate", "currency": "=USD", "from": "from_number", "to": "to_number",
        "direction": "call_direction", "start_format": "iso", "timezone": "UTC", "duration_unit": "seconds",
    },
    # Flowroute CDR export [3P header]: cost_subtotal is the call part (total_cost includes fees [C]).
    "flowroute": {
        "start": "start_time", "duration": "duration", "billed_duration": "billed_duration",
        "charge": "cost_subtotal", "rate": "rate", "currency": "=USD", "from": "callerid",
        "to": "destination", "direction": "direction", "start_format": "iso", "timezone": "UTC",
        "duration_unit": "seconds",
    },
    # Sinch EST Call object flattened [A naming]; inbound durationSeconds counts from creation [C].
    "sinch_est": {
        "record_id": "callId", "start": "createTime", "answer": "answerTime", "end": "endTime",
        "duration": "durationSeconds", "billed_duration": "billingDurationSeconds",
        "charge": "price.amount", "rate": "pricePerMinute.amount", "currency": "price.currencyCode",
        "from": "from", "to": "to", "direction": "direction", "start_format": "iso", "timezone": "UTC",
        "duration_unit": "seconds",
    },
    # Sinch Voice CDR download [C columns, semicolons]; ISO times [A]; CallId is Sinch's own id.
    "sinch_voice": {
        "record_id": "CallId", "start": "CallTime", "answer": "AnswerTime", "duration": "Duration",
        "charge": "Amount", "currency": "Currency", "from": "From", "to": "To",
        "start_format": "iso", "timezone": "UTC", "duration_unit": "seconds", "delimiter": ";",
    },
    # DIDWW-style wholesale [A traits]: BOM, <> Call-IDs, local offsets, negative CREDIT lines.
    "generic_wholesale": {
        "call_id": "Call-ID", "start": "Start Time", "answer": "Connect Time", "duration": "Duration (sec)",
        "billed_duration": "Billed Duration (sec)", "charge": "Amount", "rate": "Rate/Min",
        "currency": "Currency", "from": "ANI", "to": "DNIS", "direction": "Direction",
        "start_format": "iso", "timezone": "UTC", "duration_unit": "seconds",
    },
}

PRESET_LABELS = {
    "twilio": "Twilio Elastic SIP Trunking call log",
    "telnyx": "Telnyx CDR report",
    "bandwidth": "Bandwidth Insights calls",
    "vonage": "Vonage Reports VOICE-CALL",
    "plivo": "Plivo Zentrunk calls",
    "flowroute": "Flowroute CDR export",
    "sinch_est": "Sinch Elastic SIP Trunking calls",
    "sinch_voice": "Sinch Voice CDR download",
    "generic_wholesale": "Generic wholesale (DIDWW-style)",
}


def validate_mapping(data: Any, *, allow_options: bool = False) -> dict[str, Any]:
    """Check a mapping object and return it cleaned; raises ValidationError listing every problem."""
    if not isinstance(data, dict):
        raise ValidationError("The mapping must be a JSON object.")
    allowed = set(MAPPING_KEYS) | (set(OPTION_KEYS) if allow_options else set())
    problems = [f"unknown key {key!r}" for key in data if key not in allowed]
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key not in allowed or value in (None, ""):
            continue
        if not isinstance(value, str):
            problems.append(f"{key!r} must be a string")
            continue
        clean[key] = value
    if "start" not in clean:
        problems.append("'start' (the start-time column) is required")
    if "duration" not in clean and "billed_duration" not in clean:
        problems.append("map 'duration' or 'billed_duration'")
    unit = clean.setdefault("duration_unit", "seconds")
    if unit not in DURATION_UNITS:
        problems.append(f"duration_unit must be one of {', '.join(DURATION_UNITS)}")
    clean.setdefault("start_format", "iso")
    tz = clean.setdefault("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(f"unknown time zone {tz!r} (use an IANA name such as Europe/Paris)")
    currency = clean.get("currency", "")
    if currency.startswith("=") and not (len(currency) == 4 and currency[1:].isalpha()):
        problems.append("a fixed currency is written =XXX, e.g. =EUR")
    if "delimiter" in clean and len(clean["delimiter"].replace("\\t", "\t")) != 1:
        problems.append("delimiter must be one character")
    if clean.get("negative_charges", "credit") not in ("charge", "credit"):
        problems.append("negative_charges must be 'charge' or 'credit'")
    if problems:
        raise ValidationError(problems)
    if "delimiter" in clean:
        clean["delimiter"] = clean["delimiter"].replace("\\t", "\t")
    return clean


def preset_mapping(name: str) -> dict[str, Any]:
    """A copy of a preset, validated; ValidationError for an unknown name."""
    if name not in PRESETS:
        raise ValidationError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return validate_mapping(dict(PRESETS[name]), allow_options=True)


def resolve_mapping(fields: dict[str, Any], based_on_preset: str = "") -> dict[str, Any]:
    """A saved mapping over its preset's format options (columns and zones come from ``fields``)."""
    options = {k: v for k, v in PRESETS.get(based_on_preset, {}).items() if k in OPTION_KEYS}
    return validate_mapping({**options, **fields}, allow_options=True)
