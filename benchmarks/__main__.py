"""Run every benchmark script in its own process and write docs/benchmarks.md.

    python -m benchmarks                 # all, default scales
    python -m benchmarks rating import   # only these (names after bench_); --write replaces their rows
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
# `make bench` rewrites only the block between these markers; the analysis around it is kept.
START, END = "<!-- make-bench:start -->", "<!-- make-bench:end -->"


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
    selected = [a for a in argv if not a.startswith("--")]
    names = _scripts(selected)
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
    if not selected:
        write_doc(_results_block(rows, failures))
        print(f"wrote {DOC}")
    elif "--write" in argv and not failures:
        write_doc(_replace_rows(_current_block(), names, rows))
        print(f"updated the rows of {', '.join(names)} in {DOC}")
    return 1 if failures else 0


def _row(r: dict) -> str:
    return (
        f"| {r['benchmark']} | {r['metric']} | {_fmt(r['value'])} | {r['unit']} | {r['anchor']} | "
        f"{_fmt(r['anchor_value'])} | {_fmt(r['ratio'])} | {r['target']} | {r['notes']} |"
    )


def _current_block() -> str:
    text = DOC.read_text() if DOC.exists() else ""
    if START in text and END in text:
        return START + text.split(START, 1)[1].split(END, 1)[0] + END
    return _results_block([], [])


def _replace_rows(block: str, names: list[str], rows: list[dict]) -> str:
    """The block with the table rows of ``names`` replaced by ``rows`` (re-measured scripts), and a
    line saying when; the other scripts' rows are kept as they were."""
    lines = block.split("\n")
    ours = [i for i, line in enumerate(lines) if any(line.startswith(f"| {n} |") for n in names)]
    at = ours[0] if ours else max(i for i, line in enumerate(lines) if line.startswith("|")) + 1
    kept = [line for i, line in enumerate(lines) if i not in set(ours)]
    kept[at:at] = [_row(r) for r in rows]
    prefix = f"Rows of {', '.join(names)} re-measured "
    kept = [line for line in kept if not line.startswith(prefix)]  # the stamp these rows replace
    kept.insert(len(kept) - 1, f"{prefix}{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.")
    return "\n".join(kept)


def _results_block(rows: list[dict], failures: list[tuple[str, str]]) -> str:
    machine = _machine()
    scale = os.environ.get("BENCH_SCALE", "default")
    lines = [
        START,
        f"### Latest `make bench` run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC (scale: {scale})",
        "",
        *[f"- {k}: {v}" for k, v in machine.items()],
        "",
        "| benchmark | metric | value | unit | anchor | anchor value | ratio | target | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(_row(r) for r in rows)
    if failures:
        lines += ["", "Failed scripts (see the run's stderr): " + ", ".join(f"bench_{n}" for n, _ in failures)]
    lines.append(END)
    return "\n".join(lines)


def write_doc(block: str) -> None:
    """Replace the generated block in docs/benchmarks.md (append it when the page has none)."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## Generated results\n\n" + block + "\n"
    DOC.write_text(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
