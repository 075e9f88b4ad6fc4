"""The DuckDB engine (the default): one machine, embedded, fast.

A single file goes through the one read path of :mod:`pipeline.ingest.read` (sniffing, encodings, Excel, …);
folders and globs of CSV or Parquet files (hive-partitioned Parquet included) are read by DuckDB behind a view of
text columns, sampled on the way. Parquet outputs are folders, as Spark writes them.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import duckdb
import pandas as pd

from pipeline.engines.base import Engine, Source
from pipeline.errors import DataError
from pipeline.ingest.db import connect, quote_ident, sql_string
from pipeline.ingest.read import PREVIEW_ROWS, SPREAD_ROWS, RawTable, open_file

__all__ = ["DuckDBEngine"]


class DuckDBEngine(Engine):
    """Cleaning, RFM, features and scoring in an embedded DuckDB connection."""

    name = "duckdb"

    def open_source(self, source: Source) -> RawTable:
        if source.kind != "path":
            raise DataError(f"The DuckDB engine reads files, folders and globs; {source.kind} sources need "
                            "--engine spark.")
        if source.is_single_file():
            return open_file(source.location)
        files = source.files()
        con = connect()
        listed = "[" + ", ".join(f"'{sql_string(f)}'" for f in files) + "]"
        if source.format(files) == "parquet":
            reader = f"read_parquet({listed}, hive_partitioning = true, union_by_name = true)"
        else:
            info = source.csv_info(files)
            reader = (f"read_csv({listed}, all_varchar = true, header = {str(info.header).lower()}, "
                      f"delim = '{sql_string(info.delimiter)}', union_by_name = true)")
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
        text = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns)
        con.execute(f"CREATE VIEW raw AS SELECT {text} FROM {reader}")
        head = con.execute(f"SELECT * FROM raw LIMIT {PREVIEW_ROWS}").df()
        spread = con.execute(f"SELECT * FROM raw USING SAMPLE reservoir({SPREAD_ROWS} ROWS) REPEATABLE (0)").df()
        if head.empty:
            raise DataError(f"{source.location!r} has no data rows.")
        return RawTable(con, columns, head, spread=pd.concat([head.head(200), spread], ignore_index=True))

    def write_parquet(self, con: duckdb.DuckDBPyConnection, table: str, out: str | Path) -> Path:
        out = _fresh(out)
        con.execute(f"COPY (SELECT * FROM {table}) TO '{sql_string(out)}' (FORMAT parquet, PER_THREAD_OUTPUT true)")
        return out

    def map_batches(self, con: duckdb.DuckDBPyConnection, table: str, fn: Callable[[pd.DataFrame], pd.DataFrame],
                    schema: str) -> pd.DataFrame:
        return fn(con.execute(f"SELECT * FROM {table}").df())

    def write_frame(self, frame: pd.DataFrame, out: str | Path) -> Path:
        out = _fresh(out)
        out.mkdir(parents=True)
        frame.to_parquet(out / "part-0.parquet", index=False)
        return out

    def to_pandas(self, frame: Any) -> pd.DataFrame:
        return frame


def _fresh(out: str | Path) -> Path:
    """``out`` as an empty place for a Parquet folder (an old folder is replaced)."""
    out = Path(out)
    if out.is_dir():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out
