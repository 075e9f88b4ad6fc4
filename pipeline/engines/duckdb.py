"""The DuckDB engine (the default): one machine, embedded, fast.

A file, a folder or a glob goes through the one read path of :mod:`pipeline.ingest.read` (sniffing, encodings,
compression, archives, Excel, JSON; folders and globs of CSV, JSON or Parquet files read as one table, hive-partitioned
Parquet included). Parquet outputs are folders, as Spark writes them.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import duckdb
import pandas as pd

from pipeline.engines.base import Engine, Source
from pipeline.errors import DataError
from pipeline.ingest.db import sql_string
from pipeline.ingest.read import RawTable, open_file

__all__ = ["DuckDBEngine"]


class DuckDBEngine(Engine):
    """Cleaning, RFM, features and scoring in an embedded DuckDB connection."""

    name = "duckdb"

    def open_source(self, source: Source) -> RawTable:
        if source.kind != "path":
            raise DataError(f"The DuckDB engine reads files, folders and globs; {source.kind} sources need "
                            "--engine spark.")
        return open_file(source.location)     # a file, a folder or a glob: the one read path

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
