"""cdrweb.db: the PostgreSQL tuning the batch jobs share stays inside one transaction."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models.functions import ExtractHour, TruncDate

from cdrweb.db import LocalDate, LocalHour, advisory_xact_lock, defer_commit_flush, without_jit
from extraction.models import CallLeg
from tests.factories import CallLegFactory

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


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_local_date_and_hour_match_django_at_day_and_hour_edges(settings, zone):
    # LocalDate/LocalHour compile to SQLite's own date()/strftime() in UTC and to Django's functions
    # otherwise: the same calendar either way, including the last microsecond of a day.
    settings.TIME_ZONE = zone
    instants = [datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
                datetime(2026, 3, 2, 4, 30, 0, 500000, tzinfo=UTC), datetime(2026, 11, 1, 5, 59, 59, tzinfo=UTC)]
    for instant in instants:
        CallLegFactory(started_at=instant)
    tz = ZoneInfo(zone)
    ours = list(CallLeg.objects.order_by("started_at").annotate(
        d=LocalDate("started_at", tzinfo=tz), h=LocalHour("started_at", tzinfo=tz)).values_list("d", "h"))
    django = list(CallLeg.objects.order_by("started_at").annotate(
        d=TruncDate("started_at", tzinfo=tz), h=ExtractHour("started_at", tzinfo=tz)).values_list("d", "h"))
    expected = [(i.astimezone(tz).date(), i.astimezone(tz).hour) for i in instants]
    assert ours == django == expected
    by_day = CallLeg.objects.annotate(d=LocalDate("started_at", tzinfo=tz)).filter(d=expected[1][0])
    assert by_day.count() == sum(1 for day, _hour in expected if day == expected[1][0])
