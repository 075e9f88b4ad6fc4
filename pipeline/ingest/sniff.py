"""Find out what a file is before reading it: format, text encoding, delimiter and (for Excel) the sheet names.

A gzip, bzip2 or zstd file is judged by the first megabyte of the file inside it (``orders.csv.gz`` and a bare
``export.gz`` alike); a zip archive lists its files; JSON Lines and JSON arrays of records are told from CSV by
their first characters (see :mod:`pipeline.ingest.unpack` for the containers themselves).

Everything that looks at a file's bytes to decide *how* to read it belongs here (magic numbers, byte-order marks,
encodings, delimiters, whitespace-aligned text and whether the first row is a header); the reading itself is
:mod:`pipeline.ingest.read`. Files that are not tables are refused here with a :class:`DataError` saying what to do.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.config import max_upload_bytes
from pipeline.errors import DataError
from pipeline.ingest.unpack import CODEC_NAMES, compression_of, inner_name, peek, zip_members

__all__ = ["FileInfo", "sniff", "sniff_bytes", "detect_encoding", "detect_delimiter", "detect_header", "split_lines",
           "sheet_names", "cell_type", "WHITESPACE"]

DELIMITERS = (",", ";", "\t", "|")
#: the "delimiter" of whitespace-aligned text: columns separated by runs of spaces (``00001  19970101  1  11.77``)
WHITESPACE = " "
SAMPLE_BYTES = 1 << 20
csv.field_size_limit(1 << 24)

_EMPTY = "The file is empty. Upload a table with a header row and at least one data row."


@dataclass(frozen=True)
class FileInfo:
    """What :func:`sniff` found out about a file."""

    path: Path
    format: str                      # "csv" | "excel" | "parquet" | "json" | "zip"
    encoding: str = "utf-8"
    delimiter: str = ","             # one of DELIMITERS, or WHITESPACE for whitespace-aligned text
    sheets: tuple[str, ...] = field(default_factory=tuple)
    header: bool = True              # False: the first row is data; columns are named column_1, column_2, ...
    #: "gzip" | "bz2" | "zstd": ``path`` is this compressed stream of a ``format`` file; "zip": an archive whose
    #: files are ``sheets`` (once read: its table-like files, the one read among them); "folder": a folder or glob
    container: str | None = None
    files: tuple[Path, ...] = field(default_factory=tuple)      # a folder or glob: the files read as one table


def sniff(path: str | Path, filename: str | None = None, check_size: bool = True) -> FileInfo:
    """Find a file's format, text encoding, delimiter and (for Excel) sheet names; a gzip, bzip2 or zstd file is
    judged by the file inside it (``container`` names the codec), a zip archive lists its files in ``sheets``.

    Raises
    ------
    DataError
        When the file is too big (unless ``check_size`` is False: a file unpacked here), empty, corrupt, or not a
    table (old .xls, image, PDF, tar, binary).
    """
    path = Path(path)
    name = (filename or path.name).lower()
    size = path.stat().st_size
    if check_size and size > max_upload_bytes():
        raise DataError(f"The file is {size / 2**20:,.0f} MB, over the {max_upload_bytes() / 2**20:,.0f} MB limit. "
                        "Export fewer columns or a shorter period, or save it as Parquet (much smaller).")
    head = _read_head(path)
    if not head.strip():
        raise DataError(_EMPTY)
    codec = compression_of(head)
    if codec is None:
        return sniff_bytes(path, name, head)
    inner = peek(path, codec, SAMPLE_BYTES)
    if not inner.strip():
        raise DataError(f"The file inside this {CODEC_NAMES[codec]} file is empty. "
                        "Compress the export again, or upload it uncompressed.")
    if compression_of(inner) is not None:
        raise DataError(f"This {CODEC_NAMES[codec]} file holds another compressed file. Compress the table once.")
    return replace(sniff_bytes(path, inner_name(name), inner, listed=False), container=codec)


def sniff_bytes(path: Path, name: str, head: bytes, listed: bool = True) -> FileInfo:
    """What the first bytes ``head`` of a file (named ``name``, at ``path``) say it is; ``listed``: ``path`` holds
    these bytes as they are, so a workbook's sheets and an archive's files can be listed from it."""
    binary = _binary_format(path, name, head, listed)
    if binary is not None:
        return binary
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    _require_text(text)
    if len(head) == SAMPLE_BYTES:       # the last line of the sample may be cut
        text = text[:max(text.rfind("\n"), 0)] or text
    if _JSON.match(text):
        return FileInfo(path, "json", encoding=encoding)
    delimiter = detect_delimiter(text)
    return FileInfo(path, "csv", encoding=encoding, delimiter=delimiter,
                    header=detect_header(split_lines(text.splitlines()[:60], delimiter)))


#: JSON records: an object (JSON Lines, or one object wrapping a list of records) or an array of objects
_JSON = re.compile(r"\A\ufeff?\s*(\{\s*(\"|\})|\[\s*(\{|\[|\]|\"|-?\d|true|false|null))")


_BINARY = "This file looks binary, not a text table. Upload a CSV, Excel (.xlsx), JSON or Parquet file."


def _require_text(text: str) -> None:
    """Refuse decoded bytes that are not text: control characters or undecodable bytes in more than 1% of them."""
    sample = text[:65536]
    bad = sum(1 for ch in sample if (ch < " " and ch not in "\t\r\n\f") or ch in "\ufffd\x7f")
    if bad > 0.01 * len(sample):
        raise DataError(_BINARY)


def _binary_format(path: Path, name: str, head: bytes, listed: bool = True) -> FileInfo | None:
    """Parquet, Excel or a zip archive by their magic numbers; refuse other known binary formats; None for text."""
    if head.startswith(b"PAR1"):
        return FileInfo(path, "parquet")
    if head.startswith(b"PK\x03\x04"):
        if name.endswith((".xlsx", ".xlsm")) or b"xl/" in head[:4096] or b"[Content_Types].xml" in head[:4096]:
            return FileInfo(path, "excel", sheets=tuple(sheet_names(path)) if listed else ())
        return FileInfo(path, "zip", sheets=tuple(zip_members(path)) if listed else (), container="zip")
    if head.startswith(b"PK\x05\x06"):
        raise DataError("This zip archive is empty. Zip the CSV, Excel, JSON or Parquet file, or upload it as it is.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError("This is an old binary Excel file (.xls). Save it as .xlsx or CSV in Excel and upload that.")
    if head[257:262] == b"ustar":
        raise DataError("This is a tar archive. Upload the CSV, Excel, JSON or Parquet file inside, or a zip of it.")
    if head[:8].startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF")):
        raise DataError("This file is an image or a PDF, not a table. Upload a CSV, Excel (.xlsx), JSON or Parquet "
                        "file.")
    return None


def detect_encoding(head: bytes) -> str:
    """The text encoding of a file from its first bytes: BOMs, UTF-16, UTF-8, else cp1252."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head[:4096]:
        if len(head) > 64 and head[1:64:2].count(0) > 24:   # UTF-16 without a byte-order mark
            return "utf-16-le"
        raise DataError(_BINARY)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:      # not just a character cut at the end of the sample
            return "cp1252"
    return "utf-8"


