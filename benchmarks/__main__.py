"""Run every benchmark script in its own process and write docs/benchmarks.md.

    python -m benchmarks                 # all, default scales
    python -m benchmarks rating import   # only these (names after bench_)
    BENCH_SCALE=small python -m benchmarks   # a quick smoke run with small inputs
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def _scripts(selected: list[str]) -> list[str]:
    names = sorted(p.stem[len("bench_"):] for p in (ROOT / "benchmarks").glob("bench_*.py"))
    return [n for n in names if not selected or n in selected]


def _machine() -> dict[str, str]:
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        pg = "psql not found"
    return {
        "cpu": f"{cpu} × {os.cpu_count()}",
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg,
    }


def _run(name: str) -> tuple[list[dict], str]:
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.bench_{name}"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    log = "" if proc.returncode == 0 else (proc.stderr[-2000:] or proc.stdout[-2000:])
    return results, log


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def main(argv: list[str]) -> int:
    names = _scripts(argv)
    rows, failures = [], []
    for name in names:
        print(f"== bench_{name}", flush=True)
        results, log = _run(name)
        rows.extend(results)
        for r in results:
            print(f"   {r['metric']}: {_fmt(r['value'])} {r['unit']}  (ratio {_fmt(r['ratio'])})", flush=True)
        if log:
            failures.append((name, log))
            print(log, file=sys.stderr)
    machine = _machine()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC with `make bench` (`python -m benchmarks`).",
        "Every figure sits beside an anchor measured in the same run on the same machine; the ratio",
        "is figure ÷ anchor (for times: lower is better; for throughput the script says which way).",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine.items()],
        "",
        "## Results",
        "",
        "| benchmark | metric | value | unit | anchor | anchor value | ratio | target | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['metric']} | {_fmt(r['value'])} | {r['unit']} | {r['anchor']} | "
            f"{_fmt(r['anchor_value'])} | {_fmt(r['ratio'])} | {r['target']} | {r['notes']} |"
        )
    if failures:
        lines += ["", "## Failed scripts", ""] + [f"- bench_{n}: see the run's stderr" for n, _ in failures]
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                      # all scripts, default scales (PostgreSQL at 127.0.0.1:5432)",
        "python -m benchmarks rating     # one script",
        "BENCH_SCALE=small make bench    # quick smoke run",
        "```",
        "",
    ]
    if not argv:
        DOC.write_text("\n".join(lines))
        print(f"wrote {DOC}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
