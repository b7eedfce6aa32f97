"""SIP Call-ID normalisation (platforms-and-carriers.md §3.1)."""

from __future__ import annotations

import pandas as pd
import pytest

from reconciliation.callid import canonical_call_id, canonical_call_ids, local_part, local_parts

CASES = [
    ("3c26f6a1@192.0.2.10", "3c26f6a1@192.0.2.10"),
    ("  3c26f6a1@192.0.2.10\t", "3c26f6a1@192.0.2.10"),  # whitespace
    ("<7a1b2c3d@sbc1.example.net>", "7a1b2c3d@sbc1.example.net"),  # one pair of brackets
    ("<<a@b>>", "<a@b>"),  # only one pair
    ('"abc@host"', "abc@host"),  # quotes
    ("Call-ID: abc@host", "abc@host"),  # header name
    ("i: abc@host", "abc@host"),  # compact header name
    ("AbC-Def@Host.Example", "AbC-Def@Host.Example"),  # case is kept (RFC 3261 compares byte for byte)
    ("b5e1c0d2a3f44e7c9b8a2d6f1e0c3a02", "b5e1c0d2a3f44e7c9b8a2d6f1e0c3a02"),  # no host
    ("", ""),
]


@pytest.mark.parametrize(("raw", "canonical"), CASES)
def test_canonical_call_id(raw, canonical):
    assert canonical_call_id(raw) == canonical


def test_vectorised_form_agrees_with_the_scalar_one():
    raw = pd.Series([r for r, _ in CASES])

    assert canonical_call_ids(raw).tolist() == [c for _, c in CASES]


def test_local_part_is_before_the_first_at():
    assert local_part("abc@host@other") == "abc"
    assert local_part("abc") == "abc"
    assert local_parts(pd.Series(["a@b", "c", ""])).tolist() == ["a", "c", ""]


def test_none_is_empty():
    assert canonical_call_id(None) == ""