def detect_delimiter(text: str) -> str:
    """The delimiter among :data:`DELIMITERS` that splits the first lines into the most consistent, widest rows."""
    lines = [ln[:100_000] for ln in text.splitlines()[:60] if ln.strip()]
    if not lines:
        raise DataError(_EMPTY)
    best, best_score = ",", (0, 0)
    for d in DELIMITERS:
        counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=d)]
        width = counts[0]
        consistent = sum(c == width for c in counts)
        score = (consistent if width > 1 else 0, width)
        if score > best_score:
            best, best_score = d, score
    if best_score[0] == 0 and _aligned(lines):
        return WHITESPACE
    return best


def _aligned(lines: list[str]) -> bool:
    """True when runs of whitespace split the lines (the first one included) into the same number (≥ 2) of fields."""
    widths = [len(ln.split()) for ln in lines]
    width = Counter(widths).most_common(1)[0][0]
    return width > 1 and widths[0] == width and sum(w == width for w in widths) >= 0.95 * len(widths)


def split_lines(lines: list[str], delimiter: str) -> list[list[str]]:
    """Lines of text split into fields by ``delimiter`` (CSV quoting rules) or, for :data:`WHITESPACE`, by runs of
    whitespace."""
    lines = [ln for ln in lines if ln.strip()]
    if delimiter == WHITESPACE:
        return [ln.split() for ln in lines]
    try:
        return list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    except csv.Error:
        return [ln.split(delimiter) for ln in lines]


_NUMBER = re.compile(r"[-+(]?[$€£¥]?\s?\d[\d,. ']*\)?%?")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?|\d{1,2}[- ][A-Za-z]{3,9}[- ,]+\d{2,4}.*"
                   r"|[A-Za-z]{3,9} \d{1,2},? \d{4}.*")


def cell_type(value: str) -> str:
    """``number``, ``date``, ``text`` or ``''`` (blank) for one cell's text."""
    v = value.strip()
    if not v:
        return ""
    if _DATE.fullmatch(v):
        return "date"
    return "number" if _NUMBER.fullmatch(v) else "text"


def detect_header(rows: list[list[str]]) -> bool:
    """Whether the first row is a header: False when every cell of it has the value type (number, date, text) of its
    column in the rows below, and some of those columns hold numbers or dates (``760\t25\t2009-11-06``)."""
    if len(rows) < 2:
        return True
    first, rest = rows[0], rows[1:]
    typed = False
    for j, cell in enumerate(first):
        below = Counter(cell_type(r[j]) for r in rest if j < len(r)) - Counter({"": len(rest)})
        if not below:
            continue
        kind = below.most_common(1)[0][0]
        if cell_type(cell) not in ("", kind):
            return True
        typed = typed or kind != "text"
    return not typed


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SAMPLE_BYTES)


def sheet_names(path: Path) -> list[str]:
    """The sheet names of an .xlsx workbook (read by calamine)."""
    from python_calamine import CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            return list(wb.sheet_names)
    except Exception as e:  # calamine raises its own error types for corrupt files
        raise DataError(f"This Excel file could not be opened ({type(e).__name__}). Re-save it as .xlsx or CSV.") from e
