"""Issue 5: each imported row keeps its record as written in the file, read in fast batches.

The reader splits whole batches of lines at once and falls back to record-by-record reading only
for batches with a quoted line break or an unreadable row; line numbers, the stored record text and
the row errors must be the same whichever path a record took.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.db import connection

from reconciliation import reader, services
from reconciliation.models import CarrierCdr, CarrierUpload, UploadRowError
from tests.reconciliation.factories import CarrierFactory

HEADER = "Call-ID,Start Time,Connect Time,Disconnect Time,ANI,DNIS,Direction,Duration (sec),Billed Duration (sec)," \
         "Increment,Rate/Min,Amount,Currency,Disconnect Code,Disconnect Reason,Record Type,Destination,Trunk"


def row(call_id: str, reason: str = "Normal", sep: str = ",") -> str:
    fields = [call_id, "2026-11-03T14:05:09+00:00", "", "", "13125550101", "12025550143", "OUT", "61", "66",
              "30/6", "0.006", "0.0066", "USD", "200", reason, "CDR", "X", "T"]
    return sep.join(fields)


def import_bytes(data: bytes, *, chunk_rows: int = 20_000) -> CarrierUpload:
    upload = services.create_upload(carrier=CarrierFactory(name="Wholesale"), stream=io.BytesIO(data),
                                    original_name="cdrs.csv", preset="generic_wholesale", chunk_rows=chunk_rows)
    CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.QUEUED)
    services.import_upload(upload_id=upload.pk, time_budget=None)
    upload.refresh_from_db()
    return upload


@pytest.mark.django_db
def test_each_row_stores_its_record_text_and_reads_it_back_by_column():
    multi = row("m1@h", reason='"said ""hi""\r\nthen hung up"')
    lines = [HEADER, row("a1@h"), "", multi, row("b2@h", reason='"x, y"')]
    upload = import_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"), chunk_rows=2)

    assert upload.status == CarrierUpload.Status.IMPORTED
    cdrs = {c.line_number: c for c in CarrierCdr.objects.filter(upload=upload).select_related("upload")}
    # The blank line 3 is no record; the quoted line break makes line 4's record two lines long.
    assert sorted(cdrs) == [2, 4, 6]
    assert cdrs[2].raw_line == row("a1@h")
    assert cdrs[4].raw_line == multi
    assert cdrs[4].raw["Disconnect Reason"] == 'said "hi"\r\nthen hung up'
    assert cdrs[6].raw["Disconnect Reason"] == "x, y"
    assert cdrs[6].raw["Call-ID"] == "b2@h"


@pytest.mark.django_db
def test_a_tab_delimited_record_survives_the_bulk_write():
    lines = [HEADER.replace(",", "\t"), row("t1@h", reason="back\\slash", sep="\t")]
    upload = import_bytes(("\n".join(lines) + "\n").encode("utf-8"))

    cdr = CarrierCdr.objects.get(upload=upload)
    assert cdr.raw_line == row("t1@h", reason="back\\slash", sep="\t")
    assert cdr.raw["Disconnect Reason"] == "back\\slash"
    assert cdr.sip_call_id == "t1@h"


@pytest.mark.django_db
def test_row_errors_keep_their_line_numbers_on_both_reading_paths():
    lines = [
        HEADER,
        row("ok1@h"),
        row("short@h").rsplit(",", 2)[0],  # line 3: two fields short, in a batch read at once
        row("ok2@h"),
        row("q@h", reason='"two\nlines"'),  # lines 5-6: this batch is read record by record
        row("short2@h").rsplit(",", 1)[0],  # line 7
        row("bad-amount@h").replace("0.0066", "1x"),  # line 8
    ]
    upload = import_bytes(("\n".join(lines) + "\n").encode("utf-8"), chunk_rows=3)

    assert upload.status == CarrierUpload.Status.REJECTED
    assert upload.rows_read == 6
    errors = {(e.line, e.column): e.reason for e in UploadRowError.objects.filter(upload=upload)}
    assert errors == {
        (3, ""): "has 16 fields, the header has 18",
        (7, ""): "has 17 fields, the header has 18",
        (8, "Amount"): "not a number: 1x",
    }
    assert not CarrierCdr.objects.filter(upload=upload).exists()


def _reference(path: Path, fmt: reader.FileFormat) -> tuple[list[tuple[int, list[str], str]], list[tuple]]:
    """Record by record with the csv module alone: (first line, fields, text) and structural errors."""
    text = Path(path).read_bytes().decode("utf-8")
    physical = text.splitlines(keepends=True)
    records, errors = [], []
    rows = csv.reader(physical, delimiter=fmt.delimiter)
    header = next(rows)
    end = rows.line_num
    for fields in rows:
        start, end = end, rows.line_num
        if not fields:
            continue
        if len(fields) != len(header):
            errors.append((start + 1, "", f"has {len(fields)} fields, the header has {len(header)}"))
        else:
            records.append((start + 1, fields, "".join(physical[start:end]).rstrip("\r\n")))
    return records, errors


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 7, 1000])
def test_batched_reading_matches_record_by_record_reading(tmp_path, chunk_rows):
    lines = ["id,note,amount"]
    for i in range(40):
        kind = i % 8
        if kind == 3:
            lines.append(f'{i},"wrapped\nover ""two"" lines",1.0')
        elif kind == 5:
            lines.append("")
        elif kind == 6:
            lines.append(f"{i},too few")
        else:
            lines.append(f'{i},"plain, quoted",2.5')
    path = tmp_path / "mixed.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8", newline="")
    fmt = reader.detect_format(path)

    chunks = list(reader.iter_chunks(path, fmt, chunk_rows=chunk_rows))
    got = [(line, r, t) for c in chunks for line, r, t in zip(c.lines, c.rows, c.texts, strict=True)]
    got_errors = [(e.line, e.column, e.reason) for c in chunks for e in c.errors]

    expected, expected_errors = _reference(path, fmt)
    assert got == expected
    assert got_errors == expected_errors
    assert sum(c.rows_read for c in chunks) == len(expected) + len(expected_errors)
    assert all(c.rows_read == chunk_rows for c in chunks[:-1])
    for _line, fields, text in got:
        assert reader.parse_list(text, fmt.delimiter) == fields


@pytest.mark.django_db
def test_only_the_indexes_that_queries_use_are_kept():
    table = CarrierCdr._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    indexed = sorted(tuple(c["columns"]) for c in constraints.values()
                     if (c["index"] or c["unique"]) and not c["primary_key"])

    # Besides the primary key: no single-column upload_id, carrier_id or sip_call_id index.
    assert indexed == sorted([
        ("upload_id", "line_number"),  # one row per file line; also serves "rows of this upload"
        ("carrier_id", "start_utc"),  # a run loads its carrier's rows in the period
        ("sip_call_id_local",),  # exact matching joins on it
    ])
    # The upload key is checked by the database; the carrier, copied from the upload, is not.
    foreign = sorted(tuple(c["columns"]) for c in constraints.values() if c["foreign_key"])
    assert foreign == [("upload_id",)]
