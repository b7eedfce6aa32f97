import pandas as pd
import pytest

from cdrweb import masking
from cdrweb.masking import MASKED, REVEALED, PiiKind


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+14155550188", "***0188"),
        ("tel:+14155550188", "***0188"),
        ("sip:+13125550101@198.51.100.24", "***0101"),
        ("(415) 555-0188", "***0188"),
        ("+1 415 555 0188 ext. 12", "***0188"),
        ("+1 415 555 0188 x12", "***0188"),
        ("4155550188;ext=99", "***0188"),
        ("00442079460123", "***0123"),
        ("12345", "***2345"),
        ("1234", "****"),  # short numbers: nothing of them is shown
        ("42", "****"),
        ("anonymous", "REDACTED"),
        ("", ""),
        (None, ""),
        (4155550188, "***0188"),
    ],
)
def test_mask_phone(raw, masked):
    assert masking.mask_phone(raw) == masked


def test_mask_phone_never_contains_more_than_four_digits():
    for raw in ["+14155550188", "+447911123456", "tel:+33142685300", "0044 20 7946 0123"]:
        digits = [c for c in masking.mask_phone(raw) if c.isdigit()]
        assert len(digits) == 4


@pytest.mark.parametrize(("raw", "masked"), [("Jane Doe", "REDACTED"), ("", ""), (None, ""), ("  ", "")])
def test_mask_name(raw, masked):
    assert masking.mask_name(raw) == masked


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("jane.doe@example.com", "***@example.com"), ("no-at-sign", "REDACTED"), (None, ""), ("x@", "REDACTED")],
)
def test_mask_email(raw, masked):
    assert masking.mask_email(raw) == masked


def test_scrub_masks_numbers_and_emails_in_prose_but_keeps_dates_and_ids():
    text = "Call from +1 (415) 555-0188 to tel:+13125550101 by jane@example.com on 2026-11-03T14:05:09Z run 42"
    out = masking.scrub(text)
    assert "415" not in out and "555-0188" not in out
    assert "***0188" in out and "***0101" in out
    assert "jane" not in out and "***@example.com" in out
    assert "2026-11-03T14:05:09Z" in out and "run 42" in out


def test_masker_row_and_frame():
    fields = {"ani": PiiKind.PHONE, "agent": PiiKind.NAME, "mail": PiiKind.EMAIL}
    row = {"ani": "+14155550188", "agent": "Jane", "mail": "j@example.com", "cost": "0.01"}
    assert MASKED.row(row, fields) == {"ani": "***0188", "agent": "REDACTED", "mail": "***@example.com", "cost": "0.01"}
    assert REVEALED.row(row, fields) == row
    df = pd.DataFrame([row, {**row, "ani": None}])
    masked = MASKED.frame(df, fields)
    assert list(masked["ani"]) == ["***0188", ""]
    assert list(df["ani"])[0] == "+14155550188"  # the input is not modified


def test_masker_for_user_reveals_only_with_permission(viewer, auditor):
    assert masking.masker_for_user(viewer, reveal=True).reveal is False
    assert masking.masker_for_user(auditor, reveal=False).reveal is False
    assert masking.masker_for_user(auditor, reveal=True).reveal is True
