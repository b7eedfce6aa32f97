"""Connection tests through the shared service, and the simulator commands' argument errors."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from extraction import services
from extraction.models import Connection


@pytest.mark.django_db
def test_an_engage_connection_tests_ok_and_records_success(engage_connection):
    ok, message = services.test_connection(connection=engage_connection)
    assert ok, message
    assert message == "Token OK; 1 sub-account(s) visible; extracting with interaction metadata"
    assert Connection.objects.get(pk=engage_connection.pk).last_success_at is not None


@pytest.mark.django_db
def test_an_engage_connection_without_its_account_ids_fails_clearly(engage_connection):
    engage_connection.settings.pop("sub_account_id")
    engage_connection.save()
    ok, message = services.test_connection(connection=engage_connection)
    assert not ok and "sub_account_id" in message


@pytest.mark.django_db
def test_an_engage_connection_with_a_wrong_jwt_fails_without_showing_it(engage_connection):
    engage_connection.api_token = "wrong-jwt-value"
    engage_connection.save()
    ok, message = services.test_connection(connection=engage_connection)
    assert not ok and "RingCentral rejected" in message and "wrong-jwt-value" not in message


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v2", "v4"])
def test_a_voiso_connection_tests_ok(voiso_connection, version):
    voiso_connection.settings["api_version"] = version
    voiso_connection.save()
    assert services.test_connection(connection=voiso_connection) == (True, f"API key OK (CDR {version})")


@pytest.mark.parametrize("command", ["engage_sandbox", "voiso_sandbox"])
def test_the_simulator_commands_reject_bad_fault_json(command):
    with pytest.raises(CommandError, match="--faults is not JSON"):
        call_command(command, "--faults", "{rate_limit: 3")
