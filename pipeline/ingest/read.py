"""Read a sniffed file (CSV, JSON, Excel, Parquet; compressed, in a zip archive, or a folder or glob of them) or an
in-memory frame into a DuckDB table of text columns.

This is the one read path: :func:`open_file` (sniff, unpack, pick the sheet or archive member, load) and
:func:`open_frame` return a
:class:`RawTable` that cleaning (:mod:`pipeline.ingest.clean`), the Upload page (via :mod:`pipeline.ingest.datasets`),
the CLI and the built-in samples all start from. Every column is read as text; typing is done later by cleaning
under rules it can report on. How each format is parsed (CSV fallbacks, transcoding, whitespace-aligned text, files
without a header row, Excel sheets through :mod:`~pipeline.ingest.excel`, JSON records through
:mod:`~pipeline.ingest.jsonfile`, Parquet nesting, several files with one header read as one table), and the spread
sample that content detection reads, belong here; deciding *what* a file is belongs to :mod:`pipeline.ingest.sniff`,
unpacking containers to :mod:`pipeline.ingest.unpack`, and which sheet or member to read to
:mod:`pipeline.ingest.parts`. A compressed file or an archive member is unpacked to a temporary file that is loaded
into a table and removed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, TypeVar

import duckdb
import pandas as pd

from pipeline.config import DuckDBConfig
from pipeline.errors import DataError
from pipeline.ingest.csvfile import plain_copy, read_csv_into, utf8_copy
from pipeline.ingest.db import connect, sql_string
from pipeline.ingest.excel import sheet_frame, workbook_sheets
from pipeline.ingest.jsonfile import load_json
from pipeline.ingest.parts import Part, best_part, judge, unreadable
from pipeline.ingest.sniff import WHITESPACE, FileInfo, sniff, split_lines
from pipeline.ingest.unpack import (
    decompress, extract_member, inner_name, is_pattern, list_files,
)
from pipeline.log import step

__all__ = ["RawTable", "open_file", "open_frame", "load_raw", "read_raw", "first_data_sheet", "spread_sample",
           "is_many", "split_selector", "PREVIEW_ROWS", "SPREAD_ROWS"]

#: rows of the raw table kept as a pandas preview (the first rows of the file)
PREVIEW_ROWS = 1000
#: rows of the sample spread over the whole file that content detection (roles, dates, numbers) reads
SPREAD_ROWS = 2000
#: files of a zip archive read to choose the one that holds the table (the others are listed, and can be named)
MAX_MEMBERS_READ = 20
#: a CSV up to this size is sampled by DuckDB (a full scan is cheap); bigger ones at byte offsets
SMALL_FILE_BYTES = 8 << 20
_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class RawTable:
    """A file or frame loaded into DuckDB table ``table`` (all text), with its first :data:`PREVIEW_ROWS` rows
    (``sample``) and about :data:`SPREAD_ROWS` rows spread over the whole file (``spread``), both pandas text frames.

    ``info`` and ``sheet`` are None for an in-memory frame. ``sheet`` is the workbook sheet or the archive member
    read; ``parts`` describes every sheet or member in one line each (:class:`~pipeline.ingest.parts.Part`).
    """

    con: duckdb.DuckDBPyConnection
    columns: list[str]
    sample: pd.DataFrame
    info: FileInfo | None = None
    sheet: str | None = None
    table: str = "raw"
    spread: pd.DataFrame | None = None
    parts: tuple[Part, ...] = ()

    @property
    def content(self) -> pd.DataFrame:
        """The rows content detection reads: the spread sample, else the preview."""
        return self.spread if self.spread is not None and len(self.spread) else self.sample

    def decoded(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` (a query over the raw table); when a UTF-8 file turns out to hold other bytes past the sniffed
        first megabyte, re-read it as cp1252 and run ``fn`` again (the encoding is judged on the whole file)."""
        try:
            return fn()
        except duckdb.InvalidInputException as e:
            if self.info is None or "unicode" not in str(e).lower():
                raise
        info = replace(self.info, encoding="cp1252")
        object.__setattr__(self, "info", info)
        self.con.execute(f"DROP VIEW IF EXISTS {self.table}")
        load_raw(self.con, info, None, self.table)
        return fn()

    @property
    def parts_note(self) -> str | None:
        """The report's note on a workbook's or an archive's other parts: which one was read, what the others hold."""
        if self.sheet is None or len(self.parts) < 2:
            return None
        what = "sheet" if self.info is not None and self.info.format == "excel" and self.info.container != "zip" \
            else "file"
        others = "; ".join(p.line for p in self.parts if p.name != self.sheet)
        return (f"Read {what} {self.sheet!r}; the others: {others}. Pick another with the sheet selector (--sheet on "
                "the command line).")

    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.con.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def frame(self, limit: int | None = None) -> pd.DataFrame:
        """The raw table (or its first ``limit`` rows) as a pandas DataFrame of text columns."""
        q = f"SELECT * FROM {self.table}" + (f" LIMIT {int(limit)}" if limit else "")
        return self.con.execute(q).df()


