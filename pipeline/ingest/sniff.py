"""Find out what a file is before reading it: format, text encoding, delimiter and (for Excel) the sheet names.

Everything that looks at a file's bytes to decide *how* to read it belongs here (magic numbers, byte-order marks,
encodings, delimiters, and in time header rows and whitespace-aligned text); the reading itself is
:mod:`pipeline.ingest.read`. Files that are not tables are refused here with a :class:`DataError` saying what to do.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import max_upload_bytes
from pipeline.errors import DataError

__all__ = ["FileInfo", "sniff", "detect_encoding", "detect_delimiter", "sheet_names"]

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 1 << 20
csv.field_size_limit(1 << 24)

_EMPTY = "The file is empty. Upload a table with a header row and at least one data row."


@dataclass(frozen=True)
class FileInfo:
    """What :func:`sniff` found out about a file."""

    path: Path
    format: str                      # "csv" | "excel" | "parquet"
    encoding: str = "utf-8"
    delimiter: str = ","
    sheets: tuple[str, ...] = field(default_factory=tuple)


def sniff(path: str | Path, filename: str | None = None) -> FileInfo:
    """Find a file's format, text encoding, delimiter and (for Excel) sheet names.

    Raises
    ------
    DataError
        When the file is too big, empty, or not a table (zip, old .xls, image, PDF, binary).
    """
    path = Path(path)
    name = (filename or path.name).lower()
    size = path.stat().st_size
    if size > max_upload_bytes():
        raise DataError(f"The file is {size / 2**20:,.0f} MB, over the {max_upload_bytes() / 2**20:,.0f} MB limit. "
                        "Export fewer columns or a shorter period, or save it as Parquet (much smaller).")
    head = path.read_bytes()[:SAMPLE_BYTES] if path.stat().st_size < 4 * SAMPLE_BYTES else _read_head(path)
    if not head.strip():
        raise DataError(_EMPTY)
    binary = _binary_format(path, name, head)
    if binary is not None:
        return binary
    encoding = detect_encoding(head)
    text = head.decode(encoding, errors="replace")
    return FileInfo(path, "csv", encoding=encoding, delimiter=detect_delimiter(text))


def _binary_format(path: Path, name: str, head: bytes) -> FileInfo | None:
    """Parquet or Excel by their magic numbers; refuse other known binary formats; None for text."""
    if head.startswith(b"PAR1"):
        return FileInfo(path, "parquet")
    if head.startswith(b"PK\x03\x04"):
        if name.endswith((".xlsx", ".xlsm")) or b"xl/" in head[:4096] or b"[Content_Types].xml" in head[:4096]:
            return FileInfo(path, "excel", sheets=tuple(sheet_names(path)))
        raise DataError("This is a zip archive. Unzip it and upload the CSV, Excel or Parquet file inside.")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataError("This is an old binary Excel file (.xls). Save it as .xlsx or CSV in Excel and upload that.")
    if head[:8].startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\x1f\x8b")):
        raise DataError("This file is an image, PDF or compressed file, not a table. "
                        "Upload a CSV, Excel (.xlsx) or Parquet file.")
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
        raise DataError("This file looks binary, not a text table. Upload a CSV, Excel (.xlsx) or Parquet file.")
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
    return best


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(SAMPLE_BYTES)


def sheet_names(path: Path) -> list[str]:
    """The sheet names of an .xlsx workbook."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
    except Exception as e:  # openpyxl raises many types for corrupt files
        raise DataError(f"This Excel file could not be opened ({type(e).__name__}). Re-save it as .xlsx or CSV.") from e
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()
