"""The documented virtual tables of the SQL console (docs/SQL_CONSOLE.md).

Each virtual table is a SELECT over real tables, built from the Django models' ``_meta`` (so a
renamed model field fails loudly in the tests, not silently in a saved query). Console names are
stable; the raw Django table and column names are never shown to users. PII columns are masked
inside the SELECT itself unless the user revealed the console, so no query can see a raw value.
JSON payloads (``raw``) are never exposed: they may hold anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.db import models

from cdrweb.console.sqlmask import masked_sql
from cdrweb.masking import PiiKind

TEXT, INTEGER, DECIMAL, FLOAT, TIMESTAMP, DATE, TIME, BOOLEAN = (
    "text", "integer", "decimal", "float", "timestamp", "date", "time", "boolean",
)


@dataclass(frozen=True)
class VColumn:
    name: str
    source: str  # a Django lookup path from the base model: "started_at", "leg__started_at"
    type: str
    doc: str = ""
    pii: PiiKind | None = None


@dataclass(frozen=True)
class VTable:
    name: str
    model: str  # "app_label.ModelName"
    doc: str
    columns: tuple[VColumn, ...]
    # The start-time column the planner reads (time range -> missing extraction intervals).
    time_column: str = ""

    def column(self, name: str) -> VColumn | None:
        return next((c for c in self.columns if c.name == name), None)


def C(name: str, type_: str, doc: str = "", *, source: str = "", pii: PiiKind | None = None) -> VColumn:  # noqa: N802
    return VColumn(name=name, source=source or name, type=type_, doc=doc, pii=pii)


_REGISTRY: dict[str, VTable] = {}
# Display and documentation order: the platform's view first, then money, then reconciliation.
ORDER = (
    "conversations", "participants", "sessions", "segments", "metrics", "call_legs", "costs",
    "carrier_cdrs", "discrepancies", "rate_cards", "rates",
)


def register(table: VTable) -> VTable:
    _REGISTRY[table.name] = table
    return table


def virtual_tables() -> dict[str, VTable]:
    """Every virtual table whose model is installed, by console name."""
    out = {}
    for name, table in sorted(_REGISTRY.items(), key=lambda item: ORDER.index(item[0])):
        app_label, model_name = table.model.split(".")
        try:
            apps.get_model(app_label, model_name)
        except LookupError:
            continue  # its app has not shipped the model yet
        out[name] = table
    return out


def time_columns() -> set[str]:
    return {t.time_column for t in virtual_tables().values() if t.time_column}


def timestamp_columns() -> set[str]:
    """Names of every timestamp column (literals compared with them are normalised)."""
    return {c.name for t in virtual_tables().values() for c in t.columns if c.type == TIMESTAMP}


# --- SQL generation -------------------------------------------------------------------------


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve(
    model: type[models.Model],
    path: str,
    joins: dict[str, tuple[str, str]],
    reads: set[tuple[str, str]],
) -> str:
    """Follow ``a__b__c`` through foreign keys; returns the qualified column.

    ``joins`` collects one LEFT JOIN per foreign-key prefix: {alias: (table, on_condition)};
    ``reads`` collects every (real table, column) the SELECT touches.
    """
    parts = path.split("__")
    alias = "t0"
    current = model
    prefix = ""
    for part in parts[:-1]:
        fk = current._meta.get_field(part)
        if not fk.many_to_one and not fk.one_to_one:
            raise ValueError(f"{current.__name__}.{part} is not a foreign key")
        prefix = f"{prefix}__{part}" if prefix else part
        next_alias = "j_" + prefix
        target = fk.related_model
        if next_alias not in joins:
            on = f"{_qn(alias)}.{_qn(fk.column)} = {_qn(next_alias)}.{_qn(fk.target_field.column)}"
            joins[next_alias] = (target._meta.db_table, on)
        reads.add((current._meta.db_table, fk.column))
        reads.add((target._meta.db_table, fk.target_field.column))
        alias, current = next_alias, target
    last = current._meta.get_field(parts[-1])
    if not getattr(last, "column", None):
        raise ValueError(f"{current.__name__}.{parts[-1]} is not a column")
    reads.add((current._meta.db_table, last.column))
    return f"{_qn(alias)}.{_qn(last.column)}"


def base_columns(table: VTable) -> set[tuple[str, str]]:
    """The (real table, column) pairs a virtual table reads; the SQLite authoriser allows only these."""
    model = apps.get_model(table.model)
    joins: dict[str, tuple[str, str]] = {}
    reads: set[tuple[str, str]] = set()
    for column in table.columns:
        _resolve(model, column.source, joins, reads)
    return reads


@cache
def _select_sql(name: str, vendor: str, reveal: bool) -> str:
    table = _REGISTRY[name]
    model = apps.get_model(table.model)
    joins: dict[str, tuple[str, str]] = {}
    selects = []
    for column in table.columns:
        expr = _resolve(model, column.source, joins, set())
        if column.pii and not reveal:
            expr = masked_sql(expr, column.pii, vendor=vendor)
        elif column.type == BOOLEAN and vendor == "postgresql":
            # Booleans are 0/1 on both databases, so a query returns the same rows everywhere.
            expr = f"CASE WHEN {expr} THEN 1 WHEN NOT {expr} THEN 0 END"
        selects.append(f"{expr} AS {_qn(column.name)}")
    sql = f"SELECT {', '.join(selects)} FROM {_qn(model._meta.db_table)} AS {_qn('t0')}"
    for alias, (db_table, on) in joins.items():
        sql += f" LEFT JOIN {_qn(db_table)} AS {_qn(alias)} ON {on}"
    return sql


def select_sql(name: str, *, vendor: str, reveal: bool) -> str:
    """The SELECT behind virtual table ``name``: PII masked unless ``reveal``."""
    return _select_sql(name, vendor, reveal)


# --- the tables -------------------------------------------------------------------------------

_CONNECTION_COLUMNS = (
    C("connection_id", INTEGER, "the platform connection"),
    C("connection", TEXT, "connection name", source="connection__name"),
    C("platform", TEXT, "genesys / engage / voiso", source="connection__platform"),
)

register(VTable(
    name="conversations",
    model="extraction.Conversation",
    doc="One platform conversation (Genesys AnalyticsConversation; other platforms' calls).",
    time_column="conversation_start",
    columns=(
        C("id", INTEGER, "console row id"),
        *_CONNECTION_COLUMNS,
        C("conversation_id", TEXT, "platform conversation id"),
        C("conversation_start", TIMESTAMP, "UTC; the planner reads this column"),
        C("conversation_end", TIMESTAMP, "UTC; empty while open"),
        C("originating_direction", TEXT, "inbound / outbound"),
        C("min_mos", FLOAT, "lowest MOS of the conversation", source="media_stats_min_conversation_mos"),
    ),
))

register(VTable(
    name="call_legs",
    model="extraction.CallLeg",
    doc="One billable external voice leg on a trunk: what billing rates and reconciliation matches.",
    time_column="started_at",
    columns=(
        C("id", INTEGER, "console row id; costs.call_leg_id points here"),
        C("connection_id", INTEGER, "the platform connection"),
        C("platform", TEXT, "genesys / engage / voiso"),
        C("conversation_id", TEXT, "platform conversation id (empty when not linked)",
          source="conversation__conversation_id"),
        C("external_call_id", TEXT, "platform call id (Genesys conversationId, RingCX uii, Voiso uuid)"),
        C("leg_id", TEXT, "platform leg id (Genesys sessionId)"),
        C("sip_call_id", TEXT, "canonical SIP Call-ID"),
        C("sip_call_id_local", TEXT, "SIP Call-ID before the first @"),
        C("direction", TEXT, "inbound / outbound"),
        C("ani", TEXT, "calling number as received (masked)", pii=PiiKind.PHONE),
        C("dnis", TEXT, "called number as received (masked)", pii=PiiKind.PHONE),
        C("ani_e164", TEXT, "calling number, +E.164 (masked)", pii=PiiKind.PHONE),
        C("dnis_e164", TEXT, "called number, +E.164 (masked)", pii=PiiKind.PHONE),
        C("started_at", TIMESTAMP, "UTC setup time; the planner reads this column"),
        C("connected_at", TIMESTAMP, "UTC answer time; empty if unanswered"),
        C("ended_at", TIMESTAMP, "UTC"),
        C("duration_ms", INTEGER, "answer to end: billable talk time in ms"),
        C("talk_ms", INTEGER, "agent talk time in ms"),
        C("queue_id", TEXT),
        C("queue_name", TEXT),
        C("wrapup_code", TEXT),
        C("wrapup_name", TEXT),
        C("edge_id", TEXT),
        C("trunk", TEXT),
        C("provider", TEXT),
        C("purpose", TEXT, "customer / external"),
        C("is_open", BOOLEAN, "1 while the leg had not ended at extraction time"),
        C("disconnect_type", TEXT),
        C("sip_response_code", INTEGER),
    ),
))

register(VTable(
    name="costs",
    model="billing.CostRecord",
    doc="What each call leg cost by our rate cards: one row per leg, rated or unrated with a reason.",
    time_column="started_at",
    columns=(
        C("id", INTEGER, "console row id"),
        C("call_leg_id", INTEGER, "call_legs.id", source="leg"),
        C("connection_id", INTEGER, "the leg's connection", source="leg__connection"),
        C("leg_id", TEXT, "platform leg id", source="leg__leg_id"),
        C("started_at", TIMESTAMP, "UTC start of the leg; the planner reads this column",
          source="leg__started_at"),
        C("direction", TEXT, "inbound / outbound", source="leg__direction"),
        C("carrier_id", INTEGER, "", source="carrier"),
        C("carrier", TEXT, "carrier name", source="carrier__name"),
        C("rate_card_id", INTEGER, "rate_cards.id", source="rate_card"),
        C("rate_id", INTEGER, "rates.id", source="rate"),
        C("matched_prefix", TEXT, "the rate prefix that priced the leg"),
        C("destination", TEXT),
        C("country", TEXT, "ISO 3166 alpha-2 of the rated number"),
        C("number_type", TEXT, "fixed / mobile / toll_free / other / unknown"),
        C("band", TEXT, "time band of the rate; empty = all times"),
        C("talk_seconds", INTEGER, "whole seconds after the card's rule"),
        C("billable_seconds", INTEGER, "after increments and minimums"),
        C("exact_cost", DECIMAL, "unrounded cost"),
        C("cost", DECIMAL, "rounded cost in the card's currency"),
        C("currency", TEXT),
        C("status", TEXT, "rated / unrated"),
        C("reason", TEXT, "why a leg is unrated"),
        C("rated_at", TIMESTAMP, "UTC"),
    ),
))

register(VTable(
    name="rate_cards",
    model="billing.RateCard",
    doc="Versions of each carrier's price list, valid from effective_from until effective_to.",
    columns=(
        C("id", INTEGER, "console row id"),
        C("carrier_id", INTEGER, "", source="carrier"),
        C("carrier", TEXT, "carrier name", source="carrier__name"),
        C("name", TEXT, "rate card name"),
        C("version", INTEGER),
        C("currency", TEXT),
        C("effective_from", TIMESTAMP, "UTC, inclusive"),
        C("effective_to", TIMESTAMP, "UTC, exclusive; empty = until the next version"),
        C("default_increment_first", INTEGER, "seconds"),
        C("default_increment_next", INTEGER, "seconds"),
        C("rounding", TEXT),
        C("seconds_rule", TEXT),
        C("money_decimals", INTEGER),
        C("timezone", TEXT, "IANA zone of the time bands"),
        C("status", TEXT, "active / superseded / retired"),
        C("superseded_by_id", INTEGER, "", source="superseded_by"),
    ),
))

register(VTable(
    name="rates",
    model="billing.Rate",
    doc="One priced prefix of a rate card version; the empty prefix is the catch-all.",
    columns=(
        C("id", INTEGER, "console row id"),
        C("rate_card_id", INTEGER, "rate_cards.id", source="rate_card"),
        C("prefix", TEXT, "E.164 digits without +"),
        C("destination", TEXT),
        C("direction", TEXT, "inbound / outbound"),
        C("rate_per_minute", DECIMAL),
        C("connect_fee", DECIMAL),
        C("min_billable_seconds", INTEGER),
        C("minimum_cost", DECIMAL),
        C("increment_first", INTEGER, "seconds; empty = card default"),
        C("increment_next", INTEGER, "seconds; empty = card default"),
        C("band", TEXT, "time band; empty = all times"),
        C("band_weekdays", TEXT, "e.g. 0-4 for Mon-Fri"),
        C("band_start", TIME),
        C("band_end", TIME),
    ),
))

_CONVERSATION_KEY = (
    C("connection_id", INTEGER, "the platform connection", source="conversation__connection"),
    C("conversation_id", TEXT, "platform conversation id (conversations.conversation_id)",
      source="conversation__conversation_id"),
)

register(VTable(
    name="participants",
    model="extraction.Participant",
    doc="One participant of a conversation (Genesys AnalyticsParticipant).",
    columns=(
        C("id", INTEGER, "console row id"),
        *_CONVERSATION_KEY,
        C("participant_id", TEXT, "platform participant id"),
        C("participant_name", TEXT, "display name (masked)", pii=PiiKind.NAME),
        C("purpose", TEXT, "customer / agent / acd / ivr / external ..."),
        C("user_id", TEXT, "platform user id of an agent"),
        C("external_contact_id", TEXT),
    ),
))

register(VTable(
    name="sessions",
    model="extraction.Session",
    doc="One media session of a participant, with the common metrics summed (ms, counts).",
    columns=(
        C("id", INTEGER, "console row id"),
        *_CONVERSATION_KEY,
        C("participant_id", TEXT, "participants.participant_id", source="participant__participant_id"),
        C("session_id", TEXT, "platform session id (call_legs.leg_id for external legs)"),
        C("media_type", TEXT),
        C("direction", TEXT),
        C("ani", TEXT, "calling address (masked)", pii=PiiKind.PHONE),
        C("dnis", TEXT, "called address (masked)", pii=PiiKind.PHONE),
        C("session_dnis", TEXT, "dialled address (masked)", pii=PiiKind.PHONE),
        C("remote", TEXT, "remote party (masked)", pii=PiiKind.PHONE),
        C("protocol_call_id", TEXT, "SIP Call-ID"),
        C("provider", TEXT),
        C("edge_id", TEXT),
        C("peer_id", TEXT),
        C("flow_name", TEXT),
        C("t_talk_ms", INTEGER),
        C("t_held_ms", INTEGER),
        C("t_acw_ms", INTEGER),
        C("t_handle_ms", INTEGER),
        C("t_alert_ms", INTEGER),
        C("t_connected_ms", INTEGER),
        C("n_transferred", INTEGER),
    ),
))

register(VTable(
    name="segments",
    model="extraction.Segment",
    doc="One segment of a session, in order (segment_index).",
    columns=(
        C("id", INTEGER, "console row id"),
        *_CONVERSATION_KEY,
        C("session_id", TEXT, "sessions.session_id", source="session__session_id"),
        C("segment_index", INTEGER, "position in the session, from 0"),
        C("segment_start", TIMESTAMP, "UTC"),
        C("segment_end", TIMESTAMP, "UTC"),
        C("segment_type", TEXT, "interact / hold / wrapup / alert ..."),
        C("queue_id", TEXT),
        C("wrap_up_code", TEXT),
        C("wrap_up_note", TEXT, "agent's free text (masked)", pii=PiiKind.TEXT),
        C("disconnect_type", TEXT),
    ),
))

register(VTable(
    name="metrics",
    model="extraction.SessionMetric",
    doc="Every session metric, one row each (durations in ms, counts).",
    columns=(
        C("id", INTEGER, "console row id"),
        *_CONVERSATION_KEY,
        C("session_id", TEXT, "sessions.session_id", source="session__session_id"),
        C("name", TEXT, "metric name, e.g. tTalk, tHeld, nTransferred"),
        C("value", INTEGER),
        C("emit_date", TIMESTAMP, "UTC"),
    ),
))

register(VTable(
    name="carrier_cdrs",
    model="reconciliation.CarrierCdr",
    doc="One imported carrier CDR row, normalised (UTC start, seconds, Decimal charge).",
    columns=(
        C("id", INTEGER, "console row id"),
        C("upload_id", INTEGER, "the carrier upload", source="upload"),
        C("carrier_id", INTEGER, "", source="carrier"),
        C("carrier", TEXT, "carrier name", source="carrier__name"),
        C("line_number", INTEGER, "physical line in the file (header = 1)"),
        C("record_id", TEXT, "the carrier's own id"),
        C("sip_call_id", TEXT, "canonical SIP Call-ID"),
        C("sip_call_id_local", TEXT, "SIP Call-ID before the first @"),
        C("started_at", TIMESTAMP, "UTC start as billed", source="start_utc"),
        C("start_original", TEXT, "start as written in the file"),
        C("start_ambiguous", BOOLEAN, "1 if local time fell in a repeated DST hour"),
        C("duration_seconds", INTEGER),
        C("duration_ms", INTEGER),
        C("billed_seconds", INTEGER),
        C("charge", DECIMAL, "what the carrier charged"),
        C("rate_per_minute", DECIMAL),
        C("currency", TEXT),
        C("from_raw", TEXT, "calling number as billed (masked)", pii=PiiKind.PHONE),
        C("to_raw", TEXT, "called number as billed (masked)", pii=PiiKind.PHONE),
        C("from_e164", TEXT, "calling number, +E.164 (masked)", pii=PiiKind.PHONE),
        C("to_e164", TEXT, "called number, +E.164 (masked)", pii=PiiKind.PHONE),
        C("direction", TEXT, "inbound / outbound / empty"),
        C("direction_raw", TEXT),
        C("is_forwarded", BOOLEAN),
        C("is_credit", BOOLEAN),
    ),
))

register(VTable(
    name="discrepancies",
    model="reconciliation.Discrepancy",
    doc="Reconciliation flags with both sides and the money at stake (> 0 = we overpay).",
    columns=(
        C("id", INTEGER, "console row id"),
        C("run_id", INTEGER, "the reconciliation run", source="run"),
        C("carrier_id", INTEGER, "", source="run__carrier"),
        C("carrier", TEXT, "carrier name", source="run__carrier__name"),
        C("period_start", TIMESTAMP, "run period start, UTC inclusive", source="run__period_start"),
        C("period_end", TIMESTAMP, "run period end, UTC exclusive", source="run__period_end"),
        C("type", TEXT, "duration_mismatch / cost_mismatch / rate_mismatch / double_billed / phantom / unbilled"),
        C("cause", TEXT),
        C("cause_detail", TEXT),
        C("status", TEXT, "open / disputed / credited / accepted / written_off"),
        C("carrier_cdr_id", INTEGER, "carrier_cdrs.id", source="carrier_cdr"),
        C("call_leg_id", INTEGER, "call_legs.id", source="leg"),
        C("match_method", TEXT, "exact / local_part / fuzzy"),
        C("started_at", TIMESTAMP, "UTC start of the call", source="start_utc"),
        C("platform_seconds", INTEGER),
        C("expected_billable_seconds", INTEGER),
        C("carrier_billed_seconds", INTEGER),
        C("expected_cost", DECIMAL),
        C("carrier_charge", DECIMAL),
        C("amount_at_stake", DECIMAL),
        C("currency", TEXT),
        C("superseded", BOOLEAN, "1 when the latest re-run no longer finds it"),
        C("created_at", TIMESTAMP, "UTC"),
    ),
))
