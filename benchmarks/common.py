"""Shared plumbing for benchmark scripts: results, timing, peak memory, a throwaway PostgreSQL DB.

A benchmark script is a module ``benchmarks/bench_<name>.py`` with ``main(argv) -> list[Result]``;
it is run in its own process (so peak memory is its own) by ``python -m benchmarks``, and prints
its results as JSON lines prefixed with ``RESULT``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@dataclass
class Result:
    benchmark: str
    metric: str
    value: float
    unit: str
    anchor: str = ""
    anchor_value: float | None = None
    target: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.anchor_value:
            return None
        return self.value / self.anchor_value

    def emit(self) -> None:
        print("RESULT " + json.dumps({**asdict(self), "ratio": self.ratio}), flush=True)


@contextlib.contextmanager
def timer() -> Iterator[dict]:
    out: dict = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) another process on this machine has used so far: the sandbox,
    or a PostgreSQL backend. None when it is not readable here (another machine, not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def backend_pid() -> int:
    """The process id of this Django connection's PostgreSQL backend."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def setup_django(database_url: str | None = None) -> None:
    """Configure Django for a benchmark process (optionally on a given database)."""
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdrweb.settings")
    os.environ.setdefault("CDRWEB_TASKS_INLINE", "true")
    import django

    django.setup()


@contextlib.contextmanager
def throwaway_postgres(name: str) -> Iterator[str]:
    """Create database ``name_<pid>`` on the local PostgreSQL server, yield its URL, drop it after.

    The process id keeps two benchmark runs on one server (two checkouts, a rerun while an old
    one is still dropping) from dropping each other's database."""
    import psycopg

    name = f"{name}_{os.getpid()}"

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_quietly() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
