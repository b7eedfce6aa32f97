"""The data-quality preview shown before an import commits, and time-offset detection."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from extraction.models import CallLeg
from reconciliation.reader import FileFormat, RowError, delimiter_name

OFFSET_STEP_SECONDS = 900  # zones differ by whole quarter hours
OFFSET_RESIDUAL_SECONDS = 60


def build_preview(
    *,
    fmt: FileFormat,
    header: list[str],
    frame: pd.DataFrame,
    errors: list[RowError],
    rows_read: int,
    rows_estimate: int,
    mapping: dict[str, Any],
    timezone: str,
    period: tuple[date | None, date | None],
) -> dict[str, Any]:
    """What the importer detected in the first rows, as JSON for the upload row."""
    blank = mapping.get("duration") and len(frame) and "duration_blank" in frame
    empty_durations = int(frame["duration_blank"].sum()) if blank else 0
    zero_durations = int((frame["duration_seconds"] == 0).sum()) if len(frame) else 0
    keys = _dup_keys(frame) if len(frame) else pd.Series(dtype=str)
    starts = frame["start_utc"] if len(frame) else pd.Series(dtype="datetime64[us, UTC]")
    first = starts.min() if len(starts) else None
    last = starts.max() if len(starts) else None
    outside = 0
    if len(starts) and period[0] and period[1]:
        lo = pd.Timestamp(period[0], tz="UTC")
        hi = pd.Timestamp(period[1] + timedelta(days=1), tz="UTC")
        outside = int(((starts < lo) | (starts >= hi)).sum())
    unknown_directions = []
    if mapping.get("direction") and len(frame):
        unknown = frame.loc[(frame["direction"] == "") & (frame["direction_raw"] != ""), "direction_raw"]
        unknown_directions = sorted(unknown.unique().tolist())[:10]
    charges = frame["charge"] if len(frame) else pd.Series(dtype=str)
    return {
        "compression": fmt.compression or "none",
        "encoding": fmt.encoding,
        "bom": fmt.bom,
        "delimiter": delimiter_name(fmt.delimiter),
        "header": header,
        "sample_rows": rows_read,
        "rows_estimate": rows_estimate,
        "sample_good_rows": int(len(frame)),
        "sample_errors": [{"line": e.line, "column": e.column, "reason": e.reason} for e in errors[:50]],
        "sample_error_count": len({e.line for e in errors}),
        "duration_unit": mapping.get("duration_unit", "seconds"),
        "start_format": mapping.get("start_format", "iso"),
        "timezone": timezone,
        "ambiguous_times": int(frame["start_ambiguous"].sum()) if len(frame) else 0,
        "credit_lines": int(frame["is_credit"].sum()) if len(frame) else 0,
        "forwarded_legs": int(frame["is_forwarded"].sum()) if len(frame) else 0,
        "duplicates": int(keys.duplicated().sum()) if len(keys) else 0,
        "empty_durations": empty_durations,
        "zero_durations": zero_durations,
        "empty_charges": int((charges == "").sum()) if len(charges) else 0,
        "with_call_id": int((frame["sip_call_id"] != "").sum()) if len(frame) else 0,
        "unknown_directions": unknown_directions,
        "first_start_utc": first.isoformat() if first is not None and not pd.isna(first) else None,
        "last_start_utc": last.isoformat() if last is not None and not pd.isna(last) else None,
        "period_start": period[0].isoformat() if period[0] else None,
        "period_end": period[1].isoformat() if period[1] else None,
        "outside_period": outside,
        "currencies": sorted(frame["currency"].unique().tolist()) if len(frame) else [],
        "suggested_offset_minutes": detect_offset_minutes(frame) if len(frame) else None,
    }


def _dup_keys(frame: pd.DataFrame) -> pd.Series:
    """Duplicate key: Call-ID, else the carrier's record id, else the call's own fields (pitfall 3)."""
    fallback = (
        frame["direction"].astype(str) + "|" + frame["from_e164"].astype(str) + "|"
        + frame["to_e164"].astype(str) + "|" + frame["start_utc"].astype(str) + "|"
        + frame["duration_seconds"].astype(str)
    )
    by_record = ("r:" + frame["record_id"]).where(frame["record_id"] != "", "f:" + fallback)
    by_call = ("c:" + frame["sip_call_id"]).where(frame["sip_call_id"] != "", by_record)
    credit = frame["is_credit"].map({True: "credit:", False: ""})
    return credit + by_call


def detect_offset_minutes(frame: pd.DataFrame, *, min_rows: int = 3) -> int | None:
    """A systematic shift (minutes, file minus platform) between carrier starts and platform legs.

    Rows with a Call-ID are compared with their leg; the others with legs of the same far-end number
    within 14 h. Returns None unless most comparable rows agree on one non-zero quarter-hour shift.
    """
    rows = frame[~frame["is_credit"]]
    if rows.empty:
        return None
    lo = rows["start_utc"].min() - timedelta(hours=15)
    hi = rows["start_utc"].max() + timedelta(hours=15)
    deltas = _deltas_by_call_id(rows, lo, hi)
    if len(deltas) < min_rows:
        deltas = pd.concat([deltas, _deltas_by_number(rows, lo, hi)])
    if deltas.empty:
        return None
    steps = (deltas / OFFSET_STEP_SECONDS).round()
    residual = (deltas - steps * OFFSET_STEP_SECONDS).abs()
    steps = steps[residual <= OFFSET_RESIDUAL_SECONDS]
    if len(steps) < min_rows:
        return None
    counts = steps.value_counts()
    best, hits = counts.index[0], counts.iloc[0]
    if best == 0 or hits < max(min_rows, 0.5 * len(steps)) or hits <= counts.get(0, 0):
        return None
    return int(best * OFFSET_STEP_SECONDS // 60)


def _leg_times(qs) -> pd.DataFrame:
    legs = pd.DataFrame.from_records(
        qs.values_list("id", "sip_call_id", "direction", "ani_e164", "dnis_e164", "started_at", "connected_at"),
        columns=["leg_id", "sip_call_id", "direction", "ani_e164", "dnis_e164", "started_at", "connected_at"],
    )
    if not legs.empty:
        legs["leg_start"] = pd.to_datetime(legs["connected_at"].where(legs["connected_at"].notna(),
                                                                      legs["started_at"]), utc=True)
    return legs


def _deltas_by_call_id(rows: pd.DataFrame, lo: datetime, hi: datetime) -> pd.Series:
    ids = rows.loc[rows["sip_call_id"] != "", "sip_call_id"].unique().tolist()[:5000]
    if not ids:
        return pd.Series(dtype=float)
    legs = _leg_times(CallLeg.objects.filter(sip_call_id__in=ids, started_at__gte=lo, started_at__lt=hi))
    if legs.empty:
        return pd.Series(dtype=float)
    joined = rows.merge(legs, on="sip_call_id")
    return (joined["start_utc"] - joined["leg_start"]).dt.total_seconds()


def _deltas_by_number(rows: pd.DataFrame, lo: datetime, hi: datetime) -> pd.Series:
    sample = rows.head(2000)
    far = sample["to_e164"].where(sample["direction"] == "outbound", sample["from_e164"])
    numbers = [n for n in far.unique().tolist() if n]
    if not numbers:
        return pd.Series(dtype=float)
    qs = CallLeg.objects.filter(started_at__gte=lo, started_at__lt=hi).filter(
        dnis_e164__in=numbers
    ) | CallLeg.objects.filter(started_at__gte=lo, started_at__lt=hi, ani_e164__in=numbers)
    legs = _leg_times(qs)
    if legs.empty:
        return pd.Series(dtype=float)
    legs["far"] = legs["dnis_e164"].where(legs["direction"] == "outbound", legs["ani_e164"])
    left = sample.assign(far=far)[["far", "start_utc", "duration_seconds"]]
    joined = left.merge(legs[["far", "leg_start"]], on="far")
    deltas = (joined["start_utc"] - joined["leg_start"]).dt.total_seconds()
    return deltas[deltas.abs() <= 14 * 3600]
