"""Reading carrier files: gzip/zip unwrapping, encoding/BOM and delimiter detection, chunked rows.

Rows are split with the csv module rather than ``pandas.read_csv`` because the C parser cannot
report the line number of a malformed row (wrong field count, oversized field); every row needs
one. Each chunk then becomes a ``dtype=str`` DataFrame for vectorised validation (``normalise``).
"""

from __future__ import annotations

import csv
import gzip
import io
import queue
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")

SAMPLE_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
# A field longer than this is rejected with its line and column (csv.field_size_limit stays default).
MAX_FIELD_CHARS = 4096
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str


@dataclass(frozen=True)
class FileFormat:
    compression: str  # "", "gzip" or "zip"
    encoding: str
    bom: bool
    delimiter: str


@dataclass
class Chunk:
    index: int
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0  # data records consumed, good or bad


def _open_binary(path: Path) -> tuple[BinaryIO, str]:
    with open(path, "rb") as probe:
        magic = probe.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb"), "gzip"  # type: ignore[return-value]
    if magic == b"PK\x03\x04":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if not members:
            raise ValueError("the zip archive is empty")
        csvs = [m for m in members if m.lower().endswith((".csv", ".txt"))] or members
        return archive.open(csvs[0]), "zip"  # type: ignore[return-value]
    return open(path, "rb"), ""


def detect_format(path: Path, *, encoding: str = "", delimiter: str = "") -> FileFormat:
    """Look at the first bytes: compression, BOM, encoding (UTF-8 else cp1252) and delimiter."""
    stream, compression = _open_binary(path)
    with stream:
        head = stream.read(SAMPLE_BYTES)
    bom = head.startswith(b"\xef\xbb\xbf")
    if not encoding:
        if bom:
            encoding = "utf-8-sig"
        elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            try:
                head.decode("utf-8")
                encoding = "utf-8"
            except UnicodeDecodeError as exc:
                # A multi-byte character cut by the sample boundary is still UTF-8.
                encoding = "utf-8" if exc.start >= len(head) - 3 else "cp1252"
    elif encoding.lower().replace("_", "-") in ("utf-8", "utf8") and bom:
        encoding = "utf-8-sig"
    if not delimiter:
        text = head.decode(encoding, errors="replace")
        first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
        unquoted = re.sub(r'"[^"]*"', "", first)
        counts = {d: unquoted.count(d) for d in DELIMITERS}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    return FileFormat(compression=compression, encoding=encoding, bom=bom, delimiter=delimiter)


def open_text(path: Path, fmt: FileFormat) -> io.TextIOWrapper:
    """The decoded text stream; undecodable bytes survive as surrogates and become row errors."""
    stream, _ = _open_binary(path)
    return io.TextIOWrapper(stream, encoding=fmt.encoding, errors="surrogateescape", newline="")


def read_header(path: Path, fmt: FileFormat) -> list[str]:
    with open_text(path, fmt) as text:
        reader = csv.reader(text, delimiter=fmt.delimiter)
        header = next(reader, [])
    return [h.strip().lstrip("\ufeff") for h in header]


def iter_chunks(path: Path, fmt: FileFormat, *, chunk_rows: int) -> Iterator[Chunk]:
    """Yield chunks of raw rows with their physical line numbers and structural row errors."""
    with open_text(path, fmt) as text:
        reader = csv.reader(text, delimiter=fmt.delimiter)
        try:
            header = [h.strip().lstrip("\ufeff") for h in next(reader)]
        except StopIteration:
            return
        width = len(header)
        index = 0
        chunk = Chunk(index=index, header=header)
        previous_end = reader.line_num
        while True:
            line = previous_end + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                chunk.errors.append(RowError(line, "", f"unreadable row: {exc}"))
                chunk.rows_read += 1
                previous_end = reader.line_num
                continue
            previous_end = reader.line_num
            if not row:
                continue  # a blank line is not a record
            chunk.rows_read += 1
            problem = _structural_problem(row, header, width)
            if problem:
                chunk.errors.append(RowError(line, problem[0], problem[1]))
            else:
                chunk.rows.append(row)
                chunk.lines.append(line)
            if chunk.rows_read >= chunk_rows:
                yield chunk
                index += 1
                chunk = Chunk(index=index, header=header)
        if chunk.rows_read or index == 0:
            yield chunk


def _structural_problem(row: list[str], header: list[str], width: int) -> tuple[str, str] | None:
    if len(row) != width:
        return "", f"has {len(row)} fields, the header has {width}"
    joined = "\x1f".join(row)
    if len(joined) <= MAX_FIELD_CHARS and not _UNDECODABLE.search(joined):
        return None  # the common case, checked once per row
    for name, value in zip(header, row, strict=True):
        if len(value) > MAX_FIELD_CHARS:
            return name, f"field longer than {MAX_FIELD_CHARS} characters"
        if _UNDECODABLE.search(value):
            return name, "bytes not valid in the file's encoding"
    return None


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """Yield ``items``, computing the next one in a helper thread while the caller uses this one.

    The import reads and normalises chunk k+1 (pure pandas, no database) while PostgreSQL stores
    chunk k: the COPY waits on the server with the GIL released, so client and server work at once.
    An exception in the helper is raised here, in order; closing this generator stops the helper.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    finished = object()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, finished))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close:
                close()  # a generator is closed in the thread that ran it

    helper = threading.Thread(target=work, name="cdr-import-prefetch", daemon=True)
    helper.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item  # type: ignore[misc]
            if item is finished:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        helper.join()
