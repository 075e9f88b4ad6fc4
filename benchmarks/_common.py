"""What several benchmark scripts share: where the data is, a command line of skippable parts, and the sliced
datasets the forecast benchmarks grade on.

A script puts the repository on ``sys.path`` first (``sys.path.insert(0, str(Path(__file__).resolve().parents[1]))``)
and then imports from here; nothing here imports the pipeline at load time.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: UCI Online Retail, in the shared data folder beside the repository
RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv"
#: the generated ~10M-line file (written once by bench_rfm, shared with bench_ingest and bench_engines)
BIG = Path(os.environ.get("BENCH_10M", "/tmp/bench_10m_lines.csv"))
#: Online Retail as a 25 MB workbook (written once by bench_rfm.make_xlsx)
XLSX = Path(os.environ.get("BENCH_XLSX", "/tmp/online_retail.xlsx"))


def parts_arguments(doc: str, parts: tuple[str, ...], **options: str) -> argparse.Namespace:
    """The command line of a benchmark made of ``parts``: ``--skip-<part>`` for each (read as ``skip_<part>``),
    and ``--<option> VALUE`` for each of ``options`` (name -> default)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for part in parts:
        parser.add_argument(f"--skip-{part}", action="store_true")
    for name, default in options.items():
        parser.add_argument(f"--{name}", default=default)
    return parser.parse_args()


def load(name: str):
    """Dataset ``"or"`` (Online Retail) or ``"cdnow"`` read as the CLI reads it: (transactions, returns); (None, None)
    when Online Retail is not there."""
    from pipeline.cli.common import transactions

    if name == "or":
        return transactions(str(RETAIL)) if RETAIL.exists() else (None, None)
    from pipeline.ingest import load_cdnow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cdnow_master.csv"
        load_cdnow("master").to_csv(path, index=False)
        return transactions(str(path))


def graded_slices(name: str):
    """Dataset ``name`` (see :func:`load`) sliced for grading at the test cutoff ``end - H``, every slice a model
    there learns from built: (transactions, slices, test cutoff, seconds the slices took), or None (said) when the
    data is not there."""
    from pipeline.slices import SliceSet

    tx, ret = load(name)
    if tx is None:
        print(f"{name}: data not found; nothing measured")
        return None
    t0 = time.perf_counter()
    slices = SliceSet(tx, ret)
    test = slices.end - slices.H
    for c in [*slices.training_cutoffs(test), test]:
        slices.at(c)
    return tx, slices, test, time.perf_counter() - t0


@contextmanager
def pg_schema(url: str, prefix: str):
    """A throwaway PostgreSQL schema on the server at ``url``: yields ``url`` with its search path set to the new
    schema, which is dropped afterwards (the service benchmarks and the service tests use it)."""
    from sqlalchemy import create_engine, text

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    sa_url = "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith(("postgresql://", "postgres://")) \
        else url
    admin = create_engine(sa_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
