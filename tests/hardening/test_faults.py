"""Faults: a real django-q2 cluster killed with SIGKILL at random points, a sandbox answering with every
fault at once; after restarts the data equals a fault-free run exactly.

Everything runs in subprocesses on file SQLite databases (the test's own database is not used), so
the cluster, the set-up steps and the comparison share one file per scenario.
"""

from __future__ import annotations

import random

import pytest

from extraction.platforms.genesys.sandbox import start_sandbox
from tests.hardening import figures
from tests.hardening.worker import copy_db, drive, kill_points, query, step

SEED = 11
CALLS_PER_DAY = 60
# Every switchable fault of the sandbox at once (server.py docstring); counts are per call/job/page.
FAULTS = {"rate_limit": 3, "retry_after": 1, "server_error": 4, "malformed_pages": 2, "fail_jobs": 1,
          "expire_jobs": 1, "query_duplicates": True, "expire_tokens": True}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    db = tmp_path_factory.mktemp("faults") / "migrated.sqlite3"
    step(db, "migrate", inline=True)
    return db


@pytest.mark.slow
def test_extraction_survives_faults_and_kills(migrated, tmp_path):
    rng = random.Random(SEED)
    clean, faulty = copy_db(migrated, tmp_path / "clean.sqlite3"), copy_db(migrated, tmp_path / "faulty.sqlite3")
    calm = start_sandbox(port=0, seed=SEED, calls_per_day=CALLS_PER_DAY)
    stormy = start_sandbox(port=0, seed=SEED, calls_per_day=CALLS_PER_DAY, faults=dict(FAULTS))
    try:
        step(clean, "start_extraction", calm.base_url, 2, inline=True)
        run_id = step(faulty, "start_extraction", stormy.base_url, 2)["run_id"]

        resumes: list[str] = []

        def progress() -> int:  # pages stored so far (each page commits its legs with the cursor)
            return query(faulty, "SELECT COALESCE(SUM(pages_fetched), 0) FROM extraction_extractionchunk "
                                 "WHERE run_id = ?", (run_id,))[0][0]

        def done() -> bool:
            state, error = query(faulty, "SELECT state, error FROM extraction_extractionrun WHERE id = ?",
                                 (run_id,))[0]
            assert state != "cancelled"
            if state == "failed":  # a malformed page or a failed job: the operator presses Resume
                resumes.append(error)
                assert len(resumes) <= 10, f"the run keeps failing: {resumes}"
                step(faulty, "resume_failed", run_id)
            return state == "succeeded"

        total = query(clean, "SELECT SUM(pages_fetched) FROM extraction_extractionchunk")[0][0] or 0
        points = kill_points(rng, total, 3)
        kills = drive(faulty, progress=progress, done=done, rng=rng, thresholds=points, log=tmp_path / "qcluster.log",
                      after_kill=lambda: step(faulty, "sweep"))
        faults_served = dict(stormy.state.stats)
    finally:
        calm.stop()
        stormy.stop()
    expected, got = step(clean, "snapshot"), step(faulty, "snapshot")
    assert expected["legs"], "the fault-free run extracted nothing"
    assert len(kills.kills) >= min(2, len(points)), f"planned kills at {points}, made {kills.kills}"
    for key in ("conversations", "participants", "sessions", "segments", "legs"):
        assert got[key] == expected[key], f"{key} differ after faults and kills"
    figures.record("faults_extraction", kills=kills.kills, resumes_after_failure=len(resumes),
                   restarts=kills.restarts, faults=FAULTS,
                   sandbox_stats=faults_served, legs=len(expected["legs"]),
                   conversations=len(expected["conversations"]), lost=0, duplicated=0)


@pytest.mark.slow
def test_carrier_import_and_reconciliation_survive_kills(migrated, tmp_path):
    rng = random.Random(SEED + 1)
    base = copy_db(migrated, tmp_path / "base.sqlite3")
    setup = step(base, "demo_and_upload", tmp_path, 99, inline=True)
    upload_id, carrier = setup["upload_id"], setup["carrier"]
    clean, faulty = copy_db(base, tmp_path / "clean.sqlite3"), copy_db(base, tmp_path / "faulty.sqlite3")

    # Fault-free: the same confirmation and re-run, inline.
    step(clean, "confirm_upload", upload_id, inline=True)
    step(clean, "rerun_reconciliation", carrier, inline=True)

    # Import with kills between and inside chunks.
    step(faulty, "confirm_upload", upload_id)

    def import_progress() -> int:
        return query(faulty, "SELECT chunks_done FROM reconciliation_carrierupload WHERE id = ?", (upload_id,))[0][0]

    def imported() -> bool:
        status = query(faulty, "SELECT status FROM reconciliation_carrierupload WHERE id = ?", (upload_id,))[0][0]
        return status in ("imported", "rejected")

    chunks = query(clean, "SELECT chunks_done FROM reconciliation_carrierupload WHERE id = ?", (upload_id,))[0][0]
    import_kills = drive(faulty, progress=import_progress, done=imported, rng=rng,
                         thresholds=kill_points(rng, chunks, 3),
                         log=tmp_path / "qcluster-import.log", chunk_pause=0.2,
                         after_kill=lambda: step(faulty, "resume_upload", upload_id))

    # Reconciliation re-run with kills; each restart re-queues it (what the run page's Re-run does).
    run_id = step(faulty, "rerun_reconciliation", carrier)["run_id"]

    def reconciled() -> bool:
        status = query(faulty, "SELECT status FROM reconciliation_reconciliationrun WHERE id = ?", (run_id,))[0][0]
        return status == "done"

    def run_progress() -> int:
        return query(faulty, "SELECT progress_percent FROM reconciliation_reconciliationrun WHERE id = ?",
                     (run_id,))[0][0] // 20

    run_kills = drive(faulty, progress=run_progress, done=reconciled, rng=rng, thresholds=kill_points(rng, 4, 2),
                      log=tmp_path / "qcluster-run.log",
                      after_kill=lambda: step(faulty, "rerun_reconciliation", carrier))

    expected, got = step(clean, "snapshot"), step(faulty, "snapshot")
    assert expected["carrier_cdrs"] and expected["discrepancies"]
    assert got["carrier_cdrs"] == expected["carrier_cdrs"]
    assert got["discrepancies"] == expected["discrepancies"]
    assert len(import_kills.kills) >= 1
    figures.record("faults_import_reconcile", import_kills=import_kills.kills, run_kills=run_kills.kills,
                   carrier_rows=len(expected["carrier_cdrs"]), discrepancies=len(expected["discrepancies"]),
                   lost=0, duplicated=0)