def open_file(path: str | Path, filename: str | None = None, sheet: str | None = None,
              config: DuckDBConfig | None = None) -> RawTable:
    """Sniff, unpack and load a file into a fresh connection; also a folder or glob of files with one header.

    A workbook's sheet and a zip archive's file are chosen by content (transactions, then a customer table) unless
    ``sheet`` names one (or ``path`` ends in ``#NAME``, see :func:`split_selector`); ``RawTable.parts`` lists them.
    """
    path, sheet, filename = split_selector(path, sheet, filename)
    con = connect(config)
    try:
        if is_many(path):
            info, chosen, parts = _many_info(path), None, ()
            load_raw(con, info)
        else:
            info = sniff(path, filename)
            info, chosen, parts = _open_into(con, info, filename or Path(path).name, sheet, "raw")
        columns = [r[0] for r in con.execute("DESCRIBE raw").fetchall()]
        head = con.execute(f"SELECT * FROM raw LIMIT {PREVIEW_ROWS}").df()
        raw = RawTable(con, columns, head, info, chosen, parts=parts)
        object.__setattr__(raw, "spread", raw.decoded(lambda: spread_sample(con, raw.info, columns, head)))
    except BaseException:
        con.close()
        raise
    return raw


def split_selector(path: str | Path, sheet: str | None = None,
                   filename: str | None = None) -> tuple[str | Path, str | None, str | None]:
    """``book.xlsx#Orders`` or ``exports.zip#2011/orders.csv`` (when no file has that whole name) as (path, sheet,
    filename without the ``#NAME``): how the command line's ``--sheet`` reaches every command; ``sheet``, when given,
    wins. Anything else is returned as it is."""
    text = str(path)
    if "#" not in text or Path(text).exists():
        return path, sheet, filename
    base, _, selector = text.rpartition("#")
    if not base or not Path(base).exists():
        return path, sheet, filename
    if filename is not None and filename.endswith(f"#{selector}"):
        filename = filename[:-len(selector) - 1]
    return base, sheet or selector, filename


def is_many(path: str | Path) -> bool:
    """True when ``path`` names several files to read as one table: a folder, or a glob that is not a file."""
    p = Path(path)
    return p.is_dir() or (not p.exists() and is_pattern(str(path)))


def first_data_sheet(info: FileInfo) -> str | None:
    """The sheet of a workbook read when none is named: chosen by content (None for other formats)."""
    if info.format != "excel":
        return None
    return _choose(_sheet_parts(info), "sheet of this Excel file").name


def _open_into(con: duckdb.DuckDBPyConnection, info: FileInfo, name: str, sheet: str | None, table: str,
               utf8: bool = True, temp: bool = False) -> tuple[FileInfo, str | None, tuple[Part, ...]]:
    """Load the file ``info`` describes into ``table``, unpacking a compressed file or a zip archive on the way;
    (the file's info, the sheet or member read, the parts listed). ``temp``: ``info.path`` is an unpacked copy
    that will be removed, so it is loaded into a table; ``utf8``: whether all of it is UTF-8."""
    if info.container in ("gzip", "bz2", "zstd"):
        inner = inner_name(name)
        tmp, utf8 = decompress(info.path, info.container, suffix=Path(inner).suffix)
        try:
            got, chosen, parts = _open_into(con, sniff(tmp, inner, check_size=False), inner, sheet, table, utf8, True)
        finally:
            tmp.unlink(missing_ok=True)
        return replace(got, path=info.path, container=info.container), chosen, parts
    if info.format == "zip":
        return _open_zip(con, info, sheet, table)
    if info.format == "excel":
        parts = _sheet_parts(info)
        chosen = sheet or _choose(parts, "sheet of this Excel file").name
        load_raw(con, info, chosen, table)
        return info, chosen, tuple(parts)
    if not utf8 and info.encoding in ("utf-8", "utf-8-sig"):   # judged on the whole unpacked file
        info = replace(info, encoding="cp1252")
    load_raw(con, info, None, table, keep=not temp)
    return info, None, ()


