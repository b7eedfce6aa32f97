"""Writing a normalised chunk of carrier rows: ``COPY`` on PostgreSQL, ``executemany`` on SQLite.

Both run inside the caller's per-chunk transaction, together with the resume cursor, so a chunk is
either fully stored with its cursor or not at all; no upsert is needed for idempotency.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection

from cdrweb.db import defer_commit_flush
from reconciliation.models import CarrierCdr
from reconciliation.normalise import to_decimal

COLUMNS = [
    "upload_id", "carrier_id", "line_number", "record_id", "raw_call_id", "sip_call_id", "sip_call_id_local",
    "start_utc", "start_original", "start_ambiguous", "duration_seconds", "duration_ms", "billed_seconds",
    "charge", "rate_per_minute", "currency", "from_raw", "to_raw", "from_e164", "to_e164", "direction",
    "direction_raw", "is_forwarded", "is_credit", "raw_line",
]
NULL = "\\N"


def insert_cdrs(frame: pd.DataFrame, *, upload_id: int, carrier_id: int) -> int:
    """Store the chunk's good rows; returns how many."""
    if frame.empty:
        return 0
    if connection.vendor == "postgresql":
        return _copy(frame, upload_id=upload_id, carrier_id=carrier_id)
    if connection.vendor == "sqlite":
        return _executemany(frame, upload_id=upload_id, carrier_id=carrier_id)
    objs = [_model(r, upload_id, carrier_id) for r in frame.reset_index().to_dict("records")]
    CarrierCdr.objects.bulk_create(objs, batch_size=2000)
    return len(objs)


def _copy(frame: pd.DataFrame, *, upload_id: int, carrier_id: int) -> int:
    n = len(frame)
    # Every text column comes from the record's own text, so when no record has a backslash, tab
    # or line break (the usual file), no column needs COPY escaping: one check instead of one per column.
    plain = not _special("".join(frame["raw_line"].tolist()))
    columns = {
        "upload_id": [str(upload_id)] * n, "carrier_id": [str(carrier_id)] * n,
        "line_number": list(map(str, frame.index.tolist())),
        # The currency may come from the mapping or the carrier, not the file: always checked.
        **{name: _copy_values(frame[name], plain and name != "currency") for name in COLUMNS[3:]},
    }
    # COPY's text format: rows joined in C (map/str.join) instead of formatted cell by cell.
    text = "\n".join(map("\t".join, zip(*(columns[c] for c in COLUMNS), strict=True))) + "\n"
    table = CarrierCdr._meta.db_table
    defer_commit_flush()  # a chunk commits with its counter: a lost commit resumes at that chunk
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        copy.write(text)
    return n


def _copy_values(values: pd.Series, plain: bool) -> list[str]:
    """A column as COPY text values: NULL is \\N; money stays the validated string, never a float."""
    if values.dtype.kind == "M":  # datetimes: ISO 8601 in UTC, exact to the microsecond
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        text = np.char.add(np.datetime_as_string(utc, unit="us"), "+00:00").astype(object)
        text[np.isnat(utc)] = NULL
        return text.tolist()
    if values.dtype.kind == "b":
        return np.where(values.to_numpy(), "t", "f").tolist()
    if isinstance(values.dtype, pd.Int64Dtype):
        return values.astype(str).where(values.notna(), NULL).tolist()
    if values.name in ("charge", "rate_per_minute"):
        return values.where(values != "", NULL).tolist()  # empty is null, never zero
    text = values.tolist() if values.dtype == object else values.astype(str).tolist()
    return text if plain else _escaped(text)


def _special(text: str) -> bool:
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def _escaped(values: list[str]) -> list[str]:
    """Backslash, tab and line breaks escaped for COPY's text format (only when some value has one)."""
    if not _special("".join(values)):
        return values
    return [v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            for v in values]


