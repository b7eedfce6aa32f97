"""Reads for the console pages: schema, saved queries, history, and waiting-query progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from cdrweb.console.models import QueryHistory, SavedQuery
from cdrweb.console.vtables import VTable, virtual_tables


def schema() -> list[VTable]:
    """The documented virtual tables, in documentation order."""
    return list(virtual_tables().values())


def saved_queries_for(user: Any) -> QuerySet[SavedQuery]:
    return SavedQuery.objects.filter(owner=user).order_by("name")


def history_for(user: Any) -> QuerySet[QueryHistory]:
    return QueryHistory.objects.filter(user=user).order_by("-created_at", "-id")


@dataclass(frozen=True)
class FetchProgress:
    """What templates/cdrweb/_progress.html needs, plus whether any run failed."""

    percent: int
    state: str
    label: str
    finished: bool
    failed: bool
    poll_url: str


def fetch_progress(history: QueryHistory) -> FetchProgress:
    """Progress of the extraction runs a waiting query started, from their chunk states."""
    from extraction.models import ChunkState, ExtractionChunk, ExtractionRun, RunState

    run_ids = list(history.extraction_run_ids or [])
    states = list(ExtractionRun.objects.filter(pk__in=run_ids).values_list("state", flat=True))
    chunk_states = list(ExtractionChunk.objects.filter(run_id__in=run_ids).values_list("state", flat=True))
    done = sum(1 for s in chunk_states if s in (ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED))
    finished_runs = sum(1 for s in states if s in ExtractionRun.FINISHED)
    # A run deleted meanwhile counts as finished: there is nothing left to wait for.
    finished = finished_runs + (len(run_ids) - len(states)) >= len(run_ids)
    failed = any(s in (RunState.FAILED, RunState.CANCELLED) for s in states)
    percent = 100 if finished else int(done * 100 / (len(chunk_states) or 1))
    state = "failed" if failed else ("done" if finished else "running")
    label = f"{finished_runs}/{len(run_ids)} extraction runs · {done}/{len(chunk_states)} jobs"
    return FetchProgress(
        percent=percent, state=state, label=label, finished=finished, failed=failed,
        poll_url=reverse("console:poll", args=[history.pk]),
    )
