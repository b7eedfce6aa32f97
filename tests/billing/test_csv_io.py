"""Rate card CSV parsing: every error reported with its line and column; export round-trips."""

from __future__ import annotations

import io
from decimal import Decimal

from billing.csv_io import parse_rate_card_csv, write_rate_card_csv

HEADER = "prefix,destination,direction,rate_per_minute,connect_fee,min_billable_seconds,minimum_cost,increment\n"


def test_a_good_file_parses_with_defaults_and_plus_prefixes():
    rows, errors = parse_rate_card_csv(
        ("\ufeff" + HEADER + "+1,USA,outbound,0.0100,,,,\n1212,New York,outbound,0.0080,0.01,3,0.005,30/6\n"
         ",Rest of world,outbound,0.5,,,,\n").encode()
    )
    assert errors == []
    assert [r.prefix for r in rows] == ["1", "1212", ""]
    ny = rows[1]
    assert (ny.rate_per_minute, ny.connect_fee, ny.min_billable_seconds, ny.minimum_cost) == (
        Decimal("0.0080"), Decimal("0.01"), 3, Decimal("0.005"))
    assert (ny.increment_first, ny.increment_next, rows[0].increment_first) == (30, 6, None)


def test_every_row_error_is_reported_with_line_and_column():
    text = HEADER + (
        "1,USA,outbound,0.01,,,,\n"          # line 2 ok
        "1,USA again,outbound,0.02,,,,\n"    # line 3 duplicate
        "44,UK,outbound,-0.01,,,,\n"         # line 4 negative
        "33,France,outbound,abc,,,,\n"       # line 5 non-numeric
        "49,Germany,sideways,0.01,,,,\n"     # line 6 direction
        "1x,Bad,outbound,0.01,,,,6\n"        # line 7 prefix and increment
        "1,USA inbound,inbound,0.01,,,,\n"   # line 8 ok: other direction
    )
    rows, errors = parse_rate_card_csv(text)
    found = {(e.line, e.column) for e in errors}
    assert found == {(3, "prefix"), (4, "rate_per_minute"), (5, "rate_per_minute"), (6, "direction"),
                     (7, "prefix"), (7, "increment")}
    duplicate = next(e for e in errors if e.line == 3)
    assert "duplicate prefix 1" in duplicate.reason and "line 2" in duplicate.reason
    assert str(next(e for e in errors if e.line == 4)) == "line 4, column rate_per_minute: -0.01 is negative"


def test_unknown_and_missing_columns_are_header_errors():
    rows, errors = parse_rate_card_csv("prefix,destination,direction,rate,connect_fee\n1,USA,outbound,0.01,0\n")
    assert rows == []
    assert {(e.line, e.column, e.reason) for e in errors} >= {
        (1, "rate", "unknown column"), (1, "rate_per_minute", "missing column"), (1, "increment", "missing column")}


def test_not_utf8_empty_and_too_many_places():
    assert parse_rate_card_csv(b"\xff\xfe\x00")[1][0].reason.startswith("the file is not UTF-8")
    assert parse_rate_card_csv("")[1][0].line == 1
    _, errors = parse_rate_card_csv(HEADER + "1,USA,outbound,0.000000001,,,,\n")
    assert errors[0].reason.endswith("more than 8 decimal places")


def test_band_columns_are_optional_and_validated():
    header = HEADER.strip() + ",band,band_weekdays,band_start,band_end\n"
    rows, errors = parse_rate_card_csv(header + "1,USA,outbound,0.02,,,,,peak,0-4,08:00,19:00\n"
                                       "1,USA,outbound,0.01,,,,,off,0-4,19:00,08:00\n"
                                       "44,UK,outbound,0.01,,,,,x,9,25:00,\n"
                                       "33,FR,outbound,0.01,,,,,y,,08:00,\n")
    assert len(rows) == 2
    assert {(e.line, e.column) for e in errors} == {(4, "band_weekdays"), (4, "band_start"), (5, "band_end")}


def test_export_round_trips(db):
    rows, _ = parse_rate_card_csv(HEADER + "1,USA,outbound,0.01,0.002,5,0.003,30/6\n")
    out = io.StringIO()
    assert write_rate_card_csv(rows, out) == 1
    again, errors = parse_rate_card_csv(out.getvalue())
    assert errors == [] and [(r.prefix, r.rate_per_minute, r.increment_first) for r in again] == [
        ("1", Decimal("0.01"), 30)]
    assert out.getvalue().splitlines()[1] == "1,USA,outbound,0.0100,0.0020,5,0.0030,30/6,,,,"
