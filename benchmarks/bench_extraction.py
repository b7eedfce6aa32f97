"""Genesys extraction: conversations per second from the sandbox into the database (issue 3).

The sandbox runs in its own process (``manage.py genesys_sandbox``) on loopback. The measured
figure is the whole service (``extraction.services.run_extraction``: job, polling, HTTP pages,
flattening, idempotent upserts of six tables plus call legs, one transaction per page). The
anchor, measured in the same run from the same pages saved to disk: parse with orjson, flatten in
plain Python (the same rows) and load them with PostgreSQL ``COPY`` (or, on SQLite, ``executemany``
in one transaction). Target: the whole extraction within 1.5x of the anchor's time.

    python -m benchmarks extraction                           # 100,000 conversations, both databases
    BENCH_SCALE=small python -m benchmarks extraction         # 5,000 conversations
    BENCH_CONVERSATIONS=20000 python -m benchmarks extraction  # any size
    python -m benchmarks.bench_extraction --backend sqlite    # one database only
"""

from __future__ import annotations

import gc
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import (
    Result,
    backend_pid,
    migrate_quietly,
    peak_rss_mb,
    process_cpu_seconds,
    setup_django,
    throwaway_postgres,
    timer,
)

# BENCH_CONVERSATIONS (e.g. 20000) overrides the scale, to see how the cost grows with size.
CONVERSATIONS = int(os.environ.get("BENCH_CONVERSATIONS") or
                    (5_000 if os.environ.get("BENCH_SCALE") == "small" else 100_000))
DAYS = 25
START = datetime(2026, 1, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "conversation": ["conversation_id", "conversation_start", "conversation_end", "originating_direction"],
    "participant": ["conversation_id", "participant_id", "participant_name", "purpose", "user_id"],
    "session": ["conversation_id", "participant_id", "session_id", "media_type", "direction", "ani", "dnis",
                "protocol_call_id", "edge_id", "t_talk_ms", "t_held_ms", "t_acw_ms", "t_handle_ms"],
    "segment": ["session_id", "segment_index", "segment_start", "segment_end", "segment_type", "queue_id",
                "wrap_up_code", "disconnect_type"],
    "metric": ["session_id", "name", "value", "emit_date"],
    "leg": ["leg_id", "conversation_id", "sip_call_id", "direction", "ani_e164", "dnis_e164", "started_at",
            "connected_at", "ended_at", "duration_ms", "talk_ms"],
}


def _cpu_seconds() -> float:
    """CPU time of this process: on a shared, loaded machine wall time mostly measures the neighbours."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _others_cpu(sandbox_pid: int, server_pid: int | None) -> tuple[float | None, float | None]:
    """CPU seconds so far of the sandbox process and of the PostgreSQL backend (None: not readable)."""
    return process_cpu_seconds(sandbox_pid), (process_cpu_seconds(server_pid) if server_pid else None)


def _minus(after: tuple[float | None, ...], before: tuple[float | None, ...]) -> tuple[float | None, ...]:
    return tuple(None if a is None or b is None else a - b for a, b in zip(after, before, strict=True))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sandbox(calls_per_day: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "genesys_sandbox", "--port", str(port), "--seed", "11",
         "--calls-per-day", str(calls_per_day)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # "Genesys sandbox on ..." once it listens
    return proc, f"http://127.0.0.1:{port}"


def _save_pages(base_url: str, start: datetime, end: datetime, folder: Path) -> int:
    """Fetch the job's raw pages once (untimed) for the anchor; returns the page count."""
    from extraction.platforms.genesys.adapter import JOBS, job_body
    from extraction.platforms.genesys.client import GenesysClient

    client = GenesysClient(api_base=base_url, login_base=base_url, client_id="bench", client_secret="bench")
    job = client.post(JOBS, job_body(start, end))["jobId"]
    while client.get(f"{JOBS}/{job}")["state"] != "FULFILLED":
        time.sleep(0.05)
    cursor, pages = None, 0
    while True:
        params = {"pageSize": 100, **({"cursor": cursor} if cursor else {})}
        response = client.http.get(f"{base_url}{JOBS}/{job}/results", params=params,
                                   headers={"Authorization": f"Bearer {client.token()}"}, timeout=60)
        (folder / f"{pages:06d}.json").write_bytes(response.content)
        pages += 1
        import orjson

        cursor = orjson.loads(response.content).get("cursor")
        if not cursor:
            break
    client.delete(f"{JOBS}/{job}")
    return pages


