"""Read a sniffed file (CSV, Excel, Parquet) or an in-memory frame into a DuckDB table of text columns.

This is the one read path: :func:`open_file` (sniff, pick the sheet, load) and :func:`open_frame` return a
:class:`RawTable` that cleaning (:mod:`pipeline.ingest.clean`), the Upload page (via :mod:`pipeline.ingest.datasets`),
the CLI and the built-in samples all start from. Every column is read as text; typing is done later by cleaning
under rules it can report on. How each format is parsed (CSV fallbacks, transcoding, whitespace-aligned text, files
without a header row, Excel sheets through calamine, Parquet nesting), and the spread sample that content detection
reads, belong here; deciding *what* a file is belongs to :mod:`pipeline.ingest.sniff`.
"""
from __future__ import annotations

import functools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import DuckDBConfig
from pipeline.errors import DataError
from pipeline.ingest.db import connect, sql_string
from pipeline.ingest.sniff import WHITESPACE, FileInfo, sniff, split_lines
from pipeline.log import step

__all__ = ["RawTable", "open_file", "open_frame", "load_raw", "read_raw", "first_data_sheet", "spread_sample",
           "PREVIEW_ROWS", "SPREAD_ROWS"]

#: rows of the raw table kept as a pandas preview (the first rows of the file)
PREVIEW_ROWS = 1000
#: rows of the sample spread over the whole file that content detection (roles, dates, numbers) reads
SPREAD_ROWS = 2000
#: a CSV up to this size is sampled by DuckDB (a full scan is cheap); bigger ones at byte offsets
SMALL_FILE_BYTES = 8 << 20
_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class RawTable:
    """A file or frame loaded into DuckDB table ``table`` (all text), with its first :data:`PREVIEW_ROWS` rows
    (``sample``) and about :data:`SPREAD_ROWS` rows spread over the whole file (``spread``), both pandas text frames.

    ``info`` and ``sheet`` are None for an in-memory frame.
    """

    con: duckdb.DuckDBPyConnection
    columns: list[str]
    sample: pd.DataFrame
    info: FileInfo | None = None
    sheet: str | None = None
    table: str = "raw"
    spread: pd.DataFrame | None = None

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
        info = FileInfo(self.info.path, "csv", "cp1252", self.info.delimiter, header=self.info.header)
        object.__setattr__(self, "info", info)
        self.con.execute(f"DROP VIEW IF EXISTS {self.table}")
        load_raw(self.con, info, None, self.table)
        return fn()

    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.con.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def frame(self, limit: int | None = None) -> pd.DataFrame:
        """The raw table (or its first ``limit`` rows) as a pandas DataFrame of text columns."""
        q = f"SELECT * FROM {self.table}" + (f" LIMIT {int(limit)}" if limit else "")
        return self.con.execute(q).df()


def open_file(path: str | Path, filename: str | None = None, sheet: str | None = None,
              config: DuckDBConfig | None = None) -> RawTable:
    """Sniff and load a file into a fresh connection; an Excel file's first sheet with data unless ``sheet``."""
    con = connect(config)
    info = sniff(path, filename)
    sheet = sheet or first_data_sheet(info)
    columns = load_raw(con, info, sheet)
    head = con.execute(f"SELECT * FROM raw LIMIT {PREVIEW_ROWS}").df()
    raw = RawTable(con, columns, head, info, sheet)
    object.__setattr__(raw, "spread", raw.decoded(lambda: spread_sample(con, raw.info, columns, head)))
    return raw


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
    if _is_view(con, table) and info.path.stat().st_size > SMALL_FILE_BYTES:
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


def load_raw(con: duckdb.DuckDBPyConnection, info: FileInfo, sheet: str | None = None, table: str = "raw") -> list[str]:
    """Load a file into DuckDB table ``table`` with every column as text; return the column names.

    Raises
    ------
    DataError
        When the file cannot be parsed as a table, or has no data rows.
    """
    with step("read", format=info.format, encoding=info.encoding, bytes=info.path.stat().st_size) as log:
        cols = _load_raw(con, info, sheet, table)
        log["columns"] = len(cols)
    return cols


def _load_raw(con: duckdb.DuckDBPyConnection, info: FileInfo, sheet: str | None, table: str) -> list[str]:
    if info.format == "csv":
        _load_csv(con, info, table)
    elif info.format == "parquet":
        _load_parquet(con, info, table)
    else:
        df = _read_excel(info, sheet)
        con.register("_excel_df", df)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _excel_df")
        con.unregister("_excel_df")
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    if info.format == "csv" and len(cols) == 1 and re.search(r"[:^~#/ ]\S", cols[0]):
        raise DataError(f"Only one column was found (header {cols[0][:60]!r}): the values seem to be separated by "
                        "another character. Save the file with commas, semicolons, tabs or | between values.")
    if not con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall():
        raise DataError("The file has a header but no data rows. Upload a file with at least one row of data.")
    return cols


def _load_csv(con: duckdb.DuckDBPyConnection, info: FileInfo, table: str) -> None:
    """A UTF-8 file stays on disk behind a view (one pass when cleaning); a transcoded copy (another encoding, or
    whitespace-aligned text rewritten with tabs) is loaded into a table and removed."""
    src, delim = info.path, info.delimiter
    if info.delimiter == WHITESPACE:
        src, delim = _aligned_to_tsv(info.path, info.encoding), "\t"
    elif info.encoding not in ("utf-8", "utf-8-sig"):
        src = _transcode_to_utf8(info.path, info.encoding)
    what = "VIEW" if src == info.path else "TABLE"
    try:
        _read_csv(con, what, table, src, delim.replace("'", "''"), info.header)
    finally:
        if src != info.path:
            src.unlink(missing_ok=True)


