"""Extraction test data: connections to the loopback sandbox, with fast polling and retries."""

from __future__ import annotations

import factory

from extraction.models import Platform
from tests import factories as base


class ConnectionFactory(base.ConnectionFactory):
    class Meta:
        django_get_or_create = ()

    platform = Platform.GENESYS
    name = factory.Sequence(lambda n: f"genesys-{n}")
    region = "mypurecloud.ie"
    base_url = ""
    client_id = "client-id"
    client_secret = "s3cret-value"  # noqa: S105
    default_region = "US"
    # Fast polling and retries for the loopback sandbox; the production defaults are seconds.
    settings = factory.LazyFunction(lambda: {"poll_seconds": 0.01, "backoff_base": 0.01,
                                             "job_timeout_seconds": 60, "max_attempts": 6})
