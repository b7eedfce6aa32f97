"""The Genesys flattener on the reference samples (pure, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extraction.platforms.genesys.flatten import canonical_call_id, flatten_conversations, to_e164

SAMPLES = Path("/work/shared/reference/genesys-samples")


@pytest.fixture(scope="module")
def flat():
    records = []
    for name in ("job_results_page1.json", "job_results_page2_last.json"):
        records += json.loads((SAMPLES / name).read_text())["conversations"]
    return flatten_conversations(records)


@pytest.mark.parametrize("raw, canonical", [
    ("  4f1c9a2e7b3d4e58a6c0@198.51.100.21 ", "4f1c9a2e7b3d4e58a6c0@198.51.100.21"),
    ("<AbC123@host.example>", "AbC123@host.example"),
    ("Call-ID: <x1@h>", "x1@h"),
    ("i: y2@H", "y2@H"),
    ("<<z>>", "<z>"),  # only one pair is stripped
    ("", ""),
])
def test_call_ids_are_canonicalised_keeping_host_and_case(raw, canonical):
    assert canonical_call_id(raw) == canonical


@pytest.mark.parametrize("raw, region, e164", [
    ("tel:+13125550142", "US", "+13125550142"),
    ("sip:+442079460123@203.0.113.9;user=phone", "US", "+442079460123"),
    ("(312) 555-0142", "US", "+13125550142"),
    ("020 7946 0123", "GB", "+442079460123"),
    ("anonymous", "US", ""),
    ("12", "US", ""),
])
def test_numbers_normalise_to_e164_or_empty(raw, region, e164):
    assert to_e164(raw, region) == e164


def test_one_leg_per_external_voice_session(flat):
    legs = {leg["external_call_id"][-1]: leg for leg in flat.legs}
    assert len(flat.legs) == 5 and set(legs) == set("abcde")
    # (A) inbound IVR->queue->agent: billed from the interact segment = tConnected 524420 ms.
    a = legs["a"]
    assert (a["purpose"], a["direction"], a["duration_ms"], a["talk_ms"]) == ("customer", "inbound", 524420, 362500)
    assert a["sip_call_id"] == "4f1c9a2e7b3d4e58a6c0@198.51.100.21" and a["sip_call_id_local"] == "4f1c9a2e7b3d4e58a6c0"
    assert a["dnis_e164"] == "+14155550100" and a["wrapup_code"].endswith("0001")
    assert a["connected_at"].isoformat() == "2026-03-02T09:14:03.380000+00:00"
    # (B) outbound user -> external: the external participant is the leg.
    assert (legs["b"]["purpose"], legs["b"]["duration_ms"], legs["b"]["sip_response_code"]) == ("external", 264500, 200)
    # (C) blind transfer: one customer leg, the last agent's wrap-up code, both agents' talk.
    assert legs["c"]["wrapup_code"].endswith("0001") and legs["c"]["talk_ms"] == 150500 + 442600
    # (D) abandoned in queue: answered by the IVR, so billable, no agent talk.
    assert (legs["d"]["duration_ms"], legs["d"]["talk_ms"], legs["d"]["wrapup_code"]) == (132600, 0, "")
    # (E) callback: the outbound voice session is the leg, not the callback session.
    assert legs["e"]["leg_id"].endswith("e2") and legs["e"]["direction"] == "outbound"
    assert legs["e"]["duration_ms"] == 307800 and legs["e"]["wrapup_code"].endswith("0003")


def test_common_metrics_are_summed_per_session(flat):
    agent = next(s for c in flat.conversations for p in c["participants"] for s in p["sessions"]
                 if s["session_id"].endswith("a4"))
    assert (agent["t_talk_ms"], agent["t_held_ms"], agent["t_acw_ms"], agent["t_handle_ms"]) == (
        362500, 88400, 45000, 495900)
    assert len(agent["metrics"]) == 9 and len(agent["segments"]) == 5


def test_a_page_repeating_a_conversation_flattens_it_once():
    record = json.loads((SAMPLES / "job_results_page1.json").read_text())["conversations"][0]
    assert len(flatten_conversations([record, record]).conversations) == 1