def _transcode_to_utf8(path: Path, encoding: str) -> Path:
    out = Path(tempfile.mkstemp(suffix=".csv")[1])
    with open(path, encoding=encoding, errors="replace", newline="") as src, \
            open(out, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk.replace("\x00", ""))
    return out


def _aligned_to_tsv(path: Path, encoding: str) -> Path:
    """Whitespace-aligned text rewritten as a tab-separated UTF-8 copy (runs of spaces become one tab)."""
    out = Path(tempfile.mkstemp(suffix=".tsv")[1])
    with open(path, encoding=encoding, errors="replace", newline="") as src, \
            open(out, "w", encoding="utf-8", newline="\n") as dst:
        for line in src:
            if line.strip():
                dst.write("\t".join(line.split()) + "\n")
    return out


def _read_csv(con: duckdb.DuckDBPyConnection, what: str, table: str, src: Path, delim: str, header: bool) -> None:
    """Strict reading first; short rows padded with nulls next; then the single-threaded reader, which also copes
    with quoted line breaks together with short rows. Without a header row columns are named column_1, column_2…"""
    base = (f"read_csv('{sql_string(src)}', delim='{delim}', header={str(header).lower()}, all_varchar=true, "
            "quote='\"', escape='\"', strict_mode=false, max_line_size=20000000")
    error, empty = None, None
    for extra in ("", ", null_padding=true", ", null_padding=true, parallel=false"):
        try:
            _create(con, what, table, f"{base}{extra})", header)
            if con.execute(f"SELECT count(*) FROM (SELECT * FROM {table} LIMIT 20000)").fetchone()[0]:
                return
            empty = empty or extra
        except duckdb.Error as e:
            error = e
    if empty is not None:   # it parses, but has no data rows: load_raw says so
        _create(con, what, table, f"{base}{empty})", header)
        return
    raise DataError(f"The CSV could not be read ({str(error).splitlines()[0][:200]}). Check that it is a comma-, "
                    "semicolon-, tab- or pipe-separated table with one header row.") from error


def _create(con: duckdb.DuckDBPyConnection, what: str, table: str, source: str, header: bool) -> None:
    select = "*"
    if not header:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        select = ", ".join(f'"{n}" AS column_{i}' for i, n in enumerate(names, 1))
    con.execute(f"CREATE OR REPLACE {what} {table} AS SELECT {select} FROM {source}")


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


def first_data_sheet(info: FileInfo) -> str | None:
    """The first sheet of a workbook that holds data (None for other formats)."""
    if info.format != "excel":
        return None
    for s in info.sheets:
        if not _excel_sheet(info.path, info.path.stat().st_mtime_ns, s).dropna(how="all").empty:
            return s
    raise DataError("Every sheet of this Excel file is empty. Put the table on a sheet with a header row.")


@functools.lru_cache(maxsize=1)
def _excel_sheet(path: Path, mtime_ns: int, sheet: str) -> pd.DataFrame:
    """One sheet read by calamine (Rust; ~10x faster than openpyxl) as text: date cells become ISO text, whole
    numbers lose their ``.0``, empty cells are None. The first row is the header. Cached for the one file being read,
    so finding the data sheet costs no second read."""
    from python_calamine import CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except Exception as e:  # calamine raises its own error types for corrupt workbooks
        raise DataError(f"This Excel file could not be read ({type(e).__name__}). Re-save it as .xlsx or CSV.") from e
    while rows and all(v == "" or v is None for v in rows[0]):      # blank rows above the header
        rows = rows[1:]
    if not rows:
        return pd.DataFrame()
    width = max(len(r) for r in rows)
    header = [_cell_text(v) or f"column_{j + 1}" for j, v in enumerate(list(rows[0]) + [""] * (width - len(rows[0])))]
    body = rows[1:]
    cols = [_excel_column([r[j] if j < len(r) else None for r in body]) for j in range(width)]
    return pa.Table.from_arrays(cols, names=[str(j) for j in range(width)]).to_pandas().set_axis(header, axis=1)


def _excel_column(values: list) -> pa.Array:
    """One column of cells as Arrow text: a column of one type (numbers, dates) is converted in C by Arrow; a mixed
    column (``85123A`` beside ``71053``) cell by cell."""
    values = [None if v == "" else v for v in values]
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_cell_text(v) for v in values], type=pa.string())
    if pa.types.is_timestamp(arr.type):
        return pc.strftime(arr.cast(pa.timestamp("s"), safe=False), "%Y-%m-%d %H:%M:%S")
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    return pc.cast(arr, pa.string())


def _cell_text(v: object) -> str | None:
    """A calamine cell as text: ``''`` -> None, ``17850.0`` -> ``17850``, a datetime -> ``2010-12-01 08:26:00``."""
    t = type(v)
    if t is str:
        return v or None
    if t is float:
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if v is None:
        return None
    if t is bool or t is int:
        return str(v)
    if hasattr(v, "hour") and hasattr(v, "day"):
        return v.isoformat(sep=" ")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _read_excel(info: FileInfo, sheet: str | None) -> pd.DataFrame:
    sheet = sheet or first_data_sheet(info)
    if sheet not in info.sheets:
        raise DataError(f"Sheet {sheet!r} is not in this workbook; it has {', '.join(info.sheets)}.")
    df = _excel_sheet(info.path, info.path.stat().st_mtime_ns, sheet).copy()
    if df.dropna(how="all").empty or df.shape[1] == 0:
        raise DataError(f"Sheet {sheet!r} is empty. Pick the sheet that holds the table.")
    df.columns = _unique_names([str(c) for c in df.columns])
    return df


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}_{k}")
        seen[n] = k + 1
    return out
