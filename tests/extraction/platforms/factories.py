"""Connections for the Engage and Voiso simulators (fast retries, no pacing unless a test asks)."""

from __future__ import annotations

import factory

from extraction.models import Platform
from tests.extraction.factories import ConnectionFactory


class EngageConnectionFactory(ConnectionFactory):
    platform = Platform.ENGAGE
    name = factory.Sequence(lambda n: f"engage-{n}")
    region = ""
    client_id = "sandbox-client"
    client_secret = "sandbox-secret"
    api_token = "sandbox-jwt"
    settings = factory.LazyFunction(lambda: {
        "poll_seconds": 0.01, "backoff_base": 0.01, "max_attempts": 6, "request_limits": [],
        "rc_account_id": "99990000", "sub_account_id": "99990001", "report_timezone": "US/Arizona",
    })


class VoisoConnectionFactory(ConnectionFactory):
    platform = Platform.VOISO
    name = factory.Sequence(lambda n: f"voiso-{n}")
    region = ""
    client_id = ""
    client_secret = "sandbox-voiso-key"
    settings = factory.LazyFunction(lambda: {"poll_seconds": 0.01, "backoff_base": 0.01, "max_attempts": 6})
