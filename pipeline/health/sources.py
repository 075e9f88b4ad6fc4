"""Where a dataset comes from, so it can be read again: a file path, or a database query.

A :class:`Source` is stored in the dataset's ``extra["source"]``. A query source holds the SQL and the *name* of the
environment variable or ``.streamlit/secrets.toml`` entry that holds the SQLAlchemy URL (any dialect; ``postgresql://``
uses psycopg 3) - never the URL itself, so no workspace file or log line ever contains credentials; error messages
are scrubbed of the URL too. Queries run in a read-only transaction (PostgreSQL ``SET TRANSACTION READ ONLY``,
SQLite ``query_only``). Reading goes through :mod:`pipeline.ingest` (the same mapping and cleaning rules as an
upload); a source that is gone is one clear :class:`DataError`.
"""
from __future__ import annotations

import os
import re
import tempfile
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.config import ROOT, CleaningOptions
from pipeline.errors import DataError
from pipeline.store import Dataset, content_hash

__all__ = ["Source", "SECRETS_FILE", "make_engine", "resolve_url", "scrub", "read_source", "source_dataset"]

#: Streamlit's secrets file; ``[connections.NAME] url = "..."`` or a top-level ``NAME = "..."``.
SECRETS_FILE = ROOT / ".streamlit" / "secrets.toml"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Source:
    """``kind`` ``"file"`` (``path``: a file, a folder or glob of CSV or Parquet files, or with
    ``SEGMENTS_ENGINE=spark`` a ``table:`` / ``jdbc:`` source; optional ``sheet``) or ``"query"`` (``query``,
    ``url_secret``: the name of the env variable / secret with the URL); ``mapping``: column roles (None: guessed)."""

    kind: str
    path: str | None = None
    sheet: str | None = None
    query: str | None = None
    url_secret: str | None = None
    mapping: dict[str, str | None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind == "file":
            if not self.path:
                raise DataError("source: a file source needs a path.")
        elif self.kind == "query":
            if not (self.query or "").strip():
                raise DataError("source: a database source needs a SQL query, e.g. SELECT * FROM orders.")
            if "://" in (self.url_secret or "") or not _NAME.match(self.url_secret or ""):
                raise DataError("source: give the NAME of an environment variable or .streamlit/secrets.toml entry "
                                "that holds the database URL (e.g. SALES_DB), not the URL itself: the URL is never "
                                "stored with the dataset.")
        else:
            raise DataError(f"source: unknown kind {self.kind!r}; use 'file' or 'query'.")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, doc: Any) -> Source | None:
        return cls(**{k: doc.get(k) for k in ("kind", "path", "sheet", "query", "url_secret", "mapping")}) \
            if isinstance(doc, dict) and doc.get("kind") else None

    def describe(self) -> str:
        return f"file {self.path}" if self.kind == "file" else f"query on ${self.url_secret}"


