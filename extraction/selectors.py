"""Reads for extraction pages, commands and the SQL console's planner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.urls import reverse

from extraction.models import ChunkState, Connection, ExtractionChunk, ExtractionRun, RunState


def missing_intervals(*, connection: Connection, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Parts of [start, end) not covered by a completed chunk of any run of this connection."""
    covered = (
        ExtractionChunk.objects.filter(run__connection=connection, state=ChunkState.DONE,
                                       interval_start__lt=end, interval_end__gt=start)
        .order_by("interval_start")
        .values_list("interval_start", "interval_end")
    )
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for a, b in covered:
        if a > cursor:
            gaps.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


def run_list() -> QuerySet[ExtractionRun]:
    return ExtractionRun.objects.select_related("connection", "created_by").order_by("-created_at", "-id")


def connection_list() -> QuerySet[Connection]:
    return Connection.objects.order_by("name")


@dataclass(frozen=True)
class RunProgress:
    """What templates/cdrweb/_progress.html needs."""

    percent: int
    state: str
    label: str
    finished: bool
    poll_url: str


def run_progress(run: ExtractionRun) -> RunProgress:
    """Progress of a run from its chunk states and counters."""
    chunks = list(run.chunks.values_list("state", flat=True))
    total = len(chunks) or 1
    done = sum(1 for s in chunks if s in (ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED))
    finished = run.state in ExtractionRun.FINISHED
    percent = 100 if run.state == RunState.SUCCEEDED else int(done * 100 / total)
    label = (f"{done}/{len(chunks)} chunks · {run.pages_fetched} pages · "
             f"{run.conversations} conversations · {run.call_legs} call legs")
    return RunProgress(percent=percent, state=run.state, label=label, finished=finished,
                       poll_url=reverse("extraction:run-progress", args=[run.pk]))
