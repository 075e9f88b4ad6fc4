"""Helpers shared by the command modules of ``python -m pipeline``: JSON output (:func:`print_json`), reading and
cleaning a file the way every command does (:func:`load_clean` and :func:`clean_on_engine` on ``--engine``, DuckDB by
default; :func:`transactions`, :func:`dataset`), the currency of a result (:func:`connection_currency`, :func:`dataset_currency`), comma-separated
option values (:func:`columns`, :func:`model_list`) and :func:`file_cmd`, which adds a subcommand taking a FILE and
``--dayfirst``. Everything heavy is imported inside the functions, so building the parser stays light.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

from pipeline.errors import DataError

__all__ = ["print_json", "load_clean", "clean_on_engine", "transactions", "dataset", "connection_currency", "dataset_currency",
           "columns", "model_list", "file_cmd", "json_flag", "require_input"]


def print_json(obj) -> None:
    """Print ``obj`` as indented JSON on stdout (anything not JSON-native as its ``str``)."""
    print(json.dumps(obj, indent=2, default=str))


def load_clean(path: str, dayfirst: bool | None = None, engine: str | None = None, lines: bool = True):
    """(connection, report) of ``path`` read and cleaned on ``engine`` (see :func:`clean_on_engine`); the
    connection holds ``tx``, ``tx_keys`` and ``tx_returns``."""
    return clean_on_engine(path, dayfirst, engine, lines)[1:]


def clean_on_engine(path: str, dayfirst: bool | None = None, engine: str | None = None, lines: bool = True):
    """(engine, connection, report): ``path`` cleaned by :meth:`pipeline.engines.base.Engine.clean` on ``engine``
    (``--engine``, else ``SEGMENTS_ENGINE``, else DuckDB), the one cleaning entry point, so the default and
    ``--engine duckdb`` are the same run (a customer table is refused alike). ``lines=False``: only the report and
    ``tx_keys`` will be read (see :mod:`pipeline.ingest.lines`)."""
    from pipeline.config import CleaningOptions
    from pipeline.engines import Source, get_engine

    chosen = get_engine(engine)
    source = Source.parse(path)
    if source.kind == "path" and not source.remote:     # refused here in one line, on every engine alike
        require_input(path)
    con, report = chosen.clean(source, CleaningOptions(dayfirst=dayfirst), lines=lines)
    return chosen, con, report


def require_input(path: str) -> None:
    """DataError unless ``path`` names a file (``FILE#SHEET`` too), a folder or a glob of files."""
    from pipeline.ingest.read import is_many, split_selector

    if not Path(split_selector(path)[0]).is_file() and not is_many(path):
        raise DataError(f"File {path!r} does not exist.")


def transactions(path: str, dayfirst: bool | None = None):
    """Cleaned (transactions, returns) DataFrames of a file."""
    from pipeline.ingest import fetch_transactions

    con, _ = load_clean(path, dayfirst)
    return fetch_transactions(con, "tx"), fetch_transactions(con, "tx_returns")


def dataset(path: str, dayfirst: bool | None = None, engine: str | None = None):
    """A file as a Dataset (transactions or customer table, detected as on the Upload page), read and cleaned on
    ``engine`` (default ``SEGMENTS_ENGINE``, else DuckDB); a folder, glob, ``table:`` or ``jdbc:`` source too."""
    from pipeline.config import CleaningOptions
    from pipeline.engines.load import engine_source
    from pipeline.ingest import build_dataset

    if engine_source(path) is None:
        require_input(path)
    return build_dataset(path, Path(path).name, options=CleaningOptions(dayfirst=dayfirst), engine=engine)


def connection_currency(con, report) -> str | None:
    """The currency of cleaned transactions in DuckDB (``tx``), guessed from the country column; None when spend
    is counted in items (a basket log)."""
    from pipeline.currency import guess_currency

    if getattr(report, "monetary_unit", "currency") == "items":
        return None
    counts = con.execute("SELECT country, count(*) AS n FROM tx_keys WHERE country IS NOT NULL GROUP BY 1").df()
    return guess_currency(country_counts=counts.set_index("country")["n"]).code


def dataset_currency(ds) -> str | None:
    """The currency a Dataset's money figures are in (None for item-counted basket logs and customer tables)."""
    from pipeline.currency import dataset_currency as currency_of

    countries = ds.transactions["country"] if ds.transactions is not None else None
    return currency_of(ds.kind, ds.report, ds.extra, countries)


def columns(value: str | None) -> list[str] | None:
    """The items of a comma-separated option (blanks dropped); None when the option is not given."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def model_list(value: str | None) -> list[str]:
    """``--models``: comma-separated registry keys, ``all``, or (default) the fast ones."""
    from pipeline.models import REGISTRY

    trainable = [k for k, spec in REGISTRY.items() if not spec.baseline]
    if not value:
        return [k for k in trainable if REGISTRY[k].fast]
    return trainable if value.strip() == "all" else [v.strip() for v in value.split(",") if v.strip()]


def json_flag(p: argparse.ArgumentParser) -> None:
    """``--json``: accepted on every JSON-printing command for symmetry (JSON is the default)."""
    p.add_argument("--json", action="store_true", help="JSON output (the default; accepted for symmetry)")


def file_cmd(sub, name: str, help: str, func: Callable) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` taking a FILE argument and ``--dayfirst``, run by ``func``."""
    p = sub.add_parser(name, help=help)
    p.add_argument("file", help="CSV, JSON, Excel or Parquet file (also .gz, .bz2, .zst, .zip), or a folder or glob "
                                "of files with one header")
    p.add_argument("--dayfirst", action="store_true", default=None, help="read ambiguous dates as day-first")
    p.add_argument("--sheet", help="the workbook sheet or the zip archive's file to read (default: the one that reads "
                                   "as transactions, then as a customer table); same as FILE#SHEET")
    p.set_defaults(func=func)
    return p
