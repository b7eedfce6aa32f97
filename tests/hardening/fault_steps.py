"""Steps run inside a subprocess on a file SQLite database (see worker.py): setup, enqueue, snapshot.

Each function prints one JSON line; they use only the project's own services, the same calls the
UI and the commands make.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

END = datetime(2026, 11, 2, tzinfo=UTC)


def _say(data: object) -> None:
    print("STEP " + json.dumps(data, default=str), flush=True)


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    _say({"migrated": True})


def start_extraction(base_url: str, days: int) -> None:
    """A connection to the sandbox and one run over ``days`` days; enqueued unless tasks run inline."""
    from extraction import services

    connection = services.save_connection(connection=None, user="fault-test", data={
        "platform": "genesys", "name": "Fault sandbox", "base_url": base_url, "region": "",
        "client_id": "fault-client", "client_secret": "fault-secret", "default_region": "US",
    })
    run = services.start_extraction(connection=connection, start=END - timedelta(days=int(days)), end=END,
                                    user="fault-test", enqueue_task=True)
    _say({"run_id": run.pk})


def demo_and_upload(workdir: str, seed: int) -> None:
    """The demo pipeline, then a fresh carrier file (other injections) previewed as an upload of small chunks."""
    from cdrweb import demo
    from reconciliation import services

    demo.generate_demo_data(days=2, calls_per_day=30, seed=7, end=END, port=0, workdir=Path(workdir))
    name, (edge, preset, *_rest) = next(iter(demo.CARRIERS.items()))
    path = Path(workdir) / f"fault_{seed}.csv"
    demo.write_carrier_file(carrier_name=name, edge=edge, preset=preset, path=path,
                            start=END - timedelta(days=2), end=END, seed=int(seed))
    from billing.models import Carrier

    with open(path, "rb") as stream:
        upload = services.create_upload(carrier=Carrier.objects.get(name=name), stream=stream,
                                        original_name=path.name, preset=preset, chunk_rows=4)
    _say({"upload_id": upload.pk, "carrier": name})


def confirm_upload(upload_id: int) -> None:
    from reconciliation import services
    from reconciliation.models import CarrierUpload

    services.confirm_upload(upload=CarrierUpload.objects.get(pk=int(upload_id)))
    _say({"confirmed": upload_id})


def resume_upload(upload_id: int) -> None:
    """What an operator (or the upload page's Resume button) does after a crash."""
    from django.core.exceptions import ValidationError

    from reconciliation import services
    from reconciliation.models import CarrierUpload

    try:
        services.resume_upload(upload=CarrierUpload.objects.get(pk=int(upload_id)))
    except ValidationError as err:  # already finished: nothing to resume
        _say({"resumed": False, "why": err.messages})
        return
    _say({"resumed": True})


def rerun_reconciliation(carrier: str) -> None:
    from billing.models import Carrier
    from reconciliation import services

    run = services.start_run(carrier=Carrier.objects.get(name=carrier), period_start=END - timedelta(days=2),
                             period_end=END)
    _say({"run_id": run.pk})


def resume_failed(run_id: int) -> None:
    """The run page's Resume button: failed chunks get a fresh job, stored pages are kept."""
    from extraction import services

    run = services.resume_run(run_id=int(run_id), user="fault-test")
    _say({"state": run.state})


def sweep() -> None:
    """What the scheduled sweepers do after a worker died: re-enqueue work whose lease expired."""
    from extraction import services

    _say({"swept": services.sweep_orphaned_runs()})


def snapshot() -> None:
    """Sorted natural-key tuples of everything the pipelines write (ids and timestamps of our rows excluded)."""
    from extraction.models import CallLeg, Conversation, Participant, Segment, Session
    from reconciliation.models import CarrierCdr, Discrepancy

    def rows(qs, *fields):
        return sorted([list(map(str, r)) for r in qs.values_list(*fields)])

    _say({
        "conversations": rows(Conversation.objects, "conversation_id", "conversation_start", "conversation_end"),
        "participants": rows(Participant.objects, "conversation__conversation_id", "participant_id",
                             "participant_name"),
        "sessions": rows(Session.objects, "conversation__conversation_id", "session_id"),
        "segments": Segment.objects.count(),
        "legs": rows(CallLeg.objects, "leg_id", "external_call_id", "sip_call_id", "direction", "ani_e164",
                     "dnis_e164", "started_at", "connected_at", "ended_at", "duration_ms", "edge_id"),
        "carrier_cdrs": rows(CarrierCdr.objects, "upload__original_name", "line_number", "record_id", "sip_call_id",
                             "start_utc", "charge"),
        "discrepancies": rows(Discrepancy.objects, "run__carrier__name", "type", "key", "amount_at_stake"),
    })


if __name__ == "__main__":
    import django

    django.setup()
    globals()[sys.argv[1]](*sys.argv[2:])
