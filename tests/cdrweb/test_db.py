"""cdrweb.db: the PostgreSQL tuning the batch jobs share stays inside one transaction."""

import pytest
from django.db import connection, transaction

from cdrweb.db import advisory_xact_lock, defer_commit_flush, without_jit

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings and locks")


def _scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_deferred_flush_applies_to_its_own_transaction_only():
    """The relaxed flush applies to the unit's transaction only, never to the connection."""
    before = _scalar("SHOW synchronous_commit")
    with transaction.atomic():
        defer_commit_flush()
        assert _scalar("SHOW synchronous_commit") == "off"
    assert _scalar("SHOW synchronous_commit") == before


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_advisory_lock_is_held_until_the_transaction_ends():
    held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    with transaction.atomic():
        advisory_xact_lock(7, 11)
        advisory_xact_lock(13)
        assert _scalar(held) == 2
    assert _scalar(held) == 0


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_jit_is_off_inside_the_block_only():
    before = _scalar("SHOW jit")
    with without_jit():
        assert _scalar("SHOW jit") == "off"
    assert _scalar("SHOW jit") == before
