"""The engine interface: where data is read and where the per-row SQL runs; the steps themselves are shared.

An :class:`Engine` knows how to open a :class:`Source` as a raw text table (with a small sample on the driver for
guessing the column mapping and the formats), how to write a table to a Parquet folder and how to map a pandas
function over a per-customer table in batches. The steps (cleaning with its report, RFM and segments, the
feature table, batch scoring) are written once, here and in the modules they call, over the connection the
engine's raw table carries: a DuckDB connection, or :class:`pipeline.engines.spark.SparkConnection`, which runs
the same SQL on Spark. No step asks which engine it runs on.
"""
from __future__ import annotations

import glob
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pipeline.config import CleaningOptions
from pipeline.errors import DataError
from pipeline.ingest.clean import CleaningReport, clean_raw_table, transactions_mapping
from pipeline.ingest.read import RawTable
from pipeline.ingest.sniff import FileInfo, sniff

__all__ = ["Source", "Engine"]

_PARQUET = (".parquet", ".parq", ".pq")


@dataclass(frozen=True)
class Source:
    """Where order lines come from: a ``path`` (file, folder or glob; CSV or Parquet, partitioned Parquet folders
    included), a catalog ``table`` (``table:db.orders``) or a ``jdbc`` table (``jdbc:postgresql://host/db#orders``;
    user and password from ``SEGMENTS_JDBC_USER`` / ``SEGMENTS_JDBC_PASSWORD``)."""

    kind: str
    location: str

    @classmethod
    def parse(cls, text: str | Path) -> Source:
        text = str(text)
        if text.startswith("table:"):
            return cls("table", text.removeprefix("table:"))
        if text.startswith("jdbc:"):
            if "#" not in text:
                raise DataError(f"JDBC source {text!r}: name the table after '#', e.g. "
                                "jdbc:postgresql://host/db#orders.")
            return cls("jdbc", text)
        return cls("path", text)

    @property
    def remote(self) -> bool:
        """A URI (``s3a://``, ``hdfs://``, ``abfss://``…) that only Spark lists and reads."""
        return "://" in self.location

    def files(self) -> list[str]:
        """The data files the path names (a folder: every file below it, partition folders included); a remote
        URI is passed to Spark as it is."""
        if self.remote:
            return [self.location]
        p = Path(self.location)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and not f.name.startswith(("_", ".")))
        else:
            found = sorted(f for f in glob.glob(self.location) if Path(f).is_file())
        if not found:
            raise DataError(f"{self.location!r}: no such file, folder or matching files.")
        return found

    def format(self, files: list[str] | None = None) -> str:
        """``parquet`` or ``csv`` (by the first file's name, else its content)."""
        first = (files or self.files())[0]
        if first.lower().endswith(_PARQUET) or (self.remote and ".csv" not in first.lower()):
            return "parquet"
        return "parquet" if sniff(first).format == "parquet" else "csv"

    def csv_info(self, files: list[str] | None = None) -> FileInfo:
        """Encoding, delimiter and header of the first file (every file of a folder is read alike)."""
        if self.remote:       # sniffing needs local bytes: a remote CSV folder is read as UTF-8, ',' with a header
            return FileInfo(Path(self.location), "csv")
        info = sniff((files or self.files())[0])
        if info.format != "csv":
            raise DataError(f"{self.location!r}: {info.format} files are read one at a time; use CSV or Parquet "
                            "for folders and globs.")
        return info

    def is_single_file(self) -> bool:
        return self.kind == "path" and Path(self.location).is_file()


class Engine(ABC):
    """Where the per-row work runs. Subclasses: :class:`pipeline.engines.duckdb.DuckDBEngine` (default) and
    :class:`pipeline.engines.spark.SparkEngine`."""

    name: str = ""

    @abstractmethod
    def open_source(self, source: Source) -> RawTable:
        """The source as raw table ``raw`` (every column text) on this engine, with driver-side samples."""

    @abstractmethod
    def write_parquet(self, con: Any, table: str, out: str | Path) -> Path:
        """Write table/view ``table`` to the Parquet folder ``out`` (replaced)."""

    @abstractmethod
    def map_batches(self, con: Any, table: str, fn: Callable[[pd.DataFrame], pd.DataFrame], schema: str) -> Any:
        """``fn`` over the rows of ``table`` in pandas batches; a frame of this engine with columns ``schema``."""

    @abstractmethod
    def write_frame(self, frame: Any, out: str | Path) -> Path:
        """Write a frame returned by :meth:`map_batches` to the Parquet folder ``out``."""

    @abstractmethod
    def to_pandas(self, frame: Any) -> pd.DataFrame:
        """A (small, per-customer) frame of this engine on the driver."""

    def clean(self, source: str | Path | Source, options: CleaningOptions = CleaningOptions(),
              mapping: dict[str, str | None] | None = None, lines: bool = True) -> tuple[Any, CleaningReport]:
        """Read and clean ``source`` into views ``tx``, ``tx_keys`` and ``tx_returns`` on this engine; (connection,
        report). The one entry point for cleaning that keeps the lines on an engine (the CLI's default is this on
        DuckDB). The mapping is guessed on the driver from the sample when not given; a customer table is refused
        (:func:`pipeline.ingest.clean.transactions_mapping`). ``lines=False``: only the report, ``tx_keys`` and
        ``tx_customers`` will be read (see :mod:`pipeline.ingest.lines`)."""
        raw = self.open_source(source if isinstance(source, Source) else Source.parse(source))
        m, guess = transactions_mapping(raw, mapping)
        return raw.con, clean_raw_table(raw, m, options, guess, lines)
