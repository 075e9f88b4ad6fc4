"""The one DuckDB connection factory and the small SQL helpers every DuckDB query in the project shares.

Every DuckDB connection in ``pipeline`` is opened by :func:`connect`, so memory is bounded (big files spill to a
temp folder instead of exhausting RAM) and the thread count is set in one place (:class:`pipeline.config.DuckDBConfig`).
Quoting of identifiers and string literals for SQL built from user data also lives here.
"""
from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import duckdb

from pipeline.config import DuckDBConfig

__all__ = ["connect", "shared", "scratch", "quote_ident", "sql_string"]

_SHARED: dict[DuckDBConfig, duckdb.DuckDBPyConnection] = {}
_SHARED_LOCK = threading.Lock()


def connect(config: DuckDBConfig | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with bounded memory, a spill folder and the configured threads.

    Parameters
    ----------
    config : connection settings; default :class:`pipeline.config.DuckDBConfig` (``SEGMENTS_DUCKDB_MEMORY``).
    """
    config = config or DuckDBConfig()
    settings: dict[str, object] = {
        "temp_directory": config.temp_directory or tempfile.gettempdir(),
        "memory_limit": config.memory_limit,
        "preserve_insertion_order": config.preserve_insertion_order,
    }
    if config.threads:
        settings["threads"] = int(config.threads)
    con = duckdb.connect(config=settings)
    con.execute("SET enable_progress_bar = false")
    return con


def shared(config: DuckDBConfig | None = None) -> duckdb.DuckDBPyConnection:
    """A cursor of one process-wide connection per ``config`` (default :func:`connect`'s): opening a connection
    costs ~20 ms, a cursor nothing. Frames registered and temp views created on a cursor are its own (other
    cursors, other threads, do not see them). Close it (or use it as a context manager) when done."""
    config = config or DuckDBConfig()
    with _SHARED_LOCK:
        if config not in _SHARED:
            _SHARED[config] = connect(config)
        return _SHARED[config].cursor()


def scratch() -> duckdb.DuckDBPyConnection:
    """A :func:`shared` cursor of a small connection (256 MB, one thread), for small queries over samples (a few
    thousand values)."""
    return shared(DuckDBConfig(memory_limit="256MB", threads=1))


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (any column name a file may have)."""
    return '"' + str(name).replace('"', '""') + '"'


def sql_string(value: str | Path) -> str:
    """``value`` escaped for use inside a single-quoted SQL string literal (without the quotes)."""
    return str(value).replace("'", "''")
