"""Every preset normalises its reference sample to the canonical calls of carrier-samples/README.md."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from reconciliation.models import CarrierCdr, CarrierUpload
from reconciliation.services import import_file
from tests.reconciliation.factories import CANONICAL_CALLS, utc

DATA = Path(__file__).parent / "data"
FILES = {
    "twilio": "twilio_trunking_call_log.csv",
    "telnyx": "telnyx_cdr_report.csv",
    "bandwidth": "bandwidth_insights_calls.csv",
    "vonage": "vonage_reports_voice_call.csv",
    "plivo": "plivo_zentrunk_calls.csv",
    "flowroute": "flowroute_cdr_export.csv",
    "sinch_est": "sinch_est_calls.csv",
    "sinch_voice": "sinch_voice_cdr.csv",
    "generic_wholesale": "generic_wholesale_cdr.csv",
}
HAS_SIP_CALL_ID = {"twilio", "telnyx", "bandwidth", "generic_wholesale"}
# Formats whose start column is the setup time (no answer time in the file).
SETUP_START = {"bandwidth", "flowroute"}


def _canonical():
    out = {}
    for cid, direction, src, dst, setup, answer, talk, call_id in CANONICAL_CALLS:
        out[(src, dst, setup[:10])] = (cid, direction, utc(setup), utc(answer) if answer else None, talk, call_id)
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("preset", sorted(FILES))
def test_preset_normalises_sample_to_canonical_calls(preset):
    upload, summary, created = import_file(path=DATA / FILES[preset], carrier_name=f"{preset} carrier", preset=preset)

    assert created
    assert summary.status == CarrierUpload.Status.IMPORTED, upload.error
    assert summary.rows_error == 0
    canonical = _canonical()
    seen = set()
    for cdr in CarrierCdr.objects.filter(upload=upload, is_credit=False, is_forwarded=False):
        key = (cdr.from_e164, cdr.to_e164, cdr.start_utc.strftime("%Y-%m-%d"))
        if key not in canonical:  # C09 on Twilio: SIP URI "To" still normalises
            pytest.fail(f"{preset}: row {cdr.line_number} {key} is not a canonical call")
        cid, direction, setup, answer, talk, call_id = canonical[key]
        seen.add(cid)
        expected_start = setup if (preset in SETUP_START or answer is None) else answer
        assert cdr.start_utc == expected_start, (preset, cid)
        assert (cdr.duration_seconds or 0) == talk, (preset, cid)
        if preset in HAS_SIP_CALL_ID:
            assert cdr.sip_call_id == call_id, (preset, cid)
        else:
            assert cdr.sip_call_id == ""
        if cdr.direction:
            assert cdr.direction == direction, (preset, cid)
        assert cdr.charge is None or cdr.charge >= 0
    assert len(seen) >= 8, (preset, sorted(seen))


@pytest.mark.django_db
def test_twilio_negative_prices_become_positive_charges_and_busy_duration_stays_empty():
    upload, _, _ = import_file(path=DATA / FILES["twilio"], carrier_name="Twilio", preset="twilio")

    c01 = CarrierCdr.objects.get(upload=upload, line_number=2)
    busy = CarrierCdr.objects.get(upload=upload, line_number=4)
    assert c01.charge == Decimal("0.01000")
    assert c01.currency == "USD"
    assert busy.duration_seconds is None  # empty is not zero
    assert busy.charge is None
    c09 = CarrierCdr.objects.get(upload=upload, line_number=11)
    assert c09.to_e164 == "+13125550101"  # from the SIP URI


@pytest.mark.django_db
def test_generic_wholesale_bom_brackets_offsets_and_credit_line():
    upload, summary, _ = import_file(path=DATA / FILES["generic_wholesale"], carrier_name="Wholesale",
                                     preset="generic_wholesale")

    assert upload.preview["bom"] is True
    assert upload.preview["credit_lines"] == 1
    assert upload.preview["duplicates"] == 1
    assert summary.rows_credit == 1
    c04 = CarrierCdr.objects.get(upload=upload, line_number=5)
    assert c04.sip_call_id == "7a1b2c3d4e5f60718293a4b5c6d7e804@sbc1.example.net"
    assert c04.raw_call_id.startswith("<")
    c08 = CarrierCdr.objects.get(upload=upload, line_number=9)
    assert c08.start_utc == datetime.fromisoformat("2026-11-03T15:50:04+00:00")
    assert c08.start_original == "2026-11-03T16:50:00+01:00"
    credit = CarrierCdr.objects.get(upload=upload, is_credit=True)
    assert credit.charge == Decimal("-0.020800")


@pytest.mark.django_db
def test_bandwidth_milliseconds_unrated_cost_and_forwarded_leg():
    upload, _, _ = import_file(path=DATA / FILES["bandwidth"], carrier_name="Bandwidth", preset="bandwidth")

    c01 = CarrierCdr.objects.get(upload=upload, line_number=2)
    assert (c01.duration_ms, c01.duration_seconds) == (107137, 107)
    forwarded = CarrierCdr.objects.get(upload=upload, is_forwarded=True)
    assert forwarded.direction == "outbound" and forwarded.direction_raw == "OUTBOUND-FORWARDED"
    c10 = CarrierCdr.objects.get(upload=upload, sip_call_id__startswith="2c3d4e5f")
    assert c10.charge is None  # not yet rated, not zero


@pytest.mark.django_db
def test_sinch_voice_semicolons_are_detected():
    upload, _, _ = import_file(path=DATA / FILES["sinch_voice"], carrier_name="Sinch", preset="sinch_voice")

    assert upload.preview["delimiter"] == ";"
    assert CarrierCdr.objects.filter(upload=upload).count() == 8