def make_engine(url: str):
    """A SQLAlchemy engine for ``url``; a bare ``postgresql://`` URL uses psycopg 3."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url)
    except ArgumentError as exc:
        raise DataError("source: the database URL is not a valid SQLAlchemy URL (e.g. "
                        "postgresql://user:password@host:5432/db).") from exc
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True)


def resolve_url(name: str, secrets_file: Path = SECRETS_FILE) -> str:
    """The URL held by environment variable ``name``, else by ``secrets.toml`` (``[connections.name] url`` or
    top-level ``name``). DataError naming where it was looked for (never showing a value)."""
    if os.environ.get(name):
        return os.environ[name]
    try:
        secrets = tomllib.loads(Path(secrets_file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        secrets = {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DataError(f"source: {secrets_file} could not be read ({type(exc).__name__}).") from exc
    conn = (secrets.get("connections") or {}).get(name)
    value = conn.get("url") if isinstance(conn, dict) else secrets.get(name)
    if not isinstance(value, str) or not value:
        raise DataError(f"source: no database URL named {name!r}: set the environment variable {name} or add "
                        f"[connections.{name}] url = \"...\" to .streamlit/secrets.toml.")
    return value


def scrub(text: str, url: str) -> str:
    """``text`` without the URL, its password or its user@host part."""
    from sqlalchemy.engine import make_url

    out = text.replace(url, "<database URL>")
    try:
        u = make_url(url)
    except Exception:
        return out
    for secret in (u.password, u.render_as_string(hide_password=False)):
        if secret:
            out = out.replace(str(secret), "***")
    return out


def _read_query(source: Source, folder: Path) -> pd.DataFrame | Path:
    """The query's rows: on PostgreSQL streamed by ``COPY (query) TO STDOUT`` into a CSV file in ``folder`` (read by
    DuckDB like an upload: several times faster than a DataFrame of 500k text rows); elsewhere a DataFrame."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    url = resolve_url(source.url_secret or "")
    engine = None
    try:
        engine = make_engine(url)
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            return _copy_csv(engine, (source.query or "").strip().rstrip(";"), folder / "query.csv")
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
            return pd.read_sql_query(text(source.query), conn)
    except Exception as exc:  # noqa: BLE001 - any driver error: one scrubbed line (the URL never shows)
        if isinstance(exc, DataError):
            raise
        root = exc.__cause__ if isinstance(exc.__cause__, SQLAlchemyError) else exc
        detail = (str(getattr(root, "orig", None) or root).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"source: the query on ${source.url_secret} failed: {scrub(detail, url)}") from None
    finally:
        if engine is not None:
            engine.dispose()


def _copy_csv(engine, query: str, path: Path) -> Path:
    """Stream a read-only ``COPY (query) TO STDOUT (csv, header)`` into ``path``."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, open(path, "wb") as out:
            cur.execute("SET TRANSACTION READ ONLY")
            with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for chunk in copy:
                    out.write(chunk)
        raw.rollback()
    finally:
        raw.close()
    return path


def read_source(source: Source, options: CleaningOptions = CleaningOptions()) -> Dataset:
    """Read and clean a source into a Dataset (id and name still to be set). DataError when it is gone."""
    from pipeline.ingest import build_dataset, clean_file, clean_frame

    if source.kind == "file":
        from pipeline.engines.load import engine_source

        path = Path(source.path or "")
        if not path.is_file() and engine_source(source.path or "") is None:
            raise DataError(f"source: the file {str(path)!r} no longer exists (moved or deleted); nothing was changed.")
        # a file; or a folder, glob or table (on SEGMENTS_ENGINE: Spark reads lakes and catalog tables)
        where = path if path.is_file() else str(source.path)
        return build_dataset(where, path.name, source.mapping, "transactions", options, source.sheet)
    with tempfile.TemporaryDirectory() as folder:
        raw = _read_query(source, Path(folder))
        empty = raw.stat().st_size == 0 or _lines(raw) < 2 if isinstance(raw, Path) else raw.empty
        if empty:
            raise DataError(f"source: the query on ${source.url_secret} returned no rows; nothing was changed.")
        result = clean_file(raw, source.mapping, options, filename="query.csv") if isinstance(raw, Path) else \
            clean_frame(raw, source.mapping, options)
    return Dataset("", "", "transactions", transactions=result.transactions, returns=result.returns,
                   mapping=result.mapping, report=result.report.to_dict(),
                   extra={"format": "database", "rows_read": int(result.report.rows_in)})


def _lines(path: Path, most: int = 2) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _, _ in zip(range(most), fh))


def source_dataset(source: Source, name: str, dataset_id: str | None = None,
                   options: CleaningOptions = CleaningOptions()) -> Dataset:
    """Read a source into a named Dataset that remembers it (``extra["source"]``); not saved yet."""
    name = (name or "").strip()
    if not name:
        raise DataError("source: give the dataset a name.")
    ds = read_source(source, options)
    remembered = Source(**{**asdict(source), "mapping": ds.mapping or source.mapping})
    ds.id = dataset_id or "src-" + content_hash(f"{name}|{source.describe()}|{source.query or ''}".encode())
    ds.name = name
    ds.extra = dict(ds.extra) | {"source": remembered.to_dict(), "filename": name,
                                 "options": options.__dict__}
    return ds
