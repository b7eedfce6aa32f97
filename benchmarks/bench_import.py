"""Carrier CDR import on PostgreSQL: a 1M-row wholesale CSV (issue 5).

Measures ``reconciliation.services`` (preview, then the chunked import: csv split, vectorised
validation and normalisation, insert) beside an anchor in the same database: PostgreSQL ``COPY``
of the same file into a table of text columns (no validation at all). Targets: within 1.5x of the
anchor, peak memory under 1 GiB.

    python -m benchmarks.bench_import                     # 1,000,000 rows
    BENCH_SCALE=small python -m benchmarks.bench_import   # 50,000 rows, a smoke run
    BENCH_ROWS=200000 python -m benchmarks.bench_import   # any row count
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import (
    Result,
    backend_pid,
    migrate_quietly,
    peak_rss_mb,
    process_cpu_seconds,
    setup_django,
    throwaway_postgres,
    timer,
)

ROWS = int(os.environ.get("BENCH_ROWS") or (50_000 if os.environ.get("BENCH_SCALE") == "small" else 1_000_000))
HEADER = ("Call-ID,Start Time,Connect Time,Disconnect Time,ANI,DNIS,Direction,Duration (sec),"
          "Billed Duration (sec),Increment,Rate/Min,Amount,Currency,Disconnect Code,Disconnect Reason,"
          "Record Type,Destination,Trunk")


def write_file(path: Path, rows: int, seed: int = 5) -> None:
    """A month of wholesale rows (generic_wholesale layout), some local offsets and credit lines."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("\ufeff" + HEADER + "\n")
        for i in range(rows):
            at = start + timedelta(seconds=rng.randrange(30 * 86400))
            talk = rng.choice([0, rng.randrange(1, 1800)])
            billed = 0 if talk == 0 else (30 if talk <= 30 else 30 + -(-(talk - 30) // 6) * 6)
            amount = f"{billed * 0.006 / 60:.6f}"
            credit = i % 997 == 0
            out.write(
                f"{i:08x}-{rng.getrandbits(64):016x}@192.0.2.{i % 250},{at.isoformat()},"
                f"{(at + timedelta(seconds=4)).isoformat() if talk else ''},"
                f"{(at + timedelta(seconds=4 + talk)).isoformat()},1312555{i % 10000:04d},"
                f"1{rng.randrange(2000000000, 9999999999)},{'OUT' if i % 3 else 'IN'},{0 if credit else talk},"
                f"{0 if credit else billed},30/6,0.006000,{'-0.0100' if credit else amount},USD,200,Normal,"
                f"{'CREDIT' if credit else 'CDR'},US,GENESYS-BYOC-A\n"
            )


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process (all threads) and by its PostgreSQL backend.

    The machine is shared, so wall times stretch with the load; CPU time does much less.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    server = process_cpu_seconds(backend_pid()) or 0.0  # 0 when the server is not on this machine
    return usage.ru_utime + usage.ru_stime, server


def anchor_copy(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds (client + server) of COPY of the file into a table of text columns."""
    from django.db import connection

    columns = ", ".join(f"c{i} text" for i in range(18))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE bench_copy ({columns})")
        sql = "COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
        before = cpu_seconds()
        with timer() as t, cursor.cursor.copy(sql) as copy, open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
        after = cpu_seconds()
    return t["seconds"], sum(after) - sum(before)


def store_floor() -> float:
    """Seconds to COPY the imported rows, already normalised, into a copy of the CarrierCdr table.

    What the database alone costs for our schema (its indexes, WAL; not the foreign-key checks, which
    ``LIKE`` does not copy), with no Python work:
    the part of the import that no client-side change can remove.
    """
    from django.db import connection

    from reconciliation.models import CarrierCdr

    table = CarrierCdr._meta.db_table
    buffer = bytearray()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} TO STDOUT") as copy:
            for block in copy:
                buffer += block
        cursor.execute(f"CREATE TABLE bench_floor (LIKE {table} INCLUDING ALL)")
        with timer() as t:
            with cursor.cursor.copy("COPY bench_floor FROM STDIN") as copy:
                copy.write(bytes(buffer))
            cursor.execute("COMMIT")
    return t["seconds"]


def main(argv: list[str]) -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp, throwaway_postgres("cdrweb_bench_import") as url:
        setup_django(url)
        from django.conf import settings

        settings.MEDIA_ROOT = tmp
        migrate_quietly()
        from billing.models import Carrier
        from reconciliation import services
        from reconciliation.models import CarrierCdr, CarrierUpload

        path = Path(tmp) / "wholesale_1m.csv"
        write_file(path, ROWS)
        anchor, anchor_cpu = anchor_copy(path)
        carrier = Carrier.objects.create(name="Bench wholesale", currency="USD")
        before = cpu_seconds()
        with timer() as t:
            with open(path, "rb") as stream:
                upload = services.create_upload(carrier=carrier, stream=stream, original_name=path.name,
                                                preset="generic_wholesale")
            CarrierUpload.objects.filter(pk=upload.pk).update(status=CarrierUpload.Status.QUEUED)
            summary = services.import_upload(upload_id=upload.pk, time_budget=None)
        after = cpu_seconds()
        client_cpu, server_cpu = after[0] - before[0], after[1] - before[1]
        assert summary.status == "imported", summary
        assert CarrierCdr.objects.filter(upload=upload).count() == ROWS
        seconds = t["seconds"]
        peak = peak_rss_mb()
        floor = store_floor()
    notes = f"{ROWS:,} rows, {summary.rows_credit} credit lines; preview + chunked import incl. sha256"
    return [
        Result("import", "carrier CSV import", seconds, "s", "PostgreSQL COPY of the same file", anchor,
               "≤ 1.5x", notes),
        Result("import", "carrier CSV import, CPU time", client_cpu + server_cpu, "s", "CPU time of the same COPY",
               anchor_cpu, "", "client process (all threads) + its PostgreSQL backend; steadier than wall time "
               "on a busy machine", {"client_cpu_s": round(client_cpu, 2), "server_cpu_s": round(server_cpu, 2)}),
        Result("import", "import throughput", ROWS / seconds, "rows/s", "COPY rows/s", ROWS / anchor, "",
               "higher is better"),
        Result("import", "database floor", floor, "s", "PostgreSQL COPY of the same file", anchor, "",
               "COPY of the already-normalised rows into a copy of the CarrierCdr table, indexes included"),
        Result("import", "peak memory", peak, "MiB", "", None, "< 1024 MiB", "whole process, incl. the anchor"),
    ]


if __name__ == "__main__":
    for result in main(sys.argv[1:]):
        result.emit()
