"""Write one page of flattened records: idempotent, set-based, in the caller's transaction.

Conversations and call legs are keyed on their natural keys; a conversation's participants,
sessions, segments and metrics are replaced (delete + insert), so a re-fetched or changed
conversation never leaves stale rows and never duplicates. Call legs are upserted, not replaced,
because billing's CostRecord hangs on them.

Cost per page must not grow with the tables (issue 3). So the page's conversations are looked up
once on their unique key; only conversations stored before get their children deleted (a first
extraction deletes nothing), and children get primary keys reserved up front (a sequence on
PostgreSQL, the table's maximum under SQLite's write lock) instead of being read back by
``conversation_id`` after the insert: on PostgreSQL without statistics those look-ups were
sequential scans of the whole child table, once per page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.db.models import Model
from django.utils import timezone

from cdrweb.db import advisory_xact_lock
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
_CONVERSATION_COLUMNS = ["id", "connection_id", "conversation_id", *CONVERSATION_FIELDS, "raw", "extracted_at"]
_PARTICIPANT_COLUMNS = ["id", "conversation_id", *_PARTICIPANT_KEYS]
_SESSION_COLUMNS = ["id", "conversation_id", "participant_id", *_SESSION_KEYS]
_SEGMENT_COLUMNS = ["conversation_id", "session_id", *_SEGMENT_KEYS]
_METRIC_COLUMNS = ["conversation_id", "session_id", "name", "value", "emit_date"]
# pg_advisory_xact_lock(class, connection pk): page writes of one connection never interleave.
_PAGE_LOCK_CLASS = 0x43445257  # "CDRW"


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


@dataclass(frozen=True)
class PreparedRows:
    """A page's conversation rows for SQLite, built by ``prepare_rows`` off the writer's thread.

    Values are converted as the writer sends them; a row's own key and its parents' keys are
    positions in the page (conversation i, participant j, session k), to which the writer adds
    the first key it reserves for each table, in SQL.
    """

    conversation_ids: list[str]  # de-duplicated, in page order
    conversations: list[tuple]
    participants: list[tuple]
    sessions: list[tuple]
    segments: list[tuple]
    metrics: list[tuple]


def prepare_rows(page: FlatPage, *, connection_pk: int) -> PreparedRows:
    """Build the page's rows for SQLite where the writer does not wait for them (the read-ahead
    thread: no database access here). The writer then only reserves keys and inserts; building and
    converting the rows was a fifth of its time (issue 3, docs/benchmarks.md). Conversations are
    de-duplicated as ``store_flat_page`` does (the last copy wins) and the rows come in the order
    ``_insert_children`` writes them, so keys ascend in record order either way."""
    extracted_at = timezone.now()
    conversations = _unique_conversations(page)
    participant_values = itemgetter(*_PARTICIPANT_KEYS)
    session_values = itemgetter(*_SESSION_KEYS)
    segment_values = itemgetter(*_SEGMENT_KEYS)
    metric_values = itemgetter("name", "value", "emit_date")
    participants: list[tuple] = []
    sessions: list[tuple] = []
    segments: list[tuple] = []
    metrics: list[tuple] = []
    for ci, conversation in enumerate(conversations):
        for participant in conversation["participants"]:
            pj = len(participants)
            participants.append((pj, ci, *participant_values(participant)))
            for session in participant["sessions"]:
                sk = len(sessions)
                sessions.append((sk, ci, pj, *session_values(session)))
                segments.extend((ci, sk, *segment_values(seg)) for seg in session["segments"])
                metrics.extend((ci, sk, *metric_values(m)) for m in session["metrics"])
    fields = itemgetter(*CONVERSATION_FIELDS)
    return PreparedRows(
        conversation_ids=[c["conversation_id"] for c in conversations],
        conversations=_prepared(Conversation, _CONVERSATION_COLUMNS, [
            (ci, connection_pk, c["conversation_id"], *fields(c), {}, extracted_at)
            for ci, c in enumerate(conversations)], vendor="sqlite"),
        participants=_prepared(Participant, _PARTICIPANT_COLUMNS, participants, vendor="sqlite"),
        sessions=_prepared(Session, _SESSION_COLUMNS, sessions, vendor="sqlite"),
        segments=_prepared(Segment, _SEGMENT_COLUMNS, segments, vendor="sqlite"),
        metrics=_prepared(SessionMetric, _METRIC_COLUMNS, metrics, vendor="sqlite"),
    )


def _store_prepared(connection: Connection, page: FlatPage, rows: PreparedRows, names: Names) -> StoredCounts:
    """``store_flat_page`` for a page none of whose conversations is stored yet, from the rows
    ``prepare_rows`` built: reserve keys, insert with the offsets added in SQL, insert the legs.
    SQLite only: there the reserved keys of a table are consecutive (``_reserve_sqlite_ids``)."""
    first = [keys[0] if keys else 0 for keys in _reserve_many(
        [(Conversation, len(rows.conversations)), (Participant, len(rows.participants)),
         (Session, len(rows.sessions))])]
    conversation, participant, session = first
    _insert_relative(Conversation, _CONVERSATION_COLUMNS, rows.conversations, {"id": conversation})
    _insert_relative(Participant, _PARTICIPANT_COLUMNS, rows.participants,
                     {"id": participant, "conversation_id": conversation})
    _insert_relative(Session, _SESSION_COLUMNS, rows.sessions,
                     {"id": session, "conversation_id": conversation, "participant_id": participant})
    children = {"conversation_id": conversation, "session_id": session}
    _insert_relative(Segment, _SEGMENT_COLUMNS, rows.segments, children)
    _insert_relative(SessionMetric, _METRIC_COLUMNS, rows.metrics, children)
    pk_by_id = {cid: conversation + i for i, cid in enumerate(rows.conversation_ids)}
    legs = _upsert_legs(connection, page.legs, pk_by_id, names, stored_before=[])
    return StoredCounts(conversations=len(page.conversations), call_legs=legs)


def _insert_relative(model: type[Model], columns: list[str], rows: list[tuple], offsets: dict[str, int]) -> None:
    """SQLite: one executemany of prepared rows whose key columns hold positions; the statement
    adds each key column's offset (integers we reserved, never user input)."""
    if not rows:
        return
    marks = ", ".join(f"%s + {int(offsets[c])}" if c in offsets else "%s" for c in columns)
    with db_connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES ({marks})", rows)


