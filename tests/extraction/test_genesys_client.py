"""The Genesys client's token handling, over HTTP against the sandbox."""

from __future__ import annotations

import threading

import pytest

from extraction.platforms import adapter_for

WATERMARK = "/api/v2/analytics/conversations/details/jobs/availability"


@pytest.mark.django_db
def test_a_token_is_fetched_once_and_reused(connection, sandbox):
    client = adapter_for(connection).client
    client.get(WATERMARK)
    client.get(WATERMARK)
    assert sandbox.state.stats["tokens issued"] == 1


@pytest.mark.django_db
def test_threads_refused_together_share_one_new_token(connection, sandbox):
    """The read-ahead thread and the writer both get a 401 after an expiry: one refresh, not two."""
    adapter = adapter_for(connection)
    clients = [adapter.client, adapter.fork().client]
    clients[0].get(WATERMARK)
    sandbox.set_faults(expire_tokens=True)
    start = threading.Barrier(len(clients) * 2)
    errors: list[BaseException] = []

    def call(client):
        start.wait()
        try:
            client.get(WATERMARK)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sandbox.state.stats["tokens issued"] == 2


@pytest.mark.django_db
def test_test_connection_always_gets_a_fresh_token(connection, sandbox):
    adapter = adapter_for(connection)
    adapter.client.get(WATERMARK)
    adapter.test()
    assert sandbox.state.stats["tokens issued"] == 2
