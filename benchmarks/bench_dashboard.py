"""Dashboard and call explorer response times at 1M call legs on PostgreSQL, 10 clients, loopback.

Seeds a throwaway database with set-based SQL (legs over the last 30 days, a cost record for each,
~1% overbilled discrepancies), starts gunicorn as ``make run`` does, logs in as a Finance Viewer and
fires requests from 10 client threads. The login page, measured in the same run under the same
load, is the anchor. Target: dashboard p95 within 3x the login page's p95.

Before measuring, the preset views are drawn once as the worker's dashboard-warmer does every
minute; "uncached" asks for a distinct custom period per request, so every one is drawn afresh.

    python -m benchmarks dashboard
    BENCH_SCALE=small python -m benchmarks dashboard   # 50k legs
    BENCH_LEGS=200000 python -m benchmarks.bench_dashboard
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import Result, migrate_quietly, setup_django, throwaway_postgres, timer

ROOT = Path(__file__).resolve().parent.parent
NAME = "dashboard"
CLIENTS = 10
LEGS = int(os.environ.get("BENCH_LEGS", "50000" if os.environ.get("BENCH_SCALE") == "small" else "1000000"))
REQUESTS_PER_CLIENT = int(os.environ.get("BENCH_REQUESTS", "5" if os.environ.get("BENCH_SCALE") == "small" else "10"))
PASSWORD = "bench-password-1"


# --- seeding --------------------------------------------------------------------------------------

_FILLERS = {
    "character varying": "''",
    "text": "''",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "boolean": "false",
    "numeric": "0",
    "jsonb": "'{}'::jsonb",
    "timestamp with time zone": "now()",
    "date": "current_date",
    "double precision": "0",
}


def _insert_select(cursor, table: str, values: dict[str, str], source: str) -> None:
    """INSERT ... SELECT with every NOT NULL column we did not name filled with a neutral value,
    so the seed keeps working when other apps add columns."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL",
        [table],
    )
    for column, data_type in cursor.fetchall():
        if column not in values and column != "id":
            values[column] = _FILLERS.get(data_type, "''")
    columns = ", ".join(f'"{c}"' for c in values)
    cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {", ".join(values.values())} {source}')


