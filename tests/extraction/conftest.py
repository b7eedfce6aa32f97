"""A Genesys sandbox on a free loopback port, and a connection pointing at it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from extraction.platforms.genesys.client import _TOKENS
from extraction.platforms.genesys.sandbox import start_sandbox
from tests.extraction.factories import ConnectionFactory

SEED = 7
CALLS_PER_DAY = 40
SANDBOX_NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def sandbox():
    handle = start_sandbox(port=0, seed=SEED, calls_per_day=CALLS_PER_DAY, now=SANDBOX_NOW, retry_after=0,
                           page_size_default=25, max_interval_days=4)
    _TOKENS.clear()
    yield handle
    handle.stop()
    _TOKENS.clear()


@pytest.fixture
def connection(db, sandbox):
    return ConnectionFactory(name="sandbox", region="", base_url=sandbox.base_url)