def store_flat_page(*, connection: Connection, page: FlatPage, names: Names,
                    rows: PreparedRows | None = None) -> StoredCounts:
    """Store one page (call inside ``transaction.atomic`` together with the cursor update).

    Idempotent: storing the same page again leaves the same rows (children are replaced, legs
    upserted on ``(connection, leg_id)``). A conversation repeated within the page keeps its last copy.
    ``rows``: the page's rows from ``prepare_rows`` (built off this thread), used on SQLite when
    none of the page's conversations is stored yet.
    """
    if not page.conversations:
        return StoredCounts(0, 0)
    _lock_page_writes(connection.pk)
    existing: dict[str, int] | None = None
    if rows is not None and db_connection.vendor == "sqlite":
        existing = _existing_conversations(connection, rows.conversation_ids)
        if not existing:
            return _store_prepared(connection, page, rows, names)
    now = timezone.now()
    conversations = _unique_conversations(page)
    if existing is None:  # (else asked above: rows.conversation_ids are these conversations' ids)
        existing = _existing_conversations(connection, [c["conversation_id"] for c in conversations])
    fresh = [c for c in conversations if c["conversation_id"] not in existing]
    participant_count = sum(len(c["participants"]) for c in conversations)
    session_count = sum(len(p["sessions"]) for c in conversations for p in c["participants"])
    conversation_pks, participant_pks, session_pks = _reserve_many(
        [(Conversation, len(fresh)), (Participant, participant_count), (Session, session_count)])
    pk_by_id = dict(existing)
    pk_by_id.update(zip((c["conversation_id"] for c in fresh), conversation_pks, strict=True))
    _insert(Conversation, _CONVERSATION_COLUMNS,
            [(pk_by_id[c["conversation_id"]], connection.pk, c["conversation_id"],
              *(c[f] for f in CONVERSATION_FIELDS), {}, now) for c in fresh])
    stored_before = [pk_by_id[c["conversation_id"]] for c in conversations if c["conversation_id"] in existing]
    if stored_before:
        _update_by_pk(Conversation, [*CONVERSATION_FIELDS, "extracted_at"],
                      [(pk_by_id[c["conversation_id"]], *(c[f] for f in CONVERSATION_FIELDS), now)
                       for c in conversations if c["conversation_id"] in existing])
        _delete_children(stored_before)
    _insert_children(conversations, pk_by_id, participant_pks, session_pks)
    legs = _upsert_legs(connection, page.legs, pk_by_id, names, stored_before=stored_before)
    return StoredCounts(conversations=len(page.conversations), call_legs=legs)


def _unique_conversations(page: FlatPage) -> list[dict[str, Any]]:
    """The page's conversations, one per id, in page order; a repeated one keeps its last copy."""
    return list({c["conversation_id"]: c for c in page.conversations}.values())


