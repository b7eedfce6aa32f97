"""Reading carrier files: gzip/zip unwrapping, encoding/BOM and delimiter detection, chunked rows.

Rows are split with the csv module rather than ``pandas.read_csv`` because the C parser cannot
report the line number of a malformed row (wrong field count, oversized field); every row needs
one. Each record also keeps its text as written in the file (the evidence stored with the row).
Each chunk then becomes a DataFrame for vectorised validation (``normalise``).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import queue
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from cdrweb.collector import collector_paused

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
    texts: list[str] = field(default_factory=list)  # each good record as written in the file
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
    """Yield chunks of ``chunk_rows`` records with their physical line numbers, text and structural errors.

    Lines are read in batches and split by one ``csv.reader`` call per batch (in C). When a batch
    has a record spread over several lines (a quoted line break) or an unreadable row, that batch
    is read again record by record, which knows where each record starts.
    """
    with open_text(path, fmt) as text:
        head = csv.reader(text, delimiter=fmt.delimiter)
        try:
            header = [h.strip().lstrip("\ufeff") for h in next(head)]
        except StopIteration:
            return
        width = len(header)
        next_line = head.line_num + 1  # physical line number of the next unread line
        index = 0
        while True:
            chunk = Chunk(index=index, header=header)
            with collector_paused():
                next_line, at_end = _fill(chunk, text, next_line, chunk_rows, fmt.delimiter, width)
            if chunk.rows_read or index == 0:
                yield chunk
            if at_end:
                return
            index += 1


def _fill(chunk: Chunk, text: Iterator[str], line: int, chunk_rows: int, delimiter: str,
          width: int) -> tuple[int, bool]:
    """Read records into ``chunk`` until it holds ``chunk_rows``; returns the next line and end-of-file."""
    while chunk.rows_read < chunk_rows:
        want = chunk_rows - chunk.rows_read
        batch = list(itertools.islice(text, want))
        if not batch:
            return line, True
        rows = _split_batch(batch, delimiter)
        if rows is None:
            line = _add_records_one_by_one(chunk, batch, text, line, delimiter, width)
        else:
            _add_batch(chunk, batch, rows, line, width)
            line += len(batch)
        if len(batch) < want:
            return line, True
    return line, False


def _split_batch(batch: list[str], delimiter: str) -> list[list[str]] | None:
    """The batch's rows when every line is exactly one record (blank lines included), else None."""
    try:
        rows = list(csv.reader(batch, delimiter=delimiter))
        if len(rows) != len(batch):
            return None  # a quoted line break joined lines
        last = batch[-1]
        # A last line that opens a quote and never closes it continues past the batch.
        if '"' in last:
            list(csv.reader([last], delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    return rows


def _add_batch(chunk: Chunk, batch: list[str], rows: list[list[str]], first_line: int, width: int) -> None:
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    numbers = np.arange(first_line, first_line + len(rows))
    texts, joined = _texts(batch)
    # A field can be no longer than its line; most batches have no long line and no bad byte.
    suspect = np.zeros(len(rows), dtype=bool)
    if (not joined.isascii() and _UNDECODABLE.search(joined)) or max(map(len, texts)) > MAX_FIELD_CHARS:
        suspect = np.fromiter((len(t) > MAX_FIELD_CHARS or _UNDECODABLE.search(t) is not None for t in texts),
                              dtype=bool, count=len(texts))
    records = widths > 0  # a blank line is not a record
    chunk.rows_read += int(records.sum())
    bad = records & ((widths != width) | suspect)
    if records.all() and not bad.any():  # the usual batch
        chunk.rows += rows
        chunk.lines += numbers.tolist()
        chunk.texts += texts
        return
    keep = records & ~bad
    for i in np.flatnonzero(bad).tolist():
        problem = _structural_problem(rows[i], chunk.header, width)
        if problem is None:  # a suspect line whose fields are all fine after all
            keep[i] = True
        else:
            chunk.errors.append(RowError(int(numbers[i]), problem[0], problem[1]))
    chunk.rows += itertools.compress(rows, keep.tolist())
    chunk.lines += numbers[keep].tolist()
    chunk.texts += itertools.compress(texts, keep.tolist())


def _add_records_one_by_one(chunk: Chunk, batch: list[str], text: Iterator[str], line: int, delimiter: str,
                            width: int) -> int:
    """The slow path for one batch: each record with its first line, finishing a record the batch cut."""
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for item in itertools.chain(batch, text):
            consumed.append(item)
            yield item

    reader = csv.reader(feed(), delimiter=delimiter)
    start = 0  # index in ``consumed`` of the record's first line
    while start < len(batch):
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            chunk.errors.append(RowError(line + start, "", f"unreadable row: {exc}"))
            chunk.rows_read += 1
            start = reader.line_num
            continue
        end = reader.line_num
        if row:
            chunk.rows_read += 1
            problem = _structural_problem(row, chunk.header, width)
            if problem:
                chunk.errors.append(RowError(line + start, problem[0], problem[1]))
            else:
                chunk.rows.append(row)
                chunk.lines.append(line + start)
                record = "".join(consumed[start:end])
                stripped = _strip_terminator(record)
                # A quote left open at the end of the file takes the last line break into the field.
                chunk.texts.append(stripped if parse_list(stripped, delimiter) == row else record)
        start = end
    return line + start


def _texts(batch: list[str]) -> tuple[list[str], str]:
    """Each line without its line break (one split in C when the file uses one kind), and all of them joined."""
    joined = "".join(batch)
    texts: list[str] = []
    if "\r" not in joined:
        texts = joined.split("\n")
    elif joined.count("\r") == joined.count("\n") == joined.count("\r\n"):
        texts = joined.split("\r\n")
    if len(texts) == len(batch) + 1 and texts[-1] == "":
        texts.pop()
    if len(texts) != len(batch):
        texts = list(map(_strip_terminator, batch))
    return texts, joined


def _strip_terminator(line: str) -> str:
    if line.endswith("\n"):
        return line[:-2] if line.endswith("\r\n") else line[:-1]
    return line[:-1] if line.endswith("\r") else line


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


def delimiter_name(delimiter: str) -> str:
    """How the upload's preview records a delimiter (a tab is written ``tab``)."""
    return "tab" if delimiter == "\t" else delimiter


def delimiter_from_name(name: str) -> str:
    """The delimiter a preview's ``delimiter_name`` stands for."""
    return "\t" if name == "tab" else name


def parse_list(text: str, delimiter: str) -> list[str]:
    """The fields of one record's text."""
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])


def parse_record(text: str, header: list[str], delimiter: str) -> dict[str, str]:
    """A stored record text as {header name: value} (a repeated header name keeps its last value)."""
    return dict(zip(header, parse_list(text, delimiter), strict=False))


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
