"""Factories for extraction tests."""

from __future__ import annotations

import factory

from extraction.models import Connection, Platform


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    platform = Platform.GENESYS
    name = factory.Sequence(lambda n: f"genesys-{n}")
    region = "mypurecloud.ie"
    base_url = ""
    client_id = "client-id"
    client_secret = "s3cret-value"
    default_region = "US"
    # Fast polling and retries for the loopback sandbox; the production defaults are seconds.
    settings = factory.LazyFunction(lambda: {"poll_seconds": 0.01, "backoff_base": 0.01,
                                             "job_timeout_seconds": 60, "max_attempts": 6})
