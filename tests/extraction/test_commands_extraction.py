"""Management commands drive the same services as the pages."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from extraction.models import CallLeg, Connection, Conversation, ExtractionRun, RunState


@pytest.mark.django_db
def test_add_connection_reads_the_secret_from_the_environment(monkeypatch, sandbox):
    monkeypatch.setenv("GENESYS_SECRET", "env-secret")
    out = io.StringIO()
    call_command("add_connection", "--platform", "genesys", "--name", "sb", "--base-url", sandbox.base_url,
                 "--client-id", "cid", "--client-secret-env", "GENESYS_SECRET", stdout=out)
    connection = Connection.objects.get(name="sb")
    assert connection.client_secret == "env-secret"
    assert "Added connection sb" in out.getvalue() and "env-secret" not in out.getvalue()


@pytest.mark.django_db
def test_add_connection_reads_the_secret_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("stdin-secret\n"))
    call_command("add_connection", "--platform", "genesys", "--name", "prod", "--region", "mypurecloud.ie",
                 "--client-id", "cid", stdout=io.StringIO())
    assert Connection.objects.get(name="prod").client_secret == "stdin-secret"


@pytest.mark.django_db
def test_add_connection_without_a_secret_fails(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="No client secret"):
        call_command("add_connection", "--platform", "genesys", "--name", "x", "--region", "mypurecloud.ie",
                     "--client-id", "cid")
    with pytest.raises(CommandError, match="MISSING_VAR"):
        call_command("add_connection", "--platform", "genesys", "--name", "x", "--region", "mypurecloud.ie",
                     "--client-id", "cid", "--client-secret-env", "MISSING_VAR")


@pytest.mark.django_db
def test_extract_wait_runs_in_the_foreground(connection):
    out, err = io.StringIO(), io.StringIO()
    call_command("extract", "--connection", "sandbox", "--start", "2026-03-01", "--end", "2026-03-03", "--wait",
                 stdout=out, stderr=err)
    run = ExtractionRun.objects.get()
    assert run.state == RunState.SUCCEEDED
    assert out.getvalue().strip() == (f"Run {run.pk} succeeded: {Conversation.objects.count()} conversations, "
                                      f"{CallLeg.objects.count()} call legs, {run.pages_fetched} pages")
    assert "chunks" in err.getvalue()


@pytest.mark.django_db
def test_extract_without_wait_queues_the_run(connection, django_capture_on_commit_callbacks):
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("extract", "--connection", "sandbox", "--start", "2026-03-01T00:00:00Z",
                     "--end", "2026-03-02T00:00:00Z", stdout=out)
    assert len(callbacks) == 1  # the task, sent when the transaction commits
    assert ExtractionRun.objects.get().state == RunState.PENDING
    assert out.getvalue().startswith("Queued run")


@pytest.mark.django_db
def test_extract_fails_non_zero_on_errors(connection, sandbox):
    with pytest.raises(CommandError, match="No connection named"):
        call_command("extract", "--connection", "nope", "--start", "2026-03-01", "--end", "2026-03-02")
    with pytest.raises(CommandError, match="Not an ISO"):
        call_command("extract", "--connection", "sandbox", "--start", "yesterday", "--end", "2026-03-02")
    sandbox.set_faults(malformed_pages=1)
    with pytest.raises(CommandError, match="failed.*malformed JSON"):
        call_command("extract", "--connection", "sandbox", "--start", "2026-03-01", "--end", "2026-03-02",
                     "--wait", stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_resume_extractions_finishes_failed_and_orphaned_runs(connection, sandbox):
    sandbox.set_faults(malformed_pages=1)
    with pytest.raises(CommandError):
        call_command("extract", "--connection", "sandbox", "--start", "2026-03-01", "--end", "2026-03-03",
                     "--wait", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("resume_extractions", stdout=out)
    assert out.getvalue().strip() == "Resumed 1 runs: 1 succeeded"
    assert ExtractionRun.objects.get().state == RunState.SUCCEEDED


@pytest.mark.django_db
def test_setup_schedules_is_idempotent(connection):
    from django_q.models import Schedule

    call_command("setup_schedules", stdout=io.StringIO())
    call_command("setup_schedules", stdout=io.StringIO())
    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"extraction-sweeper", f"extraction-incremental-{connection.pk}"} <= names
    assert Schedule.objects.filter(name="extraction-sweeper").count() == 1


@pytest.mark.django_db
def test_add_connection_for_engage_takes_an_api_token_and_platform_settings(monkeypatch):
    from extraction.models import Connection

    monkeypatch.setenv("CX_SECRET", "client-secret-1")
    monkeypatch.setenv("CX_JWT", "jwt-credential-1")
    call_command(
        "add_connection", "--platform", "engage", "--name", "cx", "--base-url", "http://127.0.0.1:9/voice",
        "--client-id", "app-1", "--client-secret-env", "CX_SECRET", "--api-token-env", "CX_JWT",
        "--platform-settings", '{"sub_account_id": "12345"}', stdout=io.StringIO(),
    )
    connection = Connection.objects.get(name="cx")
    assert connection.api_token == "jwt-credential-1"
    assert connection.settings == {"sub_account_id": "12345"}
    with pytest.raises(CommandError, match="JSON object"):
        call_command(
            "add_connection", "--platform", "engage", "--name", "cx", "--base-url", "http://127.0.0.1:9/voice",
            "--client-id", "app-1", "--client-secret-env", "CX_SECRET", "--platform-settings", "[1]",
            stdout=io.StringIO(),
        )
