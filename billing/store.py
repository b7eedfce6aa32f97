"""Set-based reads and writes of legs and cost records for rating batches.

PostgreSQL: legs are read with ``COPY (SELECT …) TO STDOUT`` and results written with ``COPY`` into
a temporary table, then one ``INSERT … ON CONFLICT (leg_id) DO UPDATE`` (Django's bulk_create is
about five times slower at a million rows, issue 4). Other databases use values_list/bulk_create.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pandas as pd
from django.db import connection
from django.db.models import QuerySet

from billing import engine
from billing.models import CostRecord, CostRecordHistory

WRITE_COLUMNS = (
    "leg_id", "carrier_id", "rate_card_id", "rate_id", "matched_prefix", "destination", "country",
    "number_type", "band", "talk_seconds", "billable_seconds", "exact_cost", "cost", "currency", "status",
    "reason", "input_hash", "engine_version", "rated_at",
)
UPDATE_COLUMNS = [c for c in WRITE_COLUMNS if c != "leg_id"]


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def load_legs(legs: QuerySet, *, after_id: int, limit: int) -> pd.DataFrame:
    """The next ``limit`` legs after ``after_id`` in id order, as a frame of engine.LEG_FIELDS."""
    query = legs.filter(pk__gt=after_id).order_by("pk").values_list(*engine.LEG_FIELDS)[:limit]
    if not _is_postgres():
        return pd.DataFrame(list(query), columns=list(engine.LEG_FIELDS))
    sql, params = query.query.sql_with_params()
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for chunk in copy:
                buffer.write(chunk)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame(columns=list(engine.LEG_FIELDS))
    frame = pd.read_csv(buffer, header=None, names=list(engine.LEG_FIELDS), keep_default_na=False,
                        dtype={"dnis": str, "dnis_e164": str, "trunk": str, "edge_id": str, "provider": str,
                               "connection__name": str, "connection__default_region": str, "direction": str})
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
    frame["connected_at"] = pd.to_datetime(frame["connected_at"].replace("", None), utc=True, format="ISO8601")
    return frame


def existing_results(leg_ids: pd.Series) -> pd.DataFrame:
    """Current cost records of these legs (one range query on the leg id)."""
    columns = ["leg_id", "input_hash", "engine_version", "carrier_id", "rate_card_id", "cost", "status"]
    if leg_ids.empty:
        return pd.DataFrame(columns=columns)
    rows = CostRecord.objects.filter(leg_id__gte=int(leg_ids.min()), leg_id__lte=int(leg_ids.max())).values_list(
        *columns)
    frame = pd.DataFrame(list(rows), columns=columns)
    return frame[frame["leg_id"].isin(leg_ids)]


def to_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Vector results → the CostRecord columns (Decimal money, NULL foreign keys)."""
    out = pd.DataFrame({"leg_id": frame["leg_id"].astype("int64")})
    for name in ("carrier_id", "rate_card_id", "rate_id"):
        values = frame[name].fillna(0).astype("int64").to_numpy()
        out[name] = pd.Series([int(v) if v > 0 else None for v in values], index=frame.index, dtype=object)
    for name in ("matched_prefix", "destination", "country", "number_type", "band", "currency", "status",
                 "reason", "input_hash"):
        out[name] = frame[name]
    out["talk_seconds"] = frame["talk_seconds"].astype("int64")
    out["billable_seconds"] = frame["billable_seconds"].astype("int64")
    out["exact_cost"] = [Decimal(int(v)).scaleb(-12) for v in frame["exact_units12"]]
    out["cost"] = [Decimal(int(c)).scaleb(-int(d)) for c, d in zip(frame["cost_units"], frame["money_decimals"],
                                                                     strict=True)]
    return out


def write_results(frame: pd.DataFrame, *, replaced: pd.Series, run_id: int, now: datetime) -> None:
    """Keep the replaced records as history, then upsert the new ones; set-based on every database."""
    if not replaced.empty:
        _copy_to_history(replaced, run_id=run_id, now=now)
    if _is_postgres():
        _upsert_postgres(frame, now)
        return
    records = to_records(frame)
    objects = [
        CostRecord(rated_at=now, engine_version=engine.ENGINE_VERSION, **row)
        for row in records.to_dict("records")
    ]
    CostRecord.objects.bulk_create(objects, batch_size=2000, update_conflicts=True, unique_fields=["leg"],
                                   update_fields=list(UPDATE_COLUMNS))


def _copy_to_history(leg_ids: pd.Series, *, run_id: int, now: datetime) -> None:
    history = CostRecordHistory._meta.db_table
    record = CostRecord._meta.db_table
    ids = [int(i) for i in leg_ids]
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 5000):
            chunk = ids[start:start + 5000]
            marks = ",".join(["%s"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {history} (leg_id, run_id, rate_card_id, carrier_id_was, matched_prefix, "
                "billable_seconds, exact_cost, cost, currency, status, reason, input_hash, rated_at, superseded_at) "
                "SELECT leg_id, %s, rate_card_id, carrier_id, matched_prefix, billable_seconds, exact_cost, cost, "
                f"currency, status, reason, input_hash, rated_at, %s FROM {record} WHERE leg_id IN ({marks})",
                [run_id, now, *chunk],
            )


def _upsert_postgres(frame: pd.DataFrame, now: datetime) -> None:
    """COPY into a temporary table, then one INSERT … ON CONFLICT; money converted in SQL."""
    table = CostRecord._meta.db_table
    staging = "billing_rating_staging"
    columns = ("leg_id", "carrier_id", "rate_card_id", "rate_id", "matched_prefix", "destination", "country",
               "number_type", "band", "talk_seconds", "billable_seconds", "exact_units12", "cost_units",
               "money_decimals", "currency", "status", "reason", "input_hash")
    data = frame[list(columns)].copy()
    for name in ("carrier_id", "rate_card_id", "rate_id"):
        data[name] = data[name].fillna(0).astype("int64")
    buffer = io.StringIO()
    data.to_csv(buffer, header=False, index=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} (leg_id bigint, carrier_id bigint, rate_card_id bigint, "
            "rate_id bigint, matched_prefix text, destination text, country text, number_type text, band text, "
            "talk_seconds integer, billable_seconds integer, exact_units12 numeric, cost_units numeric, "
            "money_decimals integer, currency text, status text, reason text, input_hash text) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY {staging} FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
            copy.write(buffer.getvalue())
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATE_COLUMNS)
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(WRITE_COLUMNS)}) "
            "SELECT leg_id, NULLIF(carrier_id, 0), NULLIF(rate_card_id, 0), NULLIF(rate_id, 0), matched_prefix, "
            "destination, country, number_type, band, talk_seconds, billable_seconds, "
            "exact_units12 / 1000000000000, cost_units / (10::numeric ^ money_decimals), currency, status, reason, "
            f"input_hash, %s, %s FROM {staging} ON CONFLICT (leg_id) DO UPDATE SET {updates}",
            [engine.ENGINE_VERSION, now],
        )
        cursor.execute(f"DELETE FROM {staging}")
