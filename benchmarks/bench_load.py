"""50 concurrent users on the dashboards and the call explorer while a carrier import and a reconciliation
run in a real django-q2 cluster, on PostgreSQL, loopback only. Bounded in requests and in time.

Seeds legs, cost records and discrepancies with bench_dashboard's set-based seed, writes a Telnyx-format
carrier file for one carrier's legs, queues its import (small chunks) and a reconciliation of another
carrier, starts ``manage.py qcluster`` and gunicorn (as ``make run`` does), then 50 client threads,
each logged in as a Finance Viewer, cycle through the dashboard and explorer pages. Anonymous login
page requests mixed into the same load are the anchor. Every non-200 response counts as an error;
the target is zero errors (the script exits non-zero otherwise).

    python -m benchmarks load
    BENCH_SCALE=small python -m benchmarks load     # 20k legs, 4 requests per user
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.common import Result, migrate_quietly, setup_django, throwaway_postgres, timer

ROOT = Path(__file__).resolve().parent.parent
NAME = "load"
SMALL = os.environ.get("BENCH_SCALE") == "small"
USERS = int(os.environ.get("BENCH_USERS", "50"))
LEGS = int(os.environ.get("BENCH_LEGS", "20000" if SMALL else "200000"))
REQUESTS_PER_USER = int(os.environ.get("BENCH_REQUESTS", "4" if SMALL else "10"))
MAX_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "300"))  # hard bound on the load phase
CARRIER_ROWS = int(os.environ.get("BENCH_CARRIER_ROWS", "5000" if SMALL else "40000"))
PAGES = {
    "dashboard, last 30 days": "/",
    "dashboard, last 7 days": "/?period=last7",
    "call explorer": "/calls/",
    "call explorer, page 3": "/calls/?page=3",
    "discrepancy list": "/reconciliation/discrepancies/",
}
TELNYX_HEADER = ["sip_call_id", "call_leg_id", "start_timestamp", "start_timestamp_utc", "answer_timestamp",
                 "call_duration", "billable_time", "cost", "rate", "currency", "origination_number",
                 "terminating_number", "direction"]


def _carrier_file(path: Path, carrier_name: str, rows: int) -> int:
    """A Telnyx CDR file billing ``rows`` of the carrier's legs (every 10th a little overbilled)."""
    from billing.models import CostRecord

    records = (CostRecord.objects.filter(carrier__name=carrier_name, billable_seconds__gt=0)
               .select_related("leg").order_by("leg_id")[:rows])
    written = 0
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(TELNYX_HEADER)
        for rec in records.iterator(chunk_size=5000):
            leg = rec.leg
            cost = rec.cost + (rec.cost / 10 if leg.pk % 10 == 0 else 0)
            answer = leg.connected_at or leg.started_at
            writer.writerow([
                leg.sip_call_id, f"cl-{leg.pk}", leg.started_at.isoformat(), leg.started_at.isoformat(),
                answer.isoformat(), leg.duration_ms // 1000, rec.billable_seconds, f"{cost:.6f}", "0.0125", "USD",
                leg.ani_e164, leg.dnis_e164, leg.direction,
            ])
            written += 1
    return written


def _queue_background_work(workdir: Path) -> tuple[int, int, int]:
    """Queue a carrier import and a reconciliation (the cluster picks them up); return ids and row count."""
    from django.utils import timezone

    from billing.models import Carrier
    from reconciliation import services

    rows = _carrier_file(workdir / "carrier_a.csv", "Carrier A", CARRIER_ROWS)
    with open(workdir / "carrier_a.csv", "rb") as stream:
        upload = services.create_upload(carrier=Carrier.objects.get(name="Carrier A"), stream=stream,
                                        original_name="carrier_a.csv", preset="telnyx", chunk_rows=2000)
    services.confirm_upload(upload=upload)
    now = timezone.now()
    run = services.start_run(carrier=Carrier.objects.get(name="Carrier B"), period_start=now - timedelta(days=31),
                             period_end=now)
    return upload.pk, run.pk, rows


def _background_state(upload_id: int, run_id: int) -> tuple[str, str]:
    from reconciliation.models import CarrierUpload, ReconciliationRun

    return (CarrierUpload.objects.get(pk=upload_id).status, ReconciliationRun.objects.get(pk=run_id).status)