def _sheet_parts(info: FileInfo) -> list[Part]:
    return [judge(name, df.head(SPREAD_ROWS), rows=len(df)) for name, df in workbook_sheets(info.path).items()]


def _choose(parts: list[Part], what: str) -> Part:
    """The part read when none is named; DataError when none holds a table."""
    best = best_part(parts)
    if best is not None:
        return best
    if all(p.kind == "empty" for p in parts):
        raise DataError(f"Every {what} is empty. Put the table on a sheet with a header row.")
    raise DataError(f"No {what} holds a table: " + "; ".join(p.line for p in parts[:5])[:300] + ".")


def _open_zip(con: duckdb.DuckDBPyConnection, info: FileInfo, member: str | None,
              table: str) -> tuple[FileInfo, str | None, tuple[Part, ...]]:
    """Load one file of a zip archive: ``member``, else each file is read and the one whose content reads as
    transactions (then a customer table, then any table) is kept."""
    members = list(info.sheets)
    if not members:
        raise DataError("This zip archive holds no files. Zip the CSV, Excel, JSON or Parquet file, or upload it "
                        "as it is.")
    if member is not None:
        if member not in members:
            raise DataError(f"{member!r} is not in this zip archive; it holds {', '.join(members[:20])}.")
        got = _open_member(con, info.path, member, table)
        return replace(got, path=info.path, container="zip", sheets=tuple(members)), member, ()
    parts, infos = [], {}
    for i, m in enumerate(members):
        if i >= MAX_MEMBERS_READ:
            parts.append(Part(m, None, 0, "not read", f"not read (only the first {MAX_MEMBERS_READ} files are "
                                                      "judged; name it with sheet=)"))
            continue
        try:
            infos[m] = _open_member(con, info.path, m, f"_part_{i}")
            sample = con.execute(f"SELECT * FROM _part_{i} LIMIT {SPREAD_ROWS}").df()
            parts.append(judge(m, sample, rows=con.execute(f"SELECT count(*) FROM _part_{i}").fetchone()[0]))
        except DataError as e:
            parts.append(unreadable(m, str(e)))
    best = best_part(parts)
    if best is None:
        raise DataError("No file in this zip archive reads as a table: " + "; ".join(
            p.line for p in parts[:5])[:300] + ". Zip the CSV, Excel, JSON or Parquet file.")
    for i, m in enumerate(members):
        if m == best.name:
            con.execute(f"ALTER TABLE _part_{i} RENAME TO {table}")
        else:
            con.execute(f"DROP TABLE IF EXISTS _part_{i}")
    readable = tuple(p.name for p in parts if p.kind != "unreadable")
    return replace(infos[best.name], path=info.path, container="zip", sheets=readable), best.name, tuple(parts)


def _open_member(con: duckdb.DuckDBPyConnection, path: Path, member: str, table: str) -> FileInfo:
    """One file of a zip archive, extracted to a temporary file, loaded into ``table`` and removed."""
    name = Path(member).name
    tmp, utf8 = extract_member(path, member)
    try:
        got, _, _ = _open_into(con, sniff(tmp, name, check_size=False), name, None, table, utf8, True)
    finally:
        tmp.unlink(missing_ok=True)
    return got


def open_frame(df: pd.DataFrame, config: DuckDBConfig | None = None) -> RawTable:
    """Load an in-memory raw table (values may be text or typed) as text into a fresh connection."""
    con = connect(config)
    raw = df.copy()
    raw.columns = [str(c) for c in raw.columns]
    raw = raw.astype("string").astype(object).where(raw.notna(), None)
    con.register("_df", raw)
    con.execute("CREATE TABLE raw AS SELECT * FROM _df")
    con.unregister("_df")
    step_rows = max(len(raw) // SPREAD_ROWS, 1)
    return RawTable(con, list(raw.columns), raw.head(PREVIEW_ROWS), spread=raw.iloc[::step_rows].head(SPREAD_ROWS))


def spread_sample(con: duckdb.DuckDBPyConnection, info: FileInfo, columns: list[str], head: pd.DataFrame,
                  table: str = "raw") -> pd.DataFrame:
    """About :data:`SPREAD_ROWS` rows spread over the whole table, without reading the file into pandas.

    A big UTF-8 CSV stays on disk behind a view: its rows are read at evenly spaced byte offsets (a few KB each, no
    full scan). Anything else (small files, Excel, Parquet, transcoded or whitespace-aligned text) is sampled by
    DuckDB at evenly spaced row numbers.
    """
    if info.container == "folder":       # several files behind a view: one sampling scan
        spread = con.execute(f"SELECT * FROM {table} USING SAMPLE reservoir({SPREAD_ROWS} ROWS) REPEATABLE (0)").df()
        return pd.concat([head.head(200), spread], ignore_index=True)
    if _is_view(con, table) and info.container is None and info.path.stat().st_size > SMALL_FILE_BYTES:
        rows = _rows_at_offsets(info, len(columns))
        if len(rows) >= 50:
            body = pd.DataFrame(rows, columns=columns, dtype=object).replace("", None)
            return pd.concat([head.head(200), body], ignore_index=True)
        return head
    n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if n <= SPREAD_ROWS:
        return con.execute(f"SELECT * FROM {table}").df()
    every = n // SPREAD_ROWS
    return con.execute(f"SELECT * EXCLUDE (_i) FROM (SELECT *, row_number() OVER () AS _i FROM {table}) "
                       f"WHERE (_i - 1) % {every} = 0 LIMIT {SPREAD_ROWS}").df()


def _is_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0])


