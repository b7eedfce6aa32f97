"""Platform adapters: one registry from platform key to adapter class.

The extraction pipeline (runs, chunks, cursors, storage) is platform-neutral; an adapter is the
only platform-specific part. To add a platform (Engage Voice, Voiso), write a subpackage with a
class implementing ``PlatformAdapter`` and add it to ``ADAPTERS`` below. The contract, in short:

- ``limits()``: live job limits (max interval, page size, concurrent jobs) with settings fallbacks.
- ``data_availability()``: the instant before which bulk jobs hold complete data (or None = now).
- ``submit_job(start, end)`` -> job id; ``job_status(job_id)`` -> JobStatus; ``delete_job(job_id)``.
  A platform without async jobs returns "" from submit_job and a READY status.
- ``fetch_job_page(job_id, cursor)`` and ``fetch_query_page(start, end, page_number)`` -> Page
  (raw records plus the next cursor/page; None when done).
- ``fetch_by_ids(ids)``: raw records of the given conversations (to refresh open ones).
- ``flatten(records)`` -> FlatPage (rows for our tables, CallLegs included); pure, no database.
- ``sync_reference_data()`` -> (wrap-up codes, queues) as {id: name}; ``test()`` -> short text.

Errors raise ``PlatformError`` (message safe to show: no secrets, no PII).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from extraction.models import Connection


class PlatformError(Exception):
    """A platform call failed in a way the user should see (bad credentials, scope, interval...)."""


class JobGone(PlatformError):
    """The job's results are no longer fetchable (FAILED/EXPIRED/CANCELLED): resubmit the chunk."""


@dataclass(frozen=True)
class Limits:
    max_interval_days: int
    page_size: int
    max_concurrent_jobs: int


@dataclass(frozen=True)
class JobStatus:
    state: str  # the platform's state name, e.g. QUEUED/PENDING/FULFILLED/FAILED/EXPIRED
    ready: bool = False
    gone: bool = False  # terminal without results: resubmit
    error: str = ""
    expires_at: datetime | None = None


@dataclass
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None = None
    next_page_number: int | None = None
    data_availability: datetime | None = None


@dataclass
class FlatPage:
    """Rows for our tables, as plain dicts keyed by model field names; children nest by list."""

    conversations: list[dict[str, Any]] = field(default_factory=list)
    legs: list[dict[str, Any]] = field(default_factory=list)
    # Rows the adapter could not read, and notes on rows it read with an assumption, as short texts
    # ("line 7, column enqueue_time: ..."); no PII. The pipeline logs them and keeps them on the chunk.
    problems: list[str] = field(default_factory=list)
    # Records deliberately left out, counted by kind (e.g. Voiso ``outbound_sms``): not errors.
    skipped: dict[str, int] = field(default_factory=dict)


class PlatformAdapter(Protocol):
    key: str

    def __init__(self, connection: Connection) -> None: ...
    def limits(self) -> Limits: ...
    def data_availability(self) -> datetime | None: ...
    def submit_job(self, start: datetime, end: datetime) -> str: ...
    def job_status(self, job_id: str) -> JobStatus: ...
    def delete_job(self, job_id: str) -> None: ...
    def fetch_job_page(self, job_id: str, cursor: str | None) -> Page: ...
    def fetch_query_page(self, start: datetime, end: datetime, page_number: int) -> Page: ...
    def fetch_by_ids(self, ids: list[str]) -> list[dict[str, Any]]: ...
    def flatten(self, records: list[dict[str, Any]]) -> FlatPage: ...
    def sync_reference_data(self) -> tuple[dict[str, str], dict[str, str]]: ...
    def test(self) -> str: ...


# Imported last: adapters import the dataclasses above.
from extraction.platforms.engage.adapter import EngageAdapter  # noqa: E402
from extraction.platforms.genesys.adapter import GenesysAdapter  # noqa: E402
from extraction.platforms.voiso.adapter import VoisoAdapter  # noqa: E402

ADAPTERS: dict[str, type] = {"genesys": GenesysAdapter, "engage": EngageAdapter, "voiso": VoisoAdapter}


def adapter_for(connection: Connection) -> PlatformAdapter:
    """The adapter for a connection's platform; PlatformError when none is registered."""
    try:
        cls = ADAPTERS[connection.platform]
    except KeyError:
        raise PlatformError(f"No extraction adapter for platform {connection.platform!r} yet") from None
    return cls(connection)
