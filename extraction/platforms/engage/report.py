"""The deprecated Cloud Call Detail Report (platforms-and-carriers.md §1.4-§1.6): request body,
profile discovery, CSV parsing with line numbers, and rows -> calls.

Quirks handled: ``uii`` prefixed with an apostrophe (strip it), ``call_state`` space-padded to 20
characters (trim), blank ``attempt_N_*`` and ``connected_*`` columns on abandoned calls, and
``M/D/YY h:mm AM`` times with minute precision and no offset, in the report's ``timezoneName``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from extraction.platforms import PlatformError
from extraction.platforms.engage.calls import Call

REPORT_NAME = "Cloud_Call_Detail_Download"
REQUIRED_COLUMNS = ("uii", "ani", "dnis", "enqueue_time", "queue_time", "call_result", "connected_duration")
TIME_FORMAT = "%m/%d/%y %I:%M %p"  # '11/3/26 7:10 AM' (strptime accepts the unpadded month/day/hour)
LINE = "_line"


def report_body(*, account_id: str, profile_groups: list[int | None], profiles: list[int], start: datetime,
                end: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """The §1.4 request, grouped by PROFILE; timestamps are local to ``zone`` (``YYYY-MM-DD HH:MM:SS``)."""
    return {
        "delimiter": "COMMA",
        "reportType": "CASPER_REPORT",
        "reportTypeName": REPORT_NAME,
        "reportCriteria": {
            "accountIds": [account_id],
            "groupBy": "PROFILE",
            "cloudDestinationGroupIds": [],
            "cloudDestinationIds": [],
            "cloudProfileGroupIds": profile_groups,
            "cloudProfileIds": profiles,
            "startTimestamp": f"{start.astimezone(zone):%Y-%m-%d %H:%M:%S}",
            "endTimestamp": f"{end.astimezone(zone):%Y-%m-%d %H:%M:%S}",
            "timezoneName": zone.key,
            "criteriaType": "CASPER_CRITERIA",
            "reportName": REPORT_NAME,
            "returnType": "CSV",
            "schedule": {"repeatOption": "ONCE"},
        },
    }


def profile_ids(groups: Any) -> tuple[list[int | None], list[int]]:
    """(group ids incl. None for "ungrouped", profile ids) from an inputControls answer.

    §1.5: only "groups with ``groupId``, children with ``objId``" is documented; the envelope is
    [A], so a bare list or an object holding the list under a few likely keys is accepted.
    """
    if isinstance(groups, dict):
        groups = next((groups[k] for k in ("groups", "inputControls", "data", "items") if isinstance(
            groups.get(k), list)), [])
    if not isinstance(groups, list):
        raise PlatformError("RingCX sent an inputControls answer without a list of groups")
    group_ids: list[int | None] = []
    ids: list[int] = []
    for group in groups:
        if not isinstance(group, dict):
            continue
        gid = group.get("groupId")
        if gid not in group_ids:
            group_ids.append(gid)
        for child in group.get("children") or []:
            if isinstance(child, dict) and child.get("objId") is not None and child["objId"] not in ids:
                ids.append(child["objId"])
    if None not in group_ids:
        group_ids.append(None)  # §1.4: include null to mean "ungrouped" profiles
    return group_ids, ids


def parse_csv(text: str) -> list[dict[str, Any]]:
    """CSV text -> row dicts carrying their physical line number under ``_line`` (header = line 1)."""
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="_extra")
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if reader.fieldnames is None and not text.strip():
        return []
    if missing:
        raise PlatformError(f"The Call Detail Report has no column(s) {', '.join(missing)}: not a "
                            f"{REPORT_NAME} CSV (or a truncated one)")
    rows = []
    for row in reader:
        row[LINE] = reader.line_num
        rows.append(row)
    if rows and None in rows[-1].values() and not text.endswith(("\n", "\r")):
        # A last row cut short with no line end: the download was truncated, and rows after it
        # are missing without trace. Fail the page rather than store part of it as complete.
        raise TruncatedReport(f"The Call Detail Report ends mid-row at line {rows[-1][LINE]}: truncated")
    return rows


class TruncatedReport(PlatformError):
    """The CSV stops mid-row: a cut download, never stored as if complete."""


class RowError(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"column {column}: {reason}")


def _int(row: dict[str, Any], column: str, *, blank: int | None = None) -> int:
    value = (row.get(column) or "").strip()
    if not value and blank is not None:
        return blank
    try:
        number = int(value)
    except ValueError:
        raise RowError(column, f"{value[:20]!r} is not a whole number of seconds") from None
    if number < 0:
        raise RowError(column, "negative duration")
    return number


def local_to_utc(text: str, zone: ZoneInfo, column: str) -> tuple[datetime, str]:
    """A minute-precision local time -> UTC, plus a note when the wall time was ambiguous (DST)."""
    value = (text or "").strip()
    try:
        naive = datetime.strptime(value, TIME_FORMAT)
    except ValueError:
        raise RowError(column, f"{value[:30]!r} is not a time like 11/3/26 7:10 AM") from None
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    note = ""
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back == naive:
            # §5.13: a fall-back hour happens twice; the report gives no offset, so the earlier
            # (fold=0) reading is taken and may be an hour early.
            note = f"column {column}: {value} is ambiguous in {zone.key} (DST fall-back); read as the first one"
        else:
            note = f"column {column}: {value} does not exist in {zone.key} (DST spring-forward); read as fold=0"
    return first.astimezone(UTC), note


def row_to_call(row: dict[str, Any], zone: ZoneInfo) -> tuple[Call, str]:
    """One CSV row -> a Call (and a DST note or ''); RowError names the column at fault."""
    if None in row.values():
        raise RowError("*", "the row has fewer columns than the header")
    uii = (row.get("uii") or "").strip().lstrip("'")  # §1.6: the apostrophe guards spreadsheets
    if not uii.isdigit():
        raise RowError("uii", "missing or not a numeric interaction id")
    started, note = local_to_utc(row.get("enqueue_time") or "", zone, "enqueue_time")
    queue_seconds = _int(row, "queue_time", blank=0)
    connected_seconds = _int(row, "connected_duration", blank=0)
    inbound_seconds = _int(row, "inbound_duration", blank=queue_seconds + connected_seconds)
    result = (row.get("call_result") or "").strip().upper()
    answered = result == "CONNECTED" and connected_seconds > 0
    # Minute precision: answer = enqueue + queue_time is as good as the report allows. The carrier
    # side is matched with a >= 60 s window (§3.3). Billable time is connected_duration, not
    # inbound_duration (= queue_time + connected_duration, §1.6 [I]).
    connected_at = started + timedelta(seconds=queue_seconds) if answered else None
    ended_at = (connected_at + timedelta(seconds=connected_seconds) if connected_at
                else started + timedelta(seconds=inbound_seconds))
    queue_id = (row.get("connected_id") or row.get("attempt_1_id") or "").strip()
    call = Call(
        call_id=uii,
        direction="inbound",  # cloud routing reports route inbound calls (§1.6 [I])
        ani=(row.get("ani") or "").strip(),
        dnis=(row.get("dnis") or "").strip(),
        started_at=started,
        connected_at=connected_at,
        ended_at=ended_at,
        duration_ms=connected_seconds * 1000 if answered else 0,
        talk_ms=connected_seconds * 1000 if answered else 0,
        queue_id=queue_id,
        disconnect_type=result.lower(),
    )
    return call, note