def _anchor_rows(folder: Path):
    """Pages -> plain tuples per table: orjson + plain-Python flattening (no ORM)."""
    import orjson

    from extraction.platforms.genesys.flatten import flatten_conversations

    for path in sorted(folder.glob("*.json")):
        flat = flatten_conversations(orjson.loads(path.read_bytes())["conversations"])
        rows: dict[str, list[tuple]] = {t: [] for t in TABLES}
        for c in flat.conversations:
            rows["conversation"].append(tuple(c[k] for k in TABLES["conversation"]))
            for p in c["participants"]:
                rows["participant"].append((c["conversation_id"], *(p[k] for k in TABLES["participant"][1:])))
                for s in p["sessions"]:
                    rows["session"].append((c["conversation_id"], p["participant_id"],
                                            *(s[k] for k in TABLES["session"][2:])))
                    for seg in s["segments"]:
                        rows["segment"].append((s["session_id"], *(seg[k] for k in TABLES["segment"][1:])))
                    for m in s["metrics"]:
                        rows["metric"].append((s["session_id"], m["name"], m["value"], m["emit_date"]))
        for leg in flat.legs:
            rows["leg"].append((leg["leg_id"], leg["external_call_id"], *(leg[k] for k in TABLES["leg"][2:])))
        yield rows


def _anchor(folder: Path, backend: str, *, collector_paused: bool = False) -> tuple[float, int]:
    """The anchor's time and row count. ``collector_paused``: the same work with Python's cycle
    collector paused per page, as the extraction pauses it per step (cdrweb/collector.py), so the
    report shows how much of the ratio that pause is."""
    from django.db import connection

    from cdrweb.collector import collector_paused as paused

    pages = _anchor_rows(folder)
    if collector_paused:
        pages = _each_paused(pages, paused)
    suffix = "_paused" if collector_paused else ""
    rows_total = 0
    with connection.cursor() as cursor:
        for table, columns in TABLES.items():
            cols = ", ".join(f"{c} text" for c in columns)
            kind = "UNLOGGED TABLE" if backend == "postgres" else "TABLE"
            cursor.execute(f"CREATE {kind} anchor_{table}{suffix} ({cols})")
        raw = cursor.cursor
        with timer() as t:
            if backend == "postgres":
                for rows in pages:
                    for table, items in rows.items():
                        with raw.copy(f"COPY anchor_{table}{suffix} FROM STDIN") as copy:
                            for item in items:
                                copy.write_row(item)
                        rows_total += len(items)
                connection.commit() if not connection.get_autocommit() else None
            else:
                raw.execute("BEGIN")
                for rows in pages:
                    for table, items in rows.items():
                        marks = ", ".join("?" for _ in TABLES[table])
                        raw.executemany(f"INSERT INTO anchor_{table}{suffix} VALUES ({marks})",
                                        [tuple(str(v) if v is not None else None for v in i) for i in items])
                        rows_total += len(items)
                raw.execute("COMMIT")
    return t["seconds"], rows_total


def _each_paused(pages, paused):
    """Yield each page's rows built, and then written, with the collector paused."""
    iterator = iter(pages)
    while True:
        with paused():
            rows = next(iterator, None)
            if rows is None:
                return
            yield rows


