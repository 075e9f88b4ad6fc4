"""Engines for the data layer: DuckDB (default, one machine) or Apache Spark (local or a cluster).

The transformations (cleaning with its report, RFM and segments, the per-customer feature table, batch scoring)
are written once; an engine decides where they run. Choose it at the edge: ``--engine spark`` on the CLI, or
``SEGMENTS_ENGINE=spark`` in the environment of the service and the app. See ``docs/SCALING.md``.
"""
from __future__ import annotations

import os

from pipeline.engines.base import Engine, Source
from pipeline.errors import DataError

__all__ = ["ENGINES", "Engine", "Source", "engine_name", "get_engine"]

#: engine name -> "module:class", imported on demand (PySpark only when Spark is chosen)
ENGINES = {"duckdb": "pipeline.engines.duckdb:DuckDBEngine", "spark": "pipeline.engines.spark:SparkEngine"}


def engine_name(name: str | None = None) -> str:
    """``name``, else ``SEGMENTS_ENGINE``, else ``duckdb``; checked against :data:`ENGINES`."""
    chosen = (name or os.environ.get("SEGMENTS_ENGINE") or "duckdb").strip().lower()
    if chosen not in ENGINES:
        raise DataError(f"Unknown engine {chosen!r}; choose one of {', '.join(ENGINES)} (SEGMENTS_ENGINE).")
    return chosen


def get_engine(name: str | None = None) -> Engine:
    """A new engine by name (see :func:`engine_name`)."""
    from importlib import import_module

    module, cls = ENGINES[engine_name(name)].split(":")
    return getattr(import_module(module), cls)()
