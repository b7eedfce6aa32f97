"""The hardening suite's figures (pages × roles, values scanned, inputs fuzzed, faults injected).

Each test writes its own small JSON file under test-output/hardening/ (one file per test, so
parallel workers never share a file); docs/SECURITY.md quotes the figures of a full run.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "test-output" / "hardening"


def record(name: str, **figures: object) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))
