"""Model-health timings on UCI Online Retail: the rolling-origin backtest and a refresh from PostgreSQL.

Run: ``python benchmarks/bench_health.py [--skip-backtest] [--skip-refresh] [--url postgresql://...]``.

1. Backtest: monthly cutoffs (every 30 days, horizon 90), the fast zoo models (logistic regression, tree, forest,
   XGBoost) plus the majority and BG/NBD baselines. Target <= 60 s (cleaning the file is reported apart).
2. Refresh from PostgreSQL (default ``postgresql://postgres@127.0.0.1:5432/test``): the raw file is copied into a
   fresh table (not timed) holding the lines before 2011-11-01; a dataset is created from ``SELECT * FROM table``;
   the remaining lines are appended (the source gained rows); then ``refresh`` is timed end to end: read the query,
   clean, re-segment, save, champion/challenger retrain, re-score every customer and log the scores, join outcomes.
   Target <= 30 s. The table is dropped afterwards.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SEGMENTS_LOG_LEVEL", "WARNING")

from benchmarks._common import RETAIL as DATA, parts_arguments  # noqa: E402

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
SPLIT = "2011-11-01"


def bench_backtest() -> None:
    from pipeline.health.backtest import run_backtest
    from pipeline.ingest import clean_file

    t0 = time.perf_counter()
    cleaned = clean_file(DATA)
    load = time.perf_counter() - t0
    c0 = time.process_time()
    res = run_backtest(cleaned.transactions, cleaned.returns, 90, 30)
    cpu = time.process_time() - c0
    t = res.table
    print(f"backtest: {len(res.settings['cutoffs'])} cutoffs x {t['model'].nunique()} rows each "
          f"({', '.join(res.settings['models'])} + majority, BG/NBD) in {res.seconds:.1f} s wall, {cpu:.1f} s CPU "
          f"(target <= 60 s; cleaning the file {load:.1f} s apart); load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    auc = t.pivot(index="cutoff", columns="model", values="roc_auc").round(3)
    print(auc.to_string())
    print("mean ROC AUC per model:", auc.mean().round(3).to_dict())


def _copy_into(engine, table: str) -> tuple[int, int]:
    """Create ``table`` (text columns) with the file's lines before SPLIT; return (lines in, lines held back)."""
    import pandas as pd

    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    early = raw["InvoiceDate"] < SPLIT
    cols = ", ".join(f'"{c}" text' for c in COLUMNS)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{table}" ({cols})')
    _copy(engine, table, raw[early])
    return int(early.sum()), int((~early).sum())


def _copy(engine, table: str, frame) -> None:
    import io

    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f'COPY "{table}" FROM STDIN WITH (FORMAT csv)') as copy:
            copy.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()


def bench_refresh(url: str) -> None:
    import pandas as pd

    from pipeline.health.predictions import PredictionLog
    from pipeline.health.refresh import refresh
    from pipeline.health.sources import Source, make_engine, source_dataset
    from pipeline.store import Workspace

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
    except Exception as exc:  # noqa: BLE001
        print(f"refresh: skipped, PostgreSQL unreachable ({str(exc).splitlines()[0]})")
        return
    table = f"bench_online_retail_{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp())
    os.environ["BENCH_HEALTH_DB"] = url
    try:
        early, late = _copy_into(engine, table)
        ws = Workspace("bench", tmp)
        t0 = time.perf_counter()
        ds = ws.save_dataset(source_dataset(Source("query", query=f'SELECT * FROM "{table}"',
                                                   url_secret="BENCH_HEALTH_DB"), "Online Retail (PostgreSQL)"))
        create = time.perf_counter() - t0
        raw = pd.read_csv(DATA, dtype=str, keep_default_na=False)
        _copy(engine, table, raw[raw["InvoiceDate"] >= SPLIT])
        log = PredictionLog(f"sqlite:///{tmp / 'predictions.db'}")
        t0, c0 = time.perf_counter(), time.process_time()
        entry = refresh(ws, ds.id, log=log)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"refresh from PostgreSQL: {early:,} + {late:,} raw lines; creating the dataset {create:.1f} s; "
              f"refresh end to end {seconds:.1f} s wall, {cpu:.1f} s CPU of this process (target <= 30 s); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        keep = ("lines_before", "lines_after", "customers_before", "customers_after", "new_customers",
                "segment_moves", "scored", "outcomes_joined")
        print({k: entry[k] for k in keep})
        print("decision:", entry["decision"]["reason"])
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        engine.dispose()


def main() -> None:
    args = parts_arguments(__doc__, ("backtest", "refresh"), url="postgresql://postgres@127.0.0.1:5432/test")
    if not DATA.exists():
        sys.exit(f"{DATA} not found")
    if not args.skip_backtest:
        bench_backtest()
    if not args.skip_refresh:
        bench_refresh(args.url)


if __name__ == "__main__":
    main()
