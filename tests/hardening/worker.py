"""Drive a real django-q2 cluster (``manage.py qcluster``, ORM broker) on a file SQLite database and
kill it with SIGKILL at random points of progress.

The test process and the subprocesses share only the database file. After a kill, "time passes":
the leases our rows hold and the broker's receipt locks are expired in the file (what waiting out
LEASE_SECONDS and Q_CLUSTER["retry"] would do), then the cluster is started again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.05


def env_for(db: Path, *, inline: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "cdrweb.settings", "PYTHONPATH": str(ROOT), "CDRWEB_TESTING": "1",
        "DATABASE_URL": f"sqlite:///{db}", "CDRWEB_TASKS_INLINE": "true" if inline else "false",
        "GENESYS_PAGE_SIZE": "10", "Q_WORKERS": "2", "LOG_LEVEL": "WARNING",
    })
    return env


def step(db: Path, name: str, *args: object, inline: bool = False) -> dict:
    """Run one function of fault_steps.py in a fresh process on ``db``; return its JSON line."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hardening.fault_steps", name, *map(str, args)],
        cwd=ROOT, env=env_for(db, inline=inline), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    lines = [line[5:] for line in proc.stdout.splitlines() if line.startswith("STEP ")]
    return json.loads(lines[-1])


def copy_db(src: Path, dst: Path) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def expire_leases(db: Path) -> None:
    """Stand-in for the clock running past every lease and the broker's retry window."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            if "lease_until" in columns:
                conn.execute(f'UPDATE "{table}" SET lease_until = NULL')
        conn.execute("UPDATE django_q_ormq SET lock = '2000-01-01 00:00:00'")
        conn.commit()
    finally:
        conn.close()


@dataclass
class KillLog:
    kills: list[int] = field(default_factory=list)  # progress value at each SIGKILL
    restarts: int = 0


class Cluster:
    def __init__(self, db: Path, log: Path, chunk_pause: float = 0.0) -> None:
        self.db, self.log, self.proc, self.chunk_pause = db, log, None, chunk_pause

    def start(self) -> None:
        env = env_for(self.db, inline=False)
        if self.chunk_pause:  # paced_qcluster.py: imports slow enough for a kill to land mid-way
            command = ["-m", "tests.hardening.paced_qcluster"]
            env["FAULT_CHUNK_PAUSE_SECONDS"] = str(self.chunk_pause)
        else:
            command = ["manage.py", "qcluster"]
        self.proc = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=env,
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
        )

    def kill9(self) -> None:
        """SIGKILL the whole cluster (sentinel, pusher, workers, monitor): nothing gets to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill9()


def kill_points(rng: random.Random, total: int, kills: int) -> list[int]:
    """``kills`` distinct progress values in [0, total): where the cluster will be killed."""
    return sorted(rng.sample(range(max(total, 1)), k=min(kills, max(total, 1))))


def drive(db: Path, *, progress: Callable[[], int], done: Callable[[], bool], rng: random.Random,
          thresholds: list[int], log: Path, after_kill: Callable[[], None] = lambda: None,
          timeout: float = 240, chunk_pause: float = 0.0) -> KillLog:
    """Run the cluster until ``done()``, killing it when ``progress()`` reaches each threshold."""
    out = KillLog()
    cluster = Cluster(db, log, chunk_pause)
    deadline = time.monotonic() + timeout
    try:
        cluster.start()
        for threshold in thresholds:
            while progress() < threshold and not done():
                assert time.monotonic() < deadline, "no progress before the kill point"
                time.sleep(POLL_SECONDS)
            if done():
                break
            # A random extra moment inside the unit of work, so kills land mid-transaction too.
            time.sleep(rng.random() * 0.3)
            cluster.kill9()
            out.kills.append(progress())
            expire_leases(db)
            after_kill()
            cluster.start()
            out.restarts += 1
        while not done():
            assert time.monotonic() < deadline, f"not finished in {timeout}s (see {log})"
            time.sleep(POLL_SECONDS * 4)
    finally:
        cluster.stop()
    return out
