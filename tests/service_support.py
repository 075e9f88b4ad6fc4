"""Helpers for the service tests: a small dataset and its scorer (built once per process), database backends
(SQLite file, PostgreSQL in a throw-away schema), API keys, a real uvicorn process."""
from __future__ import annotations

import dataclasses
import functools
import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from benchmarks._common import pg_schema
from conftest import unavailable
from scorer_support import shared_scorer

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("SEGMENTS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ALL_SCOPES = ["read", "score", "issue", "admin"]


@functools.lru_cache(maxsize=1)
def small_dataset():
    """The synthetic sample cut to its first 600 customers (a few seconds to score)."""
    from pipeline.ingest.datasets import sample_dataset

    ds = sample_dataset("synthetic")
    ids = ds.transactions["customer_id"].drop_duplicates().iloc[:600]
    keep = lambda df: None if df is None else df[df["customer_id"].isin(ids)].reset_index(drop=True)  # noqa: E731
    return dataclasses.replace(ds, id="sample-small", transactions=keep(ds.transactions), returns=keep(ds.returns))


@functools.lru_cache(maxsize=1)
def small_scorer():
    """The small dataset's scorer, fitted once per test run (scorer_support.shared_scorer) and read-only."""
    from service.scoring import Scorer

    return Scorer("sample-small", shared_scorer("sample-small", small_dataset()))


def write_small_csv(path: Path) -> Path:
    """The small dataset as a transactions CSV (for a real server started on a file)."""
    tx = small_dataset().transactions
    tx[["customer_id", "invoice_id", "date", "quantity", "unit_price", "product_id", "category", "country"]] \
        .to_csv(path, index=False)
    return path


@contextmanager
def database(backend: str, tmp_path: Path):
    """A database URL: a SQLite file, or a fresh PostgreSQL schema dropped afterwards (skip if unreachable)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    with ExitStack() as stack:
        try:
            url = stack.enter_context(pg_schema(PG_URL, "svc_test"))
        except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
            unavailable(f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); storage tests ran on SQLite "
                        "only")
        yield url


def make_key(url: str, name: str, scopes=ALL_SCOPES, rate: float | None = None, burst: float | None = None) -> str:
    from service.core.db import make_engine, session_factory
    from service.keys import create_key
    from service.migrations import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_factory(engine)() as s:
            return create_key(s, name, list(scopes), rate, burst)
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m service serve`` in a subprocess on a free port."""

    def __init__(self, dataset: str, workspace: Path, database_url: str, env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(workspace / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--dataset", dataset, "--workspace", str(workspace),
             "--database-url", database_url, "--port", str(self.port)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "SEGMENTS_LOG_LEVEL": "WARNING", "SEGMENTS_LOG_REQUESTS": "false", **(env or {})})

    def wait_ready(self, timeout: float = 90.0) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/health", timeout=1.0).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout} s")

    def kill9(self) -> None:
        self.proc.kill()          # SIGKILL: no shutdown handler runs
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
