"""Engage and Voiso simulators on free loopback ports, and connections pointing at them."""

from __future__ import annotations

import pytest

from extraction.platforms.engage.sandbox.server import start_sandbox as start_engage
from extraction.platforms.engage.transport import Pacer
from tests.extraction.platforms.factories import EngageConnectionFactory

ENGAGE_SEED = 3
ENGAGE_CALLS_PER_DAY = 30


@pytest.fixture
def engage_sandbox():
    handle = start_engage(0, seed=ENGAGE_SEED, calls_per_day=ENGAGE_CALLS_PER_DAY, retry_after=0,
                          metadata_limits=())
    Pacer.forget()
    yield handle
    handle.stop()


@pytest.fixture
def engage_connection(db, engage_sandbox):
    connection = EngageConnectionFactory(base_url=engage_sandbox.base_url)
    connection.settings["rc_platform_url"] = engage_sandbox.base_url
    connection.save(update_fields=["settings"])
    return connection


VOISO_SEED = 5
VOISO_PER_DAY = 40


@pytest.fixture
def voiso_sandbox():
    from extraction.platforms.voiso.sandbox.server import start_sandbox as start_voiso

    handle = start_voiso(0, seed=VOISO_SEED, records_per_day=VOISO_PER_DAY, retry_after=0)
    yield handle
    handle.stop()


@pytest.fixture
def voiso_connection(db, voiso_sandbox):
    from tests.extraction.platforms.factories import VoisoConnectionFactory

    return VoisoConnectionFactory(base_url=voiso_sandbox.base_url)
