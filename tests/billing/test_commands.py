"""import_rate_card, rate and export_costs end to end through call_command."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.models import Carrier, CostRecord, RateCard
from cdrweb.models import AuditEntry
from tests.billing.factories import T0, CallLegFactory

HEADER = "prefix,destination,direction,rate_per_minute,connect_fee,min_billable_seconds,minimum_cost,increment\n"
EXPORT_HEADER = ("conversation_id,leg_id,sip_call_id,start_utc,direction,from,to,carrier,rate_card_version,"
                 "matched_prefix,destination,duration_ms,billable_seconds,cost,currency,status,reason")
DECK = HEADER + (
    "1,USA,outbound,0.0100,,,,60/60\n"
    "1212,USA New York,outbound,0.0120,,,,60/6\n"
    "1800,USA toll-free,inbound,0.0200,0.0100,,,6/6\n"
)


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def deck(tmp_path):
    path = tmp_path / "carrier_a.csv"
    path.write_text(DECK)
    return path


@pytest.mark.django_db
def test_import_dry_run_writes_nothing(deck):
    out = run("import_rate_card", str(deck), "--carrier", "Carrier A", "--currency", "USD",
              "--effective-from", "2026-10-01", "--dry-run")
    assert "3 rates" in out and "nothing written" in out
    assert not Carrier.objects.exists() and not RateCard.objects.exists()


@pytest.mark.django_db
def test_import_errors_exit_non_zero_naming_lines(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "1,USA,outbound,-1,,,,\n1,USA,outbound,x,,,,\n")
    with pytest.raises(CommandError, match="2 error"):
        run("import_rate_card", str(path), "--carrier", "X", "--currency", "USD", "--effective-from", "2026-10-01")
    assert not RateCard.objects.exists()
    with pytest.raises(CommandError, match="cannot read"):
        run("import_rate_card", str(tmp_path / "missing.csv"), "--carrier", "X", "--currency", "USD",
            "--effective-from", "2026-10-01")
    with pytest.raises(CommandError, match="--effective-from"):
        run("import_rate_card", str(path), "--carrier", "X", "--currency", "USD", "--effective-from", "someday")


@pytest.mark.django_db
def test_import_rate_and_export_end_to_end(deck, tmp_path):
    out = run("import_rate_card", str(deck), "--carrier", "Carrier A", "--currency", "USD",
              "--effective-from", "2026-10-01", "--increment", "60/6", "--default")
    assert "Imported 3 rates" in out and "(new carrier)" in out
    carrier = Carrier.objects.get()
    assert carrier.is_default and (carrier.default_increment_first, carrier.default_increment_next) == (60, 6)

    ny = CallLegFactory(dnis="+12125550177", talk_s=61)
    tollfree = CallLegFactory(direction="inbound", ani="+447700900123", dnis="+18005550100", talk_s=125)
    anonymous = CallLegFactory(dnis="anonymous")
    out = run("rate", "--start", "2026-11-02T00:00:00Z", "--end", "2026-11-03T00:00:00Z")
    assert "3 legs, 2 rated, 1 unrated" in out
    assert CostRecord.objects.get(leg=ny).cost == Decimal("0.0132")
    assert CostRecord.objects.get(leg=tollfree).cost == Decimal("0.0520")  # rating.md §10 example 8
    assert run("rate", "--start", "2026-11-02", "--end", "2026-11-03", "--carrier", "Carrier A").endswith(
        "0 written\n")

    target = tmp_path / "costs.csv"
    out = run("export_costs", "--start", "2026-11-02", "--end", "2026-11-03", "--format", "csv",
              "--out", str(target))
    assert out.startswith("Exported 3 legs")
    lines = target.read_text().splitlines()
    assert lines[0] == EXPORT_HEADER
    rows = {r["leg_id"]: r for r in csv.DictReader(lines)}
    row = rows[ny.leg_id]
    assert (row["from"], row["to"], row["cost"], row["billable_seconds"], row["matched_prefix"]) == (
        "***0100", "***0177", "0.0132", "66", "1212")
    assert (row["carrier"], row["rate_card_version"], row["currency"], row["status"]) == ("Carrier A", "1", "USD",
                                                                                         "rated")
    assert row["start_utc"] == "2026-11-02T15:00:00.000Z" and row["conversation_id"] == ny.external_call_id
    assert (rows[anonymous.leg_id]["status"], rows[anonymous.leg_id]["reason"]) == ("unrated", "no destination")
    assert not AuditEntry.objects.filter(action="billing.export.reveal").exists()


@pytest.mark.django_db
def test_export_reveal_is_audited(tmp_path):
    CallLegFactory(dnis="+12125550177")
    target = tmp_path / "costs.csv"
    run("export_costs", "--start", "2026-11-02", "--end", "2026-11-03", "--format", "csv", "--out", str(target),
        "--reveal")
    row = next(csv.DictReader(target.read_text().splitlines()))
    assert (row["to"], row["status"], row["reason"]) == ("+12125550177", "", "not rated yet")
    assert AuditEntry.objects.filter(action="billing.export.reveal").count() == 1


@pytest.mark.django_db
def test_rate_and_export_refuse_bad_arguments(tmp_path):
    with pytest.raises(CommandError, match="no carrier"):
        run("rate", "--start", "2026-11-02", "--end", "2026-11-03", "--carrier", "Nobody")
    with pytest.raises(CommandError, match="after"):
        run("rate", "--start", "2026-11-03", "--end", "2026-11-02")
    with pytest.raises(CommandError, match="cannot write"):
        run("export_costs", "--start", "2026-11-02", "--end", "2026-11-03", "--format", "csv",
            "--out", str(tmp_path / "no" / "such" / "dir.csv"))


@pytest.mark.django_db
def test_reimporting_over_an_existing_version_names_it(deck):
    args = ("import_rate_card", str(deck), "--carrier", "Carrier A", "--currency", "USD", "--effective-from",
            "2026-10-01", "--default")
    run(*args)
    with pytest.raises(CommandError):
        run(*args)
    assert RateCard.objects.count() == 1
    # a later version is fine and re-rates the legs it now covers
    CallLegFactory(dnis="+12125550177", talk_s=61, started_at=T0 + timedelta(days=30))
    out = run("import_rate_card", str(deck), "--carrier", "Carrier A", "--currency", "USD",
              "--effective-from", "2026-12-01")
    assert "re-rated 1 legs (1 changed)" in out