def _rows_at_offsets(info: FileInfo, width: int, chunks: int = 40, per_chunk: int = 50) -> list[list[str]]:
    """Rows read at ``chunks`` evenly spaced byte offsets of a text file (the partial first line of each is skipped;
    rows of another width, e.g. cut inside a quoted line break, are left out)."""
    size = info.path.stat().st_size
    rows: list[list[str]] = []
    with open(info.path, "rb") as fh:
        for k in range(1, chunks + 1):
            fh.seek(size * k // (chunks + 1))
            fh.readline()
            lines = [fh.readline().decode(info.encoding, errors="replace").rstrip("\r\n") for _ in range(per_chunk)]
            rows += [r for r in split_lines(lines, info.delimiter) if len(r) == width]
    return rows


def read_raw(path: str | Path, sheet: str | None = None, limit: int | None = None,
             filename: str | None = None) -> pd.DataFrame:
    """Read a file into a pandas DataFrame of text columns (handy for previews, tests and small files)."""
    return open_file(path, filename, sheet).frame(limit)


def load_raw(con: duckdb.DuckDBPyConnection, info: FileInfo, sheet: str | None = None, table: str = "raw",
             keep: bool = True) -> list[str]:
    """Load a sniffed file (CSV, JSON, Parquet, a workbook's ``sheet``), or the files of a folder or glob, into DuckDB
    table ``table`` with every column as text; return the column names. ``keep``: the file stays where it is, so a
    UTF-8 CSV may be read behind a view (False: an unpacked copy about to be removed; always a table).

    Raises
    ------
    DataError
        When the file cannot be parsed as a table, or has no data rows.
    """
    size = sum(f.stat().st_size for f in info.files) if info.files else info.path.stat().st_size
    with step("read", format=info.format, encoding=info.encoding, bytes=size, files=len(info.files) or 1) as log:
        cols = _load_raw(con, info, sheet, table, keep)
        log["columns"] = len(cols)
    return cols


def _load_raw(con: duckdb.DuckDBPyConnection, info: FileInfo, sheet: str | None, table: str, keep: bool) -> list[str]:
    if info.container == "folder":
        _load_many(con, info, table)
    elif info.format == "csv":
        _load_csv(con, info, table, keep)
    elif info.format == "json":
        _load_json(con, info, table)
    elif info.format == "parquet":
        _load_parquet(con, info, table)
    elif info.format == "excel":
        df = sheet_frame(info.path, sheet or first_data_sheet(info))
        con.register("_excel_df", df)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _excel_df")
        con.unregister("_excel_df")
    else:
        raise DataError(f"A {info.format} file is opened by open_file, not loaded directly.")
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    if info.format == "csv" and len(cols) == 1 and re.search(r"[:^~#/ ]\S", cols[0]):
        raise DataError(f"Only one column was found (header {cols[0][:60]!r}): the values seem to be separated by "
                        "another character. Save the file with commas, semicolons, tabs or | between values.")
    if not con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall():
        raise DataError("The file has a header but no data rows. Upload a file with at least one row of data.")
    return cols


def _load_csv(con: duckdb.DuckDBPyConnection, info: FileInfo, table: str, keep: bool = True) -> None:
    """A UTF-8 file stays on disk behind a view (one pass when cleaning); a transcoded copy (another encoding, or
    whitespace-aligned text rewritten with tabs) or an unpacked file is loaded into a table and removed."""
    src = utf8_copy(info)
    delim = "\t" if info.delimiter == WHITESPACE else info.delimiter
    what = "VIEW" if src == info.path and keep else "TABLE"
    try:
        read_csv_into(con, what, table, f"'{sql_string(src)}'", delim.replace("'", "''"), info.header)
    finally:
        if src != info.path:
            src.unlink(missing_ok=True)


def _load_json(con: duckdb.DuckDBPyConnection, info: FileInfo, table: str) -> None:
    src = utf8_copy(info)
    try:
        load_json(con, f"'{sql_string(src)}'", table)
    finally:
        if src != info.path:
            src.unlink(missing_ok=True)


#: files a folder of exports often holds beside the data, left out of a folder or glob
_NOT_DATA = re.compile(r"(?i)(^(readme|license|licence|changelog)\b.*|.*\.(md|pdf|png|jpe?g|gif|html?|xml|ya?ml|log|"
                       r"crc|py|sh|ini|toml))$")


def _many_info(location: str | Path) -> FileInfo:
    """What the files of a folder or glob are: one format (CSV, JSON or Parquet) read as one table, with the dialect
    of the first file. Files that are not data (README, images, checksums) are left out."""
    files = [f for f in list_files(location) if not _NOT_DATA.fullmatch(f.name)]
    if not files:
        raise DataError(f"{str(location)!r} holds no data files (only notes, images or checksums).")
    infos = [sniff(f, check_size=False) for f in files]
    formats = sorted({i.format for i in infos})
    if len(formats) > 1:
        first = {fmt: next(f.name for f, i in zip(files, infos) if i.format == fmt) for fmt in formats}
        raise DataError(f"{str(location)!r} mixes {' and '.join(f'{k} ({v})' for k, v in first.items())} files. "
                        "Name the files of one kind with a pattern, e.g. exports/*.csv.")
    if formats[0] not in ("csv", "json", "parquet"):
        raise DataError(f"{str(location)!r}: {formats[0]} files are read one at a time; folders and globs are read "
                        "when they hold CSV, JSON or Parquet files.")
    plain = all(i.encoding in ("utf-8", "utf-8-sig") and i.delimiter != WHITESPACE and i.container is None
                for i in infos)
    return replace(infos[0], path=Path(location), container="folder", files=tuple(files),
                   encoding=infos[0].encoding if plain else "mixed")


def _load_many(con: duckdb.DuckDBPyConnection, info: FileInfo, table: str) -> None:
    """The files of a folder or glob as one table, columns matched by name (``union_by_name``): plain UTF-8 CSV
    behind a view, Parquet (hive partitions as columns) and JSON in a table; compressed files, other encodings and
    whitespace-aligned text through plain UTF-8 copies loaded into a table and removed."""
    files = list(info.files)
    if info.format == "parquet":
        hive = any("=" in part for f in files for part in f.relative_to(info.path).parts[:-1]) \
            if info.path.is_dir() else False
        listed = _sql_list(files)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet({listed}, "
                        f"hive_partitioning = {str(hive).lower()}, union_by_name = true)")
        except duckdb.Error as e:
            raise DataError(f"The Parquet files could not be read ({str(e).splitlines()[0][:200]}).") from e
        _flatten_to_text(con, table)
        return
    copies: list[Path] = []
    try:
        if info.encoding == "mixed" or info.encoding not in ("utf-8", "utf-8-sig"):
            for f in files:
                copies.append(plain_copy(f))
            files, what = copies, "TABLE"
        else:
            what = "VIEW"
        listed = _sql_list(files)
        delim = "\t" if info.delimiter == WHITESPACE else info.delimiter
        if info.format == "json":
            load_json(con, listed, table)
        else:
            read_csv_into(con, what, table, listed, delim.replace("'", "''"), info.header, ", union_by_name=true")
    finally:
        for c in copies:
            c.unlink(missing_ok=True)


def _sql_list(files: list[Path]) -> str:
    return "[" + ", ".join(f"'{sql_string(f)}'" for f in files) + "]"


def _load_parquet(con: duckdb.DuckDBPyConnection, info: FileInfo, table: str) -> None:
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet(?)", [str(info.path)])
    except duckdb.Error as e:
        raise DataError(f"The Parquet file could not be read ({str(e).splitlines()[0][:200]}).") from e
    _flatten_to_text(con, table)


def _flatten_to_text(con: duckdb.DuckDBPyConnection, table: str) -> None:
    desc = con.execute(f"DESCRIBE {table}").fetchall()
    nested = [c for c, t, *_ in desc if any(k in t for k in ("STRUCT", "[]", "MAP", "UNION"))]
    exprs = ", ".join(
        f'CAST("{c}" AS VARCHAR) AS "{c}"' if c not in nested else f'to_json("{c}")::VARCHAR AS "{c}"'
        for c, *_ in desc
    )
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {exprs} FROM {table}")