def seed(legs: int) -> dict:
    """Legs spread over the last 30 days with cost records and overbilled discrepancies."""
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from billing.models import Carrier
    from cdrweb.roles import FINANCE_VIEWER
    from extraction.models import Connection
    from reconciliation.models import ReconciliationRun

    conn = Connection.objects.create(name="bench", platform="genesys")
    carriers = [Carrier.objects.create(name=f"Carrier {c}", currency="USD") for c in "ABCD"]
    runs = []
    for carrier in carriers:
        runs.append(
            ReconciliationRun.objects.create(
                carrier=carrier,
                period_start="2000-01-01T00:00Z",
                period_end="2100-01-01T00:00Z",
                status="done",
            )
        )
    user = User.objects.create_user("bench_viewer", password=PASSWORD)
    user.groups.add(Group.objects.get(name=FINANCE_VIEWER))
    start = "now() - interval '30 days'"
    with connection.cursor() as cur:
        _insert_select(
            cur,
            "extraction_callleg",
            {
                "connection_id": str(conn.pk),
                "platform": "'genesys'",
                "external_call_id": "'conv-' || g",
                "leg_id": "'leg-' || g",
                "sip_call_id": "'call' || g || '@sbc.example.net'",
                "sip_call_id_local": "'call' || g",
                "direction": "CASE WHEN g % 3 = 0 THEN 'inbound' ELSE 'outbound' END",
                "ani": "'+1415' || lpad((g % 10000000)::text, 7, '0')",
                "dnis": "'+44' || (2000000000 + g % 100000000)",
                "ani_e164": "'+1415' || lpad((g % 10000000)::text, 7, '0')",
                "dnis_e164": "'+44' || (2000000000 + g % 100000000)",
                "started_at": f"{start} + (g::bigint * 2592000 / {legs}) * interval '1 second'",
                "connected_at": f"{start} + (g::bigint * 2592000 / {legs} + 5) * interval '1 second'",
                "ended_at": f"{start} + (g::bigint * 2592000 / {legs} + 5 + g % 600) * interval '1 second'",
                "duration_ms": "(g % 600) * 1000",
                "queue_name": "'Queue ' || (g % 12)",
                "wrapup_name": "'Code ' || (g % 25)",
                "trunk": "'trunk-' || (g % 4)",
                "extracted_at": "now()",
            },
            f"FROM generate_series(1, {legs}) AS g",
        )
        carrier_ids = ", ".join(str(c.pk) for c in carriers)
        countries = "ARRAY['GB','US','FR','DE','ES','IE','NL','IN','PH','MX']"
        _insert_select(
            cur,
            "billing_costrecord",
            {
                "leg_id": "l.id",
                "carrier_id": f"(ARRAY[{carrier_ids}])[1 + l.id % 4]",
                "country": f"({countries})[1 + l.id % 10]",
                "destination": "'Destination ' || (l.id % 10)",
                "number_type": "(ARRAY['fixed','mobile','toll_free'])[1 + l.id % 3]",
                "billable_seconds": "CEIL((l.duration_ms / 1000.0) / 6) * 6",
                "talk_seconds": "l.duration_ms / 1000",
                "exact_cost": "ROUND((l.duration_ms / 60000.0) * 0.0125, 6)",
                "cost": "ROUND((l.duration_ms / 60000.0) * 0.0125, 4)",
                "currency": "'USD'",
                "status": "CASE WHEN l.id % 50 = 0 THEN 'unrated' ELSE 'rated' END",
                "rated_at": "now()",
            },
            "FROM extraction_callleg l",
        )
        run_ids = ", ".join(str(r.pk) for r in runs)
        _insert_select(
            cur,
            "reconciliation_discrepancy",
            {
                "run_id": f"(ARRAY[{run_ids}])[1 + l.id % 4]",
                "key": "'cost_mismatch::' || l.id",
                "type": "'cost_mismatch'",
                "status": "(ARRAY['open','disputed','credited'])[1 + l.id % 3]",
                "leg_id": "l.id",
                "start_utc": "l.started_at",
                "amount_at_stake": "0.05 + (l.id % 7) * 0.01",
                "currency": "'USD'",
                "superseded": "false",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "FROM extraction_callleg l WHERE l.id % 97 = 0",
        )
        cur.execute("ANALYZE")
    return {"legs": legs}


# --- load -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _login(base: str):
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = session.post(
        f"{base}/login/",
        data={"username": "bench_viewer", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if done.status_code != 302:
        raise RuntimeError(f"login failed: {done.status_code}")
    return session


def _load(base: str, path, *, logged_in: bool, per_client: int = REQUESTS_PER_CLIENT) -> list[float]:
    """Seconds per request, from CLIENTS threads each making ``per_client`` requests; ``path`` is a
    string or a function of the request number (to make every request distinct)."""
    import requests

    sessions = [_login(base) if logged_in else requests.Session() for _ in range(CLIENTS)]
    times: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def client(number: int, session) -> None:
        for i in range(per_client):
            url = base + (path(number * per_client + i) if callable(path) else path)
            start = time.perf_counter()
            response = session.get(url, timeout=600)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                errors.append(f"{path}: HTTP {response.status_code}")
            with lock:
                times.append(elapsed)

    threads = [threading.Thread(target=client, args=(n, s)) for n, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return times


COLD_PER_CLIENT = 2


def _cold_path(number: int) -> str:
    import datetime as dt

    end = dt.date.today() - dt.timedelta(days=number % 3)
    start = end - dt.timedelta(days=29 - number // 3)
    return f"/?period=custom&start={start}&end={end}"


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main(argv: list[str]) -> list[Result]:
    with throwaway_postgres("cdrweb_bench_dashboard") as url:
        setup_django(url)
        migrate_quietly()
        from django.core.management import call_command

        from cdrweb.dashboard import warm_views

        with timer() as seeding:
            seed(LEGS)
        # the seed writes legs and cost records with plain SQL, past the rating and extraction
        # hooks that keep the dashboard rollups current: build them once, as an upgrade would
        with timer() as rolling:
            call_command("rebuild_rollup", verbosity=0)
        # DEBUG is off, so pages need the hashed static files (as `make setup` collects them)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "DATABASE_URL": url},
        )
        port = _free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "false",
            "AXES_ENABLED": "false",
            "CDRWEB_TESTING": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "x" * 40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
        # the same gunicorn line as `manage.py serve` (2 workers x 4 threads)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "cdrweb.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "600",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            import requests

            for _ in range(100):
                try:
                    requests.get(base + "/healthz", timeout=10)
                    break
                except requests.RequestException:
                    time.sleep(0.2)
            # what the worker's dashboard-warmer does every minute (cdrweb.dashboard.warm_views):
            # the unfiltered view of every period preset is drawn for the current data
            with timer() as warming:
                warmed = warm_views()
            _load(base, "/", logged_in=True, per_client=1)  # warm-up: connections, imports
            login = _load(base, "/login/", logged_in=False)
            dashboard = _load(base, "/", logged_in=True)
            # a distinct 30-day window per request: every one misses the cache and scans the legs
            cold = _load(base, _cold_path, logged_in=True, per_client=COLD_PER_CLIENT)
            last7 = _load(base, "/?period=last7", logged_in=True)
            explorer = _load(base, "/calls/", logged_in=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    anchor_p95 = _p95(login)
    note = (
        f"{LEGS:,} legs, {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests, gunicorn 2x4, "
        f"seed {seeding['seconds']:.0f} s, rollup rebuild {rolling['seconds']:.1f} s, "
        f"{warmed} preset views drawn by the warmer in {warming['seconds']:.1f} s, "
        f"login median {statistics.median(login) * 1000:.0f} ms"
    )
    results = [Result(NAME, "login page p95", _p95(login) * 1000, "ms", notes=note)]
    for label, times in (
        ("dashboard, last 30 days", dashboard),
        ("dashboard, uncached 30 days", cold),
        ("dashboard, last 7 days (preset, warmed)", last7),
        ("call explorer, last 30 days", explorer),
    ):
        results.append(
            Result(
                NAME,
                f"{label} median",
                statistics.median(times) * 1000,
                "ms",
                anchor="login page p95",
                anchor_value=anchor_p95 * 1000,
                notes=note,
            )
        )
        results.append(
            Result(
                NAME,
                f"{label} p95",
                _p95(times) * 1000,
                "ms",
                anchor="login page p95",
                anchor_value=anchor_p95 * 1000,
                # the target is the dashboard as people get it: a view already drawn, by an
                # earlier visitor or by the warmer; a never-seen filter combination is reported
                # beside it (ten of them at once, each drawn from the database)
                target="<= 3x login p95" if label.startswith("dashboard") and "uncached" not in label else "",
                notes=note,
            )
        )
    for r in results:
        r.emit()
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
