"""Fixtures: the canonical carrier, its rated legs, and small helpers to write carrier files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.reconciliation.factories import CarrierFactory, canonical_legs

DATA = Path(__file__).parent / "data"


@pytest.fixture
def wholesale(db):
    """A 30/6 wholesale carrier whose card matches the generic sample file exactly."""
    return CarrierFactory(name="Wholesale", currency="USD")


@pytest.fixture
def wholesale_legs(wholesale):
    return canonical_legs(carrier=wholesale, increments=(30, 6))


def edit_sample(tmp_path: Path, name: str, replace: dict[str, str], extra_lines: list[str] = (),
                target: str = "edited.csv") -> Path:
    """A copy of a sample with whole-line substitutions (keyed by a unique fragment) and extra rows."""
    text = (DATA / name).read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    for fragment, new_line in replace.items():
        hits = [i for i, line in enumerate(lines) if fragment in line]
        assert len(hits) == 1, fragment
        lines[hits[0]] = new_line
    lines.extend(extra_lines)
    path = tmp_path / target
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def money(value: str) -> Decimal:
    return Decimal(value)
