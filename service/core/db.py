"""One SQLAlchemy engine per process, the same code on SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before the 2xx is sent) and a 30 s busy
timeout. Read transactions are plain deferred ``BEGIN`` (WAL readers never block); write transactions are opened
with :func:`write_session`, which starts them as ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of
failing when a read lock is upgraded. PostgreSQL runs at READ COMMITTED: the conditional ``UPDATE`` that enforces
a budget re-reads the row after waiting for its lock, and unique constraints make concurrent inserts of the same
key fail for all but one.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "session_factory", "write_session", "is_sqlite"]

_IMMEDIATE = "segments_sqlite_immediate"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``; a bare ``postgresql://`` uses
    psycopg 3)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_size=16, max_overflow=16, pool_timeout=2, pool_pre_ping=True)
    engine = create_engine(u, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20,
                           max_overflow=20)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None           # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        for _ in range(300):                        # switching to WAL needs a moment alone with a new file
            try:
                cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.1)
        for pragma in ("synchronous=FULL", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def write_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction takes the write lock at its start on SQLite (no-op elsewhere).

    The caller commits; leaving the block without a commit rolls back.
    """
    with factory() as session:
        session.connection(execution_options={_IMMEDIATE: True})
        yield session
