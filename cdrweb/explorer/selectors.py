"""Reads for the call explorer: the leg list with cost and reconciliation status, one leg's detail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from billing import selectors as billing_selectors
from billing.models import CostRecord
from extraction.models import CallLeg, Participant, Segment, Session, SessionMetric
from reconciliation.models import CdrMatch, Discrepancy

# Discrepancy types where the carrier charged us more than our own rating says (rating.md §9,
# platforms-and-carriers.md §3). "unbilled" is the opposite direction and is not overbilling.
OVERBILLED_TYPES = ("duration_mismatch", "cost_mismatch", "rate_mismatch", "double_billed", "phantom")
# "Open" money: not yet settled. A disputed item is still owed back until credited.
OPEN_STATUSES = ("open", "disputed")


def overbilled_discrepancies(*, open_only: bool = False) -> QuerySet[Discrepancy]:
    """Current discrepancies where the carrier billed more than we rated (amount at stake > 0);
    rows a re-run no longer finds (``superseded``) are left out."""
    found = Discrepancy.objects.filter(type__in=OVERBILLED_TYPES, amount_at_stake__gt=0, superseded=False)
    return found.filter(status__in=OPEN_STATUSES) if open_only else found


def call_leg_list(legs: QuerySet[CallLeg]) -> QuerySet[CallLeg]:
    """Legs with cost, carrier and reconciliation status, in one query per page."""
    worst = Discrepancy.objects.filter(leg=OuterRef("pk"), superseded=False).order_by("-amount_at_stake", "pk")
    return legs.select_related("cost_record", "cost_record__carrier").annotate(
        recon_matched=Exists(CdrMatch.objects.filter(leg=OuterRef("pk"))),
        recon_discrepancy=Subquery(worst.values("type")[:1]),
        recon_discrepancy_status=Subquery(worst.values("status")[:1]),
    )


def recon_label(matched: bool, discrepancy: str | None, status: str | None) -> str:
    """A short reconciliation status for a table cell."""
    if discrepancy:
        return f"{discrepancy.replace('_', ' ')} ({status})"
    return "matched" if matched else "not matched"


# One definition of the CSV export: (column, call_leg_list field, what an empty value becomes;
# None keeps the value as it is). The reconciliation column is computed from three annotations.
_EXPORT_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("id", "id", None),
    ("started_at", "started_at", None),
    ("connected_at", "connected_at", None),
    ("ended_at", "ended_at", None),
    ("platform", "platform", None),
    ("direction", "direction", None),
    ("ani", "ani", None),
    ("dnis", "dnis", None),
    ("duration_ms", "duration_ms", None),
    ("queue_name", "queue_name", None),
    ("wrapup_name", "wrapup_name", None),
    ("trunk", "trunk", None),
    ("external_call_id", "external_call_id", None),
    ("leg_id", "leg_id", None),
    ("sip_call_id", "sip_call_id", None),
    ("carrier", "cost_record__carrier__name", ""),
    ("destination", "cost_record__destination", ""),
    ("country", "cost_record__country", ""),
    ("number_type", "cost_record__number_type", ""),
    ("billable_seconds", "cost_record__billable_seconds", None),
    ("cost", "cost_record__cost", None),
    ("currency", "cost_record__currency", ""),
    ("rating_status", "cost_record__status", "unrated"),
)
_RECON_FIELDS = ("recon_matched", "recon_discrepancy", "recon_discrepancy_status")
EXPORT_COLUMNS = (*(column for column, _, _ in _EXPORT_FIELDS), "reconciliation")


def export_rows(legs: QuerySet[CallLeg], *, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """The filtered legs as flat dicts, streamed with ``iterator()`` (PII is masked by the caller)."""
    rows = (
        call_leg_list(legs)
        .order_by("started_at", "pk")
        .values(*(field for _, field, _ in _EXPORT_FIELDS), *_RECON_FIELDS)
    )
    for row in rows.iterator(chunk_size=chunk_size):
        out = {
            column: row[field] if empty is None else (row[field] or empty) for column, field, empty in _EXPORT_FIELDS
        }
        out["reconciliation"] = recon_label(*(row[name] for name in _RECON_FIELDS))
        yield out


@dataclass
class CallDetail:
    """Everything the call detail page shows about one leg."""

    leg: CallLeg
    cost_record: CostRecord | None
    cost_explanation: dict[str, Any]
    participants: list[Participant] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    metrics: list[SessionMetric] = field(default_factory=list)
    matches: list[CdrMatch] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)


def call_detail(pk: int) -> CallDetail:
    """One leg with its conversation's participants, sessions, segments and metrics, its cost,
    the carrier rows it matched and its discrepancies (a bounded number of queries)."""
    leg = get_object_or_404(CallLeg.objects.select_related("connection", "conversation"), pk=pk)
    cost_record = CostRecord.objects.select_related("carrier", "rate_card", "rate").filter(leg=leg).first()
    if cost_record is not None:
        cost_record.leg = leg  # the explanation reads the leg; spare a query
    detail = CallDetail(leg=leg, cost_record=cost_record, cost_explanation=explain_cost(cost_record))
    if leg.conversation_id:
        conv = leg.conversation_id
        detail.participants = list(Participant.objects.filter(conversation_id=conv).order_by("pk"))
        detail.sessions = list(
            Session.objects.filter(conversation_id=conv).select_related("participant").order_by("pk")
        )
        detail.segments = list(
            Segment.objects.filter(conversation_id=conv)
            .select_related("session", "session__participant")
            .order_by("segment_start", "session_id", "segment_index")
        )
        detail.metrics = list(
            SessionMetric.objects.filter(conversation_id=conv)
            .select_related("session")
            .order_by("session_id", "name", "emit_date")
        )
    detail.matches = list(CdrMatch.objects.filter(leg=leg).select_related("carrier_cdr").order_by("pk"))
    detail.discrepancies = list(
        Discrepancy.objects.filter(Q(leg=leg) | Q(carrier_cdr__in=[m.carrier_cdr_id for m in detail.matches]))
        .select_related("run", "run__carrier")
        .order_by("pk")
    )
    return detail


def explain_cost(cost_record: CostRecord | None) -> dict[str, Any]:
    """How the leg's cost came about: billing's explanation (facts, steps, formula)."""
    if cost_record is None:
        return {
            "status": "unrated",
            "reason": "not rated yet",
            "facts": [("Status", "Not rated yet: the rating task has not reached this leg.")],
            "steps": [],
            "formula": "",
        }
    return billing_selectors.cost_explanation(cost_record)
