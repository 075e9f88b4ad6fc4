"""Read a sniffed file (CSV, Excel, Parquet) or an in-memory frame into a DuckDB table of text columns.

This is the one read path: :func:`open_file` (sniff, pick the sheet, load) and :func:`open_frame` return a
:class:`RawTable` that cleaning (:mod:`pipeline.ingest.clean`), the Upload page (via :mod:`pipeline.ingest.datasets`),
the CLI and the built-in samples all start from. Every column is read as text; typing is done later by cleaning
under rules it can report on. How each format is parsed (CSV fallbacks, transcoding, Excel sheets, Parquet nesting)
belongs here; deciding *what* a file is belongs to :mod:`pipeline.ingest.sniff`.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.config import DuckDBConfig
from pipeline.errors import DataError
from pipeline.ingest.db import connect, sql_string
from pipeline.ingest.sniff import FileInfo, sniff
from pipeline.log import step

__all__ = ["RawTable", "open_file", "open_frame", "load_raw", "read_raw", "first_data_sheet", "PREVIEW_ROWS"]

#: rows of the raw table kept as a pandas sample for guessing the mapping, the kind and number formats
PREVIEW_ROWS = 1000


@dataclass(frozen=True, eq=False)
class RawTable:
    """A file or frame loaded into DuckDB table ``table`` (all text), with its first :data:`PREVIEW_ROWS` rows.

    ``info`` and ``sheet`` are None for an in-memory frame.
    """

    con: duckdb.DuckDBPyConnection
    columns: list[str]
    sample: pd.DataFrame
    info: FileInfo | None = None
    sheet: str | None = None
    table: str = "raw"

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
    return RawTable(con, columns, con.execute(f"SELECT * FROM raw LIMIT {PREVIEW_ROWS}").df(), info, sheet)


def open_frame(df: pd.DataFrame, config: DuckDBConfig | None = None) -> RawTable:
    """Load an in-memory raw table (values may be text or typed) as text into a fresh connection."""
    con = connect(config)
    raw = df.copy()
    raw.columns = [str(c) for c in raw.columns]
    raw = raw.astype("string").astype(object).where(raw.notna(), None)
    con.register("_df", raw)
    con.execute("CREATE TABLE raw AS SELECT * FROM _df")
    return RawTable(con, list(raw.columns), raw.head(PREVIEW_ROWS))


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
    """A UTF-8 file stays on disk behind a view (one pass when cleaning); a transcoded copy is loaded and removed."""
    src = info.path
    if info.encoding not in ("utf-8", "utf-8-sig"):
        src = _transcode_to_utf8(info.path, info.encoding)
    what = "VIEW" if src == info.path else "TABLE"
    delim = info.delimiter.replace("'", "''")
    try:
        _read_csv(con, what, table, src, delim)
    finally:
        if src != info.path:
            src.unlink(missing_ok=True)


def _transcode_to_utf8(path: Path, encoding: str) -> Path:
    out = Path(tempfile.mkstemp(suffix=".csv")[1])
    with open(path, encoding=encoding, errors="replace", newline="") as src, \
            open(out, "w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return out


def _read_csv(con: duckdb.DuckDBPyConnection, what: str, table: str, src: Path, delim: str) -> None:
    """Strict reading first; short rows padded with nulls next; then the single-threaded reader, which also copes
    with quoted line breaks together with short rows."""
    base = (f"read_csv('{sql_string(src)}', delim='{delim}', header=true, all_varchar=true, quote='\"', escape='\"', "
            "strict_mode=false, max_line_size=20000000")
    error, empty = None, None
    for extra in ("", ", null_padding=true", ", null_padding=true, parallel=false"):
        try:
            con.execute(f"CREATE OR REPLACE {what} {table} AS SELECT * FROM {base}{extra})")
            if con.execute(f"SELECT count(*) FROM (SELECT * FROM {table} LIMIT 100000)").fetchone()[0]:
                return
            empty = empty or extra
        except duckdb.Error as e:
            error = e
    if empty is not None:   # it parses, but has no data rows: load_raw says so
        con.execute(f"CREATE OR REPLACE {what} {table} AS SELECT * FROM {base}{empty})")
        return
    raise DataError(f"The CSV could not be read ({str(error).splitlines()[0][:200]}). Check that it is a comma-, "
                    "semicolon-, tab- or pipe-separated table with one header row.") from error


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
        if not pd.read_excel(info.path, sheet_name=s, dtype=str, nrows=5).dropna(how="all").empty:
            return s
    raise DataError("Every sheet of this Excel file is empty. Put the table on a sheet with a header row.")


def _read_excel(info: FileInfo, sheet: str | None) -> pd.DataFrame:
    sheet = sheet or first_data_sheet(info)
    if sheet not in info.sheets:
        raise DataError(f"Sheet {sheet!r} is not in this workbook; it has {', '.join(info.sheets)}.")
    df = pd.read_excel(info.path, sheet_name=sheet, dtype=str)
    if df.dropna(how="all").empty or df.shape[1] == 0:
        raise DataError(f"Sheet {sheet!r} is empty. Pick the sheet that holds the table.")
    df.columns = _unique_names([str(c) for c in df.columns])
    return df.astype(object).where(df.notna(), None)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}_{k}")
        seen[n] = k + 1
    return out