def _user_load(base: str, deadline: float) -> tuple[dict[str, list[float]], list[str], float]:
    """USERS threads, each logged in, each making REQUESTS_PER_USER requests round the pages, plus anchor."""
    import requests

    from benchmarks.bench_dashboard import _login

    sessions = [_login(base) for _ in range(USERS)]
    for session in sessions:
        # One connection per request: gunicorn closes idle keep-alive sockets after 2 s, and a client
        # reusing one it just closed would count a race of the benchmark itself as a server error.
        session.headers["Connection"] = "close"
    times: dict[str, list[float]] = {label: [] for label in [*PAGES, "login page (anchor)"]}
    errors: list[str] = []
    lock = threading.Lock()
    labels = list(PAGES)

    def user(number: int, session) -> None:
        anonymous = requests.Session()
        anonymous.headers["Connection"] = "close"
        for i in range(REQUESTS_PER_USER):
            if time.monotonic() > deadline:
                return
            label = labels[(number + i) % len(labels)]
            for lab, sess, path in ((label, session, PAGES[label]), ("login page (anchor)", anonymous, "/login/")):
                start = time.perf_counter()
                try:
                    response = sess.get(base + path, timeout=120)
                    status = response.status_code
                except requests.RequestException as exc:
                    status = f"{type(exc).__name__}: {exc}"[:300]
                elapsed = time.perf_counter() - start
                with lock:
                    times[lab].append(elapsed)
                    if status != 200:
                        errors.append(f"{path}: {status}")

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(n, s)) for n, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors, time.perf_counter() - started


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _wait_http(base: str) -> None:
    import requests

    for _ in range(150):
        try:
            requests.get(base + "/healthz", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def main(argv: list[str]) -> list[Result]:
    os.environ["CDRWEB_TASKS_INLINE"] = "false"  # the import and the run go to the real cluster
    from benchmarks.bench_dashboard import _free_port, seed

    workdir = ROOT / "benchmarks" / "out"
    workdir.mkdir(parents=True, exist_ok=True)
    with throwaway_postgres("cdrweb_bench_load") as url:
        setup_django(url)
        migrate_quietly()
        with timer() as seeding:
            seed(LEGS)
        upload_id, run_id, carrier_rows = _queue_background_work(workdir)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, check=True,
                       env={**os.environ, "DATABASE_URL": url})
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "AXES_ENABLED": "false", "CDRWEB_TESTING": "0",
               "CDRWEB_TASKS_INLINE": "false", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "x" * 40),
               "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "cdrweb.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--timeout", "600"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        background_start = time.monotonic()
        try:
            _wait_http(base)
            times, errors, wall = _user_load(base, time.monotonic() + MAX_SECONDS)
            during = _background_state(upload_id, run_id)
            # Let the background work finish (bounded), so the figures say how long it took under load.
            bound = time.monotonic() + MAX_SECONDS
            while time.monotonic() < bound and _background_state(upload_id, run_id) != ("imported", "done"):
                time.sleep(0.5)
            finished = _background_state(upload_id, run_id)
            background_seconds = time.monotonic() - background_start
        finally:
            server.terminate()
            cluster.terminate()
            server.wait(timeout=30)
            cluster.wait(timeout=30)
    anchor = _p95(times.pop("login page (anchor)")) * 1000
    total = sum(len(v) for v in times.values())
    note = (f"{USERS} users x {REQUESTS_PER_USER} requests, {LEGS:,} legs, gunicorn 2x4 + qcluster, import of "
            f"{carrier_rows:,} carrier rows and a reconciliation queued at start (during load: {during[0]}, "
            f"{during[1]}; after {background_seconds:.0f} s: {finished[0]}, {finished[1]}), seed "
            f"{seeding['seconds']:.0f} s")
    results = [
        Result(NAME, "errors", len(errors), "responses", target="0", notes=(errors[0] if errors else note)),
        Result(NAME, "all pages p95", _p95([t for v in times.values() for t in v]) * 1000, "ms",
               anchor="login page p95 (same load)", anchor_value=anchor, notes=note),
        Result(NAME, "throughput", total / wall, "requests/s", notes=note),
        Result(NAME, "background import + reconciliation", background_seconds, "s",
               target="both finish", notes=f"{finished[0]} / {finished[1]}"),
    ]
    for label, values in times.items():
        if values:
            results.append(Result(NAME, f"{label} p95", _p95(values) * 1000, "ms",
                                  anchor="login page p95 (same load)", anchor_value=anchor, notes=note))
    for r in results:
        r.emit()
    if errors or finished != ("imported", "done"):
        sys.exit(1)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
