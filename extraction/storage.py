"""Write one page of flattened records: idempotent, set-based, in the caller's transaction.

Conversations and call legs are upserted on their natural keys; a conversation's participants,
sessions, segments and metrics are replaced (delete + insert), so a re-fetched or changed
conversation never leaves stale rows and never duplicates. Call legs are upserted, not replaced,
because billing's CostRecord hangs on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
from django.db import connection as db_connection
from django.db.models import Model
from django.utils import timezone

from extraction.models import (
    CallLeg,
    Connection,
    Conversation,
    Participant,
    Segment,
    Session,
    SessionMetric,
)
from extraction.platforms import FlatPage

CONVERSATION_FIELDS = ["conversation_start", "conversation_end", "is_open", "originating_direction",
                       "division_ids", "media_stats_min_conversation_mos"]
LEG_ROW_KEYS = [
    "external_call_id", "sip_call_id", "sip_call_id_local", "direction", "ani", "dnis", "ani_e164", "dnis_e164",
    "started_at", "connected_at", "ended_at", "duration_ms", "talk_ms", "queue_id", "wrapup_code", "edge_id",
    "trunk", "provider", "purpose", "is_open", "disconnect_type", "sip_response_code",
]
_PARTICIPANT_KEYS = ("participant_id", "participant_name", "purpose", "user_id", "external_contact_id",
                     "attributes")
_SESSION_KEYS = ("session_id", "media_type", "direction", "ani", "dnis", "session_dnis", "remote",
                 "protocol_call_id", "provider", "edge_id", "peer_id", "flow_name", "t_talk_ms", "t_held_ms",
                 "t_acw_ms", "t_handle_ms", "t_alert_ms", "t_connected_ms", "n_transferred")
_SEGMENT_KEYS = ("segment_index", "segment_start", "segment_end", "segment_type", "queue_id", "wrap_up_code",
                 "wrap_up_note", "disconnect_type", "sip_response_codes", "q850_response_codes")


@dataclass(frozen=True)
class Names:
    """Queue and wrap-up code names by platform id, to denormalise onto call legs."""

    queues: dict[str, str]
    wrapup_codes: dict[str, str]

    @classmethod
    def for_connection(cls, connection: Connection) -> Names:
        return cls(
            queues=dict(connection.queues.values_list("queue_id", "name")),
            wrapup_codes=dict(connection.wrapup_codes.values_list("code_id", "name")),
        )


@dataclass(frozen=True)
class StoredCounts:
    conversations: int
    call_legs: int


def store_flat_page(*, connection: Connection, page: FlatPage, names: Names) -> StoredCounts:
    """Upsert one page (call inside ``transaction.atomic`` together with the cursor update)."""
    if not page.conversations:
        return StoredCounts(0, 0)
    now = timezone.now()
    _upsert(Conversation, ["connection_id", "conversation_id", *CONVERSATION_FIELDS, "raw", "extracted_at"],
            [(connection.pk, c["conversation_id"], *(c[f] for f in CONVERSATION_FIELDS), {}, now)
             for c in page.conversations],
            unique=["connection_id", "conversation_id"], update=[*CONVERSATION_FIELDS, "extracted_at"])
    external_ids = [c["conversation_id"] for c in page.conversations]
    pk_by_id = dict(
        Conversation.objects.filter(connection=connection, conversation_id__in=external_ids)
        .values_list("conversation_id", "pk")
    )
    pks = list(pk_by_id.values())
    _delete_children(pks)
    _insert_children(page.conversations, pk_by_id)
    legs = _upsert_legs(connection, page.legs, pk_by_id, names)
    return StoredCounts(conversations=len(page.conversations), call_legs=legs)


def _delete_children(conversation_pks: list[int]) -> None:
    # Bottom-up with plain DELETEs: nothing references these rows but each other.
    marks = ", ".join(["%s"] * len(conversation_pks))
    with db_connection.cursor() as cursor:
        for model in (SessionMetric, Segment, Session, Participant):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE conversation_id IN ({marks})",
                           conversation_pks)


def _insert_children(conversations: Iterable[dict[str, Any]], pk_by_id: dict[str, int]) -> None:
    """Insert participants, sessions, segments and metrics with COPY (PostgreSQL) or executemany.

    Django's bulk_create spent most of a page's time preparing values one by one (measured by
    benchmarks/bench_extraction.py); these rows are plain inserts, so they take the fast path.
    """
    conversations = list(conversations)
    participant_rows = []
    for c in conversations:
        conversation_pk = pk_by_id[c["conversation_id"]]
        for p in c["participants"]:
            participant_rows.append((conversation_pk, *(p[k] for k in _PARTICIPANT_KEYS)))
    _insert(Participant, ["conversation_id", *_PARTICIPANT_KEYS], participant_rows)
    participant_pk = _pk_map(Participant, "participant_id", pk_by_id.values())

    session_rows = []
    for c in conversations:
        conversation_pk = pk_by_id[c["conversation_id"]]
        for p in c["participants"]:
            owner = participant_pk[(conversation_pk, p["participant_id"])]
            for s in p["sessions"]:
                session_rows.append((conversation_pk, owner, *(s[k] for k in _SESSION_KEYS)))
    _insert(Session, ["conversation_id", "participant_id", *_SESSION_KEYS], session_rows)
    session_pk = _pk_map(Session, "session_id", pk_by_id.values())

    segment_rows, metric_rows = [], []
    for c in conversations:
        conversation_pk = pk_by_id[c["conversation_id"]]
        for p in c["participants"]:
            for s in p["sessions"]:
                owner = session_pk[(conversation_pk, s["session_id"])]
                segment_rows.extend((conversation_pk, owner, *(seg[k] for k in _SEGMENT_KEYS))
                                    for seg in s["segments"])
                metric_rows.extend((conversation_pk, owner, m["name"], m["value"], m["emit_date"])
                                   for m in s["metrics"])
    _insert(Segment, ["conversation_id", "session_id", *_SEGMENT_KEYS], segment_rows)
    _insert(SessionMetric, ["conversation_id", "session_id", "name", "value", "emit_date"], metric_rows)


def _pk_map(model: type[Model], key: str, conversation_pks: Iterable[int]) -> dict[tuple[int, str], int]:
    pks = list(conversation_pks)
    marks = ", ".join(["%s"] * len(pks))
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT conversation_id, {key}, id FROM {model._meta.db_table} "
                       f"WHERE conversation_id IN ({marks})", pks)
        return {(conversation, natural): pk for conversation, natural, pk in cursor.fetchall()}


def _converters(model: type[Model], columns: list[str]) -> list[Callable[[Any], Any] | None]:
    """Per column: how a Python value becomes a database value (what get_db_prep_save would do)."""
    postgres = db_connection.vendor == "postgresql"
    out: list[Callable[[Any], Any] | None] = []
    by_column = {f.column: f for f in model._meta.concrete_fields}
    for column in columns:
        kind = by_column[column].get_internal_type()
        if kind == "JSONField":
            out.append(lambda v: orjson.dumps(v).decode())
        elif kind == "DateTimeField" and not postgres:
            # Django's SQLite backend stores naive UTC text (DatabaseOperations.adapt_datetimefield_value).
            out.append(lambda v: None if v is None else str(v.astimezone(UTC).replace(tzinfo=None)))
        else:
            out.append(None)
    return out


def _insert(model: type[Model], columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    converters = _converters(model, columns)
    if any(converters):
        rows = [tuple(c(v) if c else v for c, v in zip(converters, row, strict=True)) for row in rows]
    table = model._meta.db_table
    names = ", ".join(columns)
    with db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _upsert(model: type[Model], columns: list[str], rows: list[tuple], *, unique: list[str],
            update: list[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE in one executemany (same syntax on SQLite and PostgreSQL)."""
    if not rows:
        return
    converters = _converters(model, columns)
    rows = [tuple(c(v) if c else v for c, v in zip(converters, row, strict=True)) for row in rows]
    marks = ", ".join(["%s"] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in update)
    with db_connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(unique)}) DO UPDATE SET {sets}", rows)


def _upsert_legs(connection: Connection, rows: list[dict[str, Any]], pk_by_id: dict[str, int],
                 names: Names) -> int:
    now = timezone.now()
    columns = ["connection_id", "leg_id", "conversation_id", "queue_name", "wrapup_name", "extracted_at",
               *LEG_ROW_KEYS]
    values = [
        (connection.pk, row["leg_id"], pk_by_id[row["external_call_id"]],
         names.queues.get(row["queue_id"], ""),
         # §10: system codes (ININ-WRAP-UP-TIMEOUT...) have no listing entry: keep the id, no name.
         names.wrapup_codes.get(row["wrapup_code"], ""), now, *(row[k] for k in LEG_ROW_KEYS))
        for row in rows
    ]
    _upsert(CallLeg, [*columns, "platform"], [(*v, connection.platform) for v in values],
            unique=["connection_id", "leg_id"], update=[*columns[2:], "platform"])
    # A re-fetched conversation that lost a leg must not keep it.
    (CallLeg.objects.filter(conversation_id__in=list(pk_by_id.values()))
     .exclude(leg_id__in=[row["leg_id"] for row in rows]).delete())
    return len(rows)