def _lock_page_writes(connection_pk: int) -> None:
    """Serialise page writes per connection, so "not stored yet" stays true until we insert.

    SQLite already allows one writer at a time; on PostgreSQL two runs of one connection (a
    scheduled and a manual one) could otherwise both insert the same new conversation.
    """
    advisory_xact_lock(_PAGE_LOCK_CLASS, connection_pk)


def _existing_conversations(connection: Connection, external_ids: list[str]) -> dict[str, int]:
    """The stored pk of each of these conversation ids, on the unique (connection, conversation_id)
    index: cheap at any table size.

    On PostgreSQL one probe per id (LATERAL): a table filled during this run has no statistics yet,
    and with ``conversation_id IN (...)`` the planner then used the index for ``connection_id`` only
    and filtered every stored conversation of the connection, once per page (quadratic in the run).
    ``LIMIT 1`` keeps the planner from flattening the probe back into that join.
    """
    if db_connection.vendor != "postgresql":
        return dict(Conversation.objects.filter(connection=connection, conversation_id__in=external_ids)
                    .values_list("conversation_id", "pk"))
    table = Conversation._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT k.id, c.id FROM unnest(%s::text[]) AS k(id) CROSS JOIN LATERAL "
            f"(SELECT id FROM {table} WHERE connection_id = %s AND conversation_id = k.id LIMIT 1) AS c",
            [external_ids, connection.pk])
        return dict(cursor.fetchall())


_SEQUENCES: dict[str, str] = {}


def _reserve_many(wanted: list[tuple[type[Model], int]]) -> list[list[int]]:
    """For each (model, count): ``count`` new primary keys, ascending, that no other writer will
    use. On PostgreSQL from the sequences in one round trip (one array per model)."""
    if db_connection.vendor != "postgresql":
        return [_reserve_sqlite_ids(model, count) for model, count in wanted]
    asked = [(model, count) for model, count in wanted if count]
    if not asked:
        return [[] for _ in wanted]
    with db_connection.cursor() as cursor:
        columns = ", ".join("ARRAY(SELECT nextval(%s::regclass) FROM generate_series(1, %s))" for _ in asked)
        params: list[Any] = []
        for model, count in asked:
            params += [_sequence(cursor, model._meta.db_table), count]
        cursor.execute(f"SELECT {columns}", params)
        arrays = iter(cursor.fetchone())
    return [sorted(next(arrays)) if count else [] for _model, count in wanted]


def _sequence(cursor: Any, table: str) -> str:
    if table not in _SEQUENCES:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        _SEQUENCES[table] = cursor.fetchone()[0]
    return _SEQUENCES[table]


def _reserve_sqlite_ids(model: type[Model], count: int) -> list[int]:
    """SQLite: the caller's transaction holds the write lock (BEGIN IMMEDIATE, or a write lock
    upgrade that fails if another writer committed since), so nobody takes these ids meanwhile.
    AUTOINCREMENT never reuses an id, so start above both the table and its sequence."""
    if count == 0:
        return []
    table = model._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), "
            f"COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))", [table])
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def _delete_children(conversation_pks: list[int]) -> None:
    # Bottom-up with plain DELETEs: nothing references these rows but each other.
    marks = ", ".join(["%s"] * len(conversation_pks))
    with db_connection.cursor() as cursor:
        for model in (SessionMetric, Segment, Session, Participant):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE conversation_id IN ({marks})",
                           conversation_pks)


def _insert_children(conversations: list[dict[str, Any]], pk_by_id: dict[str, int], participant_pks: list[int],
                     session_pks: list[int]) -> None:
    """Insert participants, sessions, segments and metrics with COPY (PostgreSQL) or executemany.

    Participant and session keys are reserved first (one per participant and per session, in
    record order), so their children point at them without a read-back. Ids ascend in record
    order, which the call explorer relies on (``order_by("pk")``).
    """
    participants = [(pk_by_id[c["conversation_id"]], p) for c in conversations for p in c["participants"]]
    participant_values = itemgetter(*_PARTICIPANT_KEYS)
    _insert(Participant, _PARTICIPANT_COLUMNS,
            [(pk, conversation_pk, *participant_values(p))
             for pk, (conversation_pk, p) in zip(participant_pks, participants, strict=True)])

    sessions = [(conversation_pk, owner, s)
                for owner, (conversation_pk, p) in zip(participant_pks, participants, strict=True)
                for s in p["sessions"]]
    session_values = itemgetter(*_SESSION_KEYS)
    _insert(Session, _SESSION_COLUMNS,
            [(pk, conversation_pk, owner, *session_values(s))
             for pk, (conversation_pk, owner, s) in zip(session_pks, sessions, strict=True)])

    segment_values = itemgetter(*_SEGMENT_KEYS)
    metric_values = itemgetter("name", "value", "emit_date")
    segment_rows: list[tuple] = []
    metric_rows: list[tuple] = []
    for pk, (conversation_pk, _owner, s) in zip(session_pks, sessions, strict=True):
        segment_rows.extend((conversation_pk, pk, *segment_values(seg)) for seg in s["segments"])
        metric_rows.extend((conversation_pk, pk, *metric_values(m)) for m in s["metrics"])
    _insert(Segment, _SEGMENT_COLUMNS, segment_rows)
    _insert(SessionMetric, _METRIC_COLUMNS, metric_rows)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