def _executemany(frame: pd.DataFrame, *, upload_id: int, carrier_id: int) -> int:
    """SQLite: one executemany of plain tuples, stored as Django would store the model's values."""
    n = len(frame)
    start = frame["start_utc"].dt.tz_convert("UTC").dt.tz_localize(None)
    # Django writes str(naive UTC datetime): the fraction only when there is one. SQLite compares
    # datetimes as text, so the same spelling keeps range and equality lookups exact.
    whole = start.dt.microsecond == 0
    start_text = np.where(whole, start.dt.strftime("%Y-%m-%d %H:%M:%S"), start.dt.strftime("%Y-%m-%d %H:%M:%S.%f"))
    columns: dict[str, list[Any]] = {
        "upload_id": [upload_id] * n, "carrier_id": [carrier_id] * n, "line_number": frame.index.tolist(),
        "start_utc": start_text.tolist(),
    }
    for name in COLUMNS[3:]:
        if name in columns:
            continue
        values = frame[name]
        if isinstance(values.dtype, pd.Int64Dtype):
            columns[name] = values.astype(object).where(values.notna(), None).tolist()
        elif values.dtype.kind == "b":
            columns[name] = values.astype(int).tolist()
        elif name in ("charge", "rate_per_minute"):
            # The validated decimal text, as Django's Decimal adapter would write it (never a float).
            columns[name] = values.where(values != "", None).tolist()
        else:
            columns[name] = values.tolist()
    table = CarrierCdr._meta.db_table
    sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, list(zip(*(columns[c] for c in COLUMNS), strict=True)))
    return n


def _model(r: dict[str, Any], upload_id: int, carrier_id: int) -> CarrierCdr:
    return CarrierCdr(
        upload_id=upload_id, carrier_id=carrier_id, line_number=int(r["line"]), record_id=r["record_id"],
        raw_call_id=r["raw_call_id"], sip_call_id=r["sip_call_id"], sip_call_id_local=r["sip_call_id_local"],
        start_utc=r["start_utc"].to_pydatetime(), start_original=r["start_original"],
        start_ambiguous=bool(r["start_ambiguous"]), duration_seconds=_int(r["duration_seconds"]),
        duration_ms=_int(r["duration_ms"]), billed_seconds=_int(r["billed_seconds"]),
        charge=to_decimal(r["charge"]), rate_per_minute=to_decimal(r["rate_per_minute"]), currency=r["currency"],
        from_raw=r["from_raw"], to_raw=r["to_raw"], from_e164=r["from_e164"], to_e164=r["to_e164"],
        direction=r["direction"], direction_raw=r["direction_raw"], is_forwarded=bool(r["is_forwarded"]),
        is_credit=bool(r["is_credit"]), raw_line=r["raw_line"],
    )


def _int(value: Any) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return int(value)


def read_values(query, columns: list[str]) -> pd.DataFrame:
    """A ``values_list`` QuerySet as a DataFrame; PostgreSQL streams it with ``COPY … TO STDOUT``.

    On PostgreSQL every value arrives as text ('' for NULL and empty text alike, 't'/'f' for
    booleans); callers convert the columns they use with :func:`as_bool`, :func:`as_money` etc.
    """
    if connection.vendor != "postgresql":
        return pd.DataFrame.from_records(list(query.iterator(chunk_size=20_000)), columns=columns)
    sql, params = query.query.sql_with_params()
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame(columns=columns)
    buffer.seek(0)
    return pd.read_csv(buffer, header=None, names=columns, dtype=str, keep_default_na=False)


def as_bool(values: pd.Series) -> pd.Series:
    if values.dtype == bool:
        return values
    return values.map(lambda v: v is True or v in ("t", "true", "True", 1)).astype(bool)


def as_money(values: pd.Series) -> pd.Series:
    """Decimal or None (text from COPY is converted exactly, never through float)."""
    from decimal import Decimal

    return values.map(lambda v: None if v is None or v == "" else (v if isinstance(v, Decimal) else Decimal(v)))


def as_number(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.replace("", None), errors="coerce")


def as_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.replace("", None), utc=True, format="ISO8601")


def as_text(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str)


def write_frame(model, frame: pd.DataFrame, columns: list[str]) -> int:
    """Insert a frame's rows (column names = DB columns); COPY on PostgreSQL, bulk_create elsewhere."""
    if frame.empty:
        return 0
    if connection.vendor == "postgresql":
        buffer = io.StringIO()
        frame[columns].to_csv(buffer, index=False, header=False, na_rep="\\N")
        with connection.cursor() as cursor:
            sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            with cursor.cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
        return len(frame)
    objs = [model(**dict(zip(columns, row, strict=True))) for row in frame[columns].itertuples(index=False, name=None)]
    model.objects.bulk_create(objs, batch_size=2000)
    return len(objs)