def run_backend(backend: str, database_url: str) -> list[Result]:
    # Billing rates announced legs in a task; queue it (not inline) so only extraction is timed.
    os.environ["CDRWEB_TASKS_INLINE"] = "false"
    setup_django(database_url)
    migrate_quietly()
    from extraction import services
    from extraction.models import CallLeg, Connection, Conversation, RunState

    calls_per_day = -(-CONVERSATIONS // DAYS)
    end = START + timedelta(days=DAYS)
    sandbox, base_url = _start_sandbox(calls_per_day)
    try:
        connection = Connection.objects.create(name="bench", base_url=base_url, client_id="bench",
                                               client_secret="bench", settings={"poll_seconds": 0.05})
        run = services.start_extraction(connection=connection, start=START, end=end, enqueue_task=False)
        # Where the two cores went: this process, the sandbox serving pages, the database server.
        server = backend_pid() if backend == "postgres" else None
        others_before = _others_cpu(sandbox.pid, server)
        cpu_before = _cpu_seconds()
        with timer() as t:
            run = services.run_extraction(run_id=run.pk)
        cpu = _cpu_seconds() - cpu_before
        sandbox_cpu, server_cpu = _minus(_others_cpu(sandbox.pid, server), others_before)
        assert run.state == RunState.SUCCEEDED, run.error
        stored = Conversation.objects.count()
        legs = CallLeg.objects.count()
        peak = peak_rss_mb()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _save_pages(base_url, START, end, folder)
            gc.collect()  # the anchor starts from a clean heap, not with the extraction's leftovers
            cpu_before = _cpu_seconds()
            others_before = _others_cpu(sandbox.pid, server)
            anchor_seconds, anchor_rows = _anchor(folder, backend)
            anchor_cpu = _cpu_seconds() - cpu_before
            anchor_server_cpu = _minus(_others_cpu(sandbox.pid, server), others_before)[1]
            gc.collect()
            paused_seconds, _rows = _anchor(folder, backend, collector_paused=True)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    label = "PostgreSQL" if backend == "postgres" else "SQLite"
    anchor_name = "orjson + plain flatten + COPY" if backend == "postgres" else "orjson + flatten + executemany"
    return [
        Result("extraction", f"extraction time ({label})", t["seconds"], "s", anchor_name, anchor_seconds,
               "≤ 1.5x", f"{stored:,} conversations, {legs:,} legs, {run.pages_fetched} pages; anchor "
                         f"{anchor_rows:,} rows"),
        Result("extraction", f"extraction time vs the anchor with the collector paused ({label})", t["seconds"],
               "s", f"{anchor_name}, collector paused per page", paused_seconds, "",
               "the same anchor with the cycle-collector pause the extraction uses: how much of the ratio "
               "that pause is (informational; the target is against the plain anchor above)"),
        Result("extraction", f"throughput ({label})", stored / t["seconds"], "conv/s", "anchor conv/s",
               stored / anchor_seconds, "", "higher is better"),
        Result("extraction", f"CPU time in this process ({label})", cpu, "s", "anchor CPU time", anchor_cpu,
               "≤ 1.5x", "excludes the sandbox process; on a loaded machine this is the fairer ratio"),
        Result("extraction", f"peak memory ({label})", peak, "MiB", "", None, "",
               "extraction process, before the anchor"),
        *([Result("extraction", f"sandbox CPU during the extraction ({label})", sandbox_cpu, "s", "", None, "",
                  "the simulated platform generating and serving pages on the same two cores; the anchor "
                  "reads pages saved to disk")] if sandbox_cpu is not None else []),
        *([Result("extraction", f"database server CPU ({label})", server_cpu, "s", "server CPU of the anchor's COPY",
                  anchor_server_cpu, "", "the extraction's PostgreSQL backend: indexes, constraints, WAL, one "
                                         "commit per batch of pages; the anchor writes unlogged, index-free tables")]
          if server_cpu is not None and anchor_server_cpu is not None else []),
    ]


def main(argv: list[str]) -> list[Result]:
    if "--backend" in argv:
        backend = argv[argv.index("--backend") + 1]
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                return run_backend("sqlite", f"sqlite:///{tmp}/bench_extraction.sqlite3")
        with throwaway_postgres("cdrweb_bench_extraction") as url:
            return run_backend("postgres", url)
    results: list[Result] = []
    for backend in ("sqlite", "postgres"):  # one process each: Django binds one database per process
        proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_extraction", "--backend", backend],
                              cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                print(line, flush=True)
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
    return results


if __name__ == "__main__":
    for result in main(sys.argv[1:]):
        result.emit()