@lru_cache(maxsize=8192)  # a page repeats most instants (segment ends, next starts, metric emits)
def _sqlite_datetime(value: datetime | None) -> str | None:
    # Django's SQLite backend stores naive UTC text (DatabaseOperations.adapt_datetimefield_value);
    # isoformat(" ") of a UTC value is that text plus "+00:00".
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ")[:-6]


def _jsonb_binary(value: Any) -> bytes | None:
    # jsonb's binary COPY format: a version byte (1) and the JSON text.
    return None if value is None else b"\x01" + orjson.dumps(value)


def _converters(model: type[Model], columns: list[str], vendor: str) -> list[Callable[[Any], Any] | None]:
    """Per column: how a Python value becomes what the writer sends (what get_db_prep_save would
    do): on PostgreSQL, JSON as jsonb's binary form (COPY runs binary); on SQLite, JSON as text and
    datetimes as Django's naive UTC text."""
    postgres = vendor == "postgresql"
    out: list[Callable[[Any], Any] | None] = []
    by_column = _fields_by_column(model)
    for column in columns:
        kind = by_column[column].get_internal_type()
        if kind == "JSONField":
            out.append(_jsonb_binary if postgres else _json_text)
        elif kind == "DateTimeField" and not postgres:
            out.append(_sqlite_datetime)
        else:
            out.append(None)
    return out


# Binary COPY: the client picks each value's encoder from these names; the server decodes with the
# column's own type (jsonb arrives pre-encoded as bytes, varchar as text).
_BINARY_TYPES = {"bigint": "int8", "integer": "int4", "smallint": "int2", "boolean": "bool",
                 "double precision": "float8", "numeric": "numeric", "date": "date", "uuid": "uuid",
                 "timestamp with time zone": "timestamptz", "jsonb": "bytea", "text": "text", "varchar": "text"}


@lru_cache(maxsize=16)
def _fields_by_column(model: type[Model]) -> dict[str, Any]:
    return {f.column: f for f in model._meta.concrete_fields}


@lru_cache(maxsize=64)
def _binary_types(model: type[Model], columns: tuple[str, ...]) -> list[str]:
    by_column = _fields_by_column(model)
    return [_BINARY_TYPES[by_column[c].db_type(db_connection).split("(")[0]] for c in columns]


def _prepared(model: type[Model], columns: list[str], rows: list[tuple], *, vendor: str = "") -> list[tuple]:
    """Rows with JSON (and, on SQLite, datetime) values converted; the others are left as they are.
    ``vendor``: the database's (default: this thread's connection's)."""
    convert = _row_converter(model, tuple(columns), vendor or db_connection.vendor)
    return rows if convert is None else list(map(convert, rows))


@lru_cache(maxsize=64)
def _row_converter(model: type[Model], columns: tuple[str, ...], vendor: str) -> Callable[[tuple], tuple] | None:
    """One function per (model, columns) that converts a row in a single tuple expression, e.g.
    ``lambda r: (r[0], c1(r[1]), r[2])``: no per-value loop and no transposition of the page
    (about 3x faster than either), which matters on SQLite, where every datetime is converted.
    ``vendor`` is part of the cache key: the conversions differ per database."""
    converters = _converters(model, list(columns), vendor)
    if not any(converters):
        return None
    scope = {f"c{i}": c for i, c in enumerate(converters) if c is not None}
    items = ", ".join(f"c{i}(r[{i}])" if c is not None else f"r[{i}]" for i, c in enumerate(converters))
    return eval(f"lambda r: ({items},)", scope)  # noqa: S307 - written from column positions only


