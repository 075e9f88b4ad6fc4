"""Clean on an engine, hold the result in memory: what the app and the service need from Spark.

The app's pages and the service's cards read the cleaned order lines as pandas frames on one machine. With an
engine other than the default one-file DuckDB read, the engine reads and cleans the source (a file, a folder or
glob of CSV or Parquet files, ``table:NAME``, ``jdbc:URL#TABLE``), its workers write the canonical ``tx`` and
``tx_returns`` to Parquet folders in a staging folder, and the driver reads those folders back with DuckDB into
the frames :func:`pipeline.ingest.fetch_transactions` gives (same columns, types and order); the staging folder
is then removed. No order line is collected through the engine's driver connection.

The staging folder is a fresh temporary folder under ``SEGMENTS_STAGING_DIR`` (default the system's temporary
folder). On a cluster it must be a folder that the executors write to and this machine reads (a shared mount).
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from pipeline.config import TX_COLUMNS, CleaningOptions
from pipeline.engines.base import Engine, Source
from pipeline.errors import DataError
from pipeline.ingest.clean import CleanResult, clean_raw_table, fetch_transactions
from pipeline.ingest.db import connect, sql_string
from pipeline.ingest.mapping import MappingGuess, validate_mapping
from pipeline.ingest.read import RawTable

__all__ = ["ENGINE_LABELS", "STAGING_ENV", "engine_source", "clean_to_frames", "read_parquet_transactions",
           "staging_folder", "frames_fingerprint"]

#: engine name -> how the cleaning report names it
ENGINE_LABELS = {"duckdb": "DuckDB", "spark": "Apache Spark"}
#: environment variable naming the folder where the engine writes the cleaned lines for the driver to read
STAGING_ENV = "SEGMENTS_STAGING_DIR"

#: the canonical columns and their SQL types, so that both engines write the same Parquet schema
_TYPES = {"customer_id": "VARCHAR", "invoice_id": "VARCHAR", "date": "TIMESTAMP", "quantity": "DOUBLE",
          "unit_price": "DOUBLE", "amount": "DOUBLE", "product_id": "VARCHAR", "product_name": "VARCHAR",
          "category": "VARCHAR", "country": "VARCHAR"}


def engine_source(text: str | Path) -> Source | None:
    """``text`` as a source only an engine read handles — a folder, a glob matching files, ``table:``, ``jdbc:``
    or a remote URI — else None (a single file, or nothing that exists)."""
    source = Source.parse(text)
    if source.kind != "path" or source.remote:
        return source
    if Path(source.location).is_file():
        return None
    try:
        source.files()
    except DataError:
        return None
    return source


def clean_to_frames(engine: Engine, raw: RawTable, mapping: dict[str, str | None], guess: MappingGuess,
                    options: CleaningOptions = CleaningOptions(), staging: str | Path | None = None) -> CleanResult:
    """Clean ``raw`` (opened by ``engine.open_source``) on ``engine`` into pandas transactions and returns.

    Parameters
    ----------
    engine : where the cleaning runs; its workers write ``tx`` and ``tx_returns`` to Parquet.
    raw : the raw text table on that engine, with its driver-side samples.
    mapping : column roles; ``guess`` (the proposed mapping) supplies the reasons recorded in the report.
    staging : parent folder of the temporary Parquet folders; default ``SEGMENTS_STAGING_DIR``, else the system's
        temporary folder. The folders are removed once read.

    Returns
    -------
    CleanResult with the frames :func:`~pipeline.ingest.fetch_transactions` returns on DuckDB, the engine's report
    and the full mapping.
    """
    report = clean_raw_table(raw, mapping, options, guess)
    frames = {}
    with staging_folder(staging) as folder:
        for table in ("tx", "tx_returns"):
            typed = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in _TYPES.items())
            raw.con.execute(f"CREATE OR REPLACE TEMP VIEW _out_{table} AS SELECT {typed} FROM {table}")
            frames[table] = read_parquet_transactions(engine.write_parquet(raw.con, f"_out_{table}", folder / table))
    return CleanResult(frames["tx"], frames["tx_returns"], report, validate_mapping(mapping, raw.columns))


def read_parquet_transactions(folder: str | Path) -> pd.DataFrame:
    """The canonical lines of a Parquet folder (``part-*.parquet`` files) as a typed pandas frame in the order of
    :func:`~pipeline.ingest.fetch_transactions`."""
    files = sorted(glob.glob(str(Path(folder) / "**" / "*.parquet"), recursive=True))
    con = connect()
    try:
        if files:
            listed = "[" + ", ".join(f"'{sql_string(f)}'" for f in files) + "]"
            con.execute(f"CREATE VIEW lines AS SELECT * FROM read_parquet({listed})")
        else:   # an engine that writes no file for an empty table
            con.execute("CREATE TABLE lines (" + ", ".join(f"{c} {t}" for c, t in _TYPES.items()) + ")")
        return fetch_transactions(con, "lines")
    finally:
        con.close()


@contextmanager
def staging_folder(parent: str | Path | None = None) -> Iterator[Path]:
    """A fresh folder for the engine's Parquet output (under ``parent``, else ``SEGMENTS_STAGING_DIR``, else the
    system's temporary folder), removed on exit."""
    parent = parent or os.environ.get(STAGING_ENV) or None
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="segments-stage-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def frames_fingerprint(*frames: pd.DataFrame | None) -> str:
    """A hash of frames' contents, independent of the row order (for ids of sources without one file to hash)."""
    parts = []
    for f in frames:
        if f is None:
            parts.append("-")
            continue
        cols = [c for c in TX_COLUMNS if c in f.columns] or list(f.columns)
        rows = pd.util.hash_pandas_object(f[cols], index=False)
        parts.append(f"{len(f)}:{int(rows.to_numpy().sum(dtype='uint64')):x}")   # wraps around: fine
    return "|".join(parts)