def _insert(model: type[Model], columns: list[str], rows: list[tuple], *, into: str = "") -> None:
    """Plain INSERT of new rows: COPY on PostgreSQL, one executemany on SQLite."""
    if not rows:
        return
    rows = _prepared(model, columns, rows)
    table = into or model._meta.db_table
    names = ", ".join(columns)
    with db_connection.cursor() as cursor:
        if db_connection.vendor == "postgresql":
            # Binary: no text formatting here and no text parsing (timestamps, jsonb) in the server.
            # (wrap_database_errors: the driver's errors surface as Django's, IntegrityError included)
            with db_connection.wrap_database_errors, \
                    cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_binary_types(model, tuple(columns)))
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _update_by_pk(model: type[Model], columns: list[str], rows: list[tuple]) -> None:
    """UPDATE rows given as (pk, *values): one statement from a staging table on PostgreSQL,
    one executemany on SQLite."""
    table = model._meta.db_table
    if db_connection.vendor == "postgresql":
        stage = _stage(model, ["id", *columns], rows)
        sets = ", ".join(f"{c} = s.{c}" for c in columns)
        with db_connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} AS t SET {sets} FROM {stage} AS s WHERE t.id = s.id")
        return
    sets = ", ".join(f"{c} = %s" for c in columns)
    values = [(*row[1:], row[0]) for row in _prepared(model, ["id", *columns], rows)]
    with db_connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", values)


def _upsert(model: type[Model], columns: list[str], rows: list[tuple], *, unique: list[str],
            update: list[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE: COPY into a staging table and one INSERT ... SELECT on
    PostgreSQL, one executemany on SQLite. Rows must be unique on ``unique`` (PostgreSQL refuses
    to update a row twice in one statement)."""
    if not rows:
        return
    table = model._meta.db_table
    names = ", ".join(columns)
    sets = ", ".join(f"{c} = excluded.{c}" for c in update)
    conflict = f"ON CONFLICT ({', '.join(unique)}) DO UPDATE SET {sets}"
    if db_connection.vendor == "postgresql":
        stage = _stage(model, columns, rows)
        with db_connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} {conflict}")
        return
    marks = ", ".join(["%s"] * len(columns))
    with db_connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}",
                           _prepared(model, columns, rows))


def _insert_expecting_new(model: type[Model], columns: list[str], rows: list[tuple], *, unique: list[str],
                          update: list[str]) -> None:
    """Rows that should all be new (the legs of conversations not stored before): a plain insert,
    with no staging table and no conflict checks; if one exists after all (a platform that reuses a
    leg id under another conversation), the savepoint undoes the insert and the upsert runs."""
    try:
        with transaction.atomic():
            _insert(model, columns, rows)
    except IntegrityError:
        _upsert(model, columns, rows, unique=unique, update=update)


def _stage(model: type[Model], columns: list[str], rows: list[tuple]) -> str:
    """COPY rows into this session's staging table for ``model`` (PostgreSQL); returns its name.

    The table has the model's columns and no constraints. ``ON COMMIT DELETE ROWS`` empties it at
    commit; the DELETE covers callers whose outer transaction has not committed yet (tests, savepoints).
    """
    table = model._meta.db_table
    stage = f"stage_{table}"
    with db_connection.cursor() as cursor:  # two statements, one round trip
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                       f"AS SELECT * FROM {table} WITH NO DATA; DELETE FROM {stage}")
    _insert(model, columns, rows, into=stage)
    return stage


def _upsert_legs(connection: Connection, rows: list[dict[str, Any]], pk_by_id: dict[str, int],
                 names: Names, *, stored_before: list[int]) -> int:
    now = timezone.now()
    columns = ["connection_id", "leg_id", "conversation_id", "queue_name", "wrapup_name", "extracted_at",
               *LEG_ROW_KEYS, "platform"]
    by_leg = {row["leg_id"]: row for row in rows}  # a leg repeated in the page: the last copy wins
    values = [
        (connection.pk, row["leg_id"], pk_by_id[row["external_call_id"]],
         names.queues.get(row["queue_id"], ""),
         # §10: system codes (ININ-WRAP-UP-TIMEOUT...) have no listing entry: keep the id, no name.
         names.wrapup_codes.get(row["wrapup_code"], ""), now, *(row[k] for k in LEG_ROW_KEYS), connection.platform)
        for row in by_leg.values()
    ]
    if not stored_before:
        _insert_expecting_new(CallLeg, columns, values, unique=["connection_id", "leg_id"], update=columns[2:])
    else:
        _upsert(CallLeg, columns, values, unique=["connection_id", "leg_id"], update=columns[2:])
        # A re-fetched conversation that lost a leg must not keep it (new ones have no old legs).
        (CallLeg.objects.filter(conversation_id__in=stored_before).exclude(leg_id__in=list(by_leg))
         .delete())
    return len(rows)
