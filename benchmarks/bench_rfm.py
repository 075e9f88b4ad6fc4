"""Foundation benchmarks (issue 2). Run: python benchmarks/bench_rfm.py [--skip-10m] [--skip-page]

1. Online Retail CSV -> RFM table through the pipeline (read, clean with report, aggregate), against a plain DuckDB
   read_csv + GROUP BY over the same file, best of 5 each, in the same run.
2. A generated 10-million-line file -> RFM: wall time and peak memory (child process, ru_maxrss).
3. The RFM page showing Online Retail after the upload (AppTest, in process).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

os.environ.setdefault("SEGMENTS_LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv"
BIG = Path(os.environ.get("BENCH_10M", "/tmp/bench_10m_lines.csv"))


def best_of(fn, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def plain_duckdb(path: Path) -> None:
    duckdb.sql(f"""SELECT CustomerID, max(InvoiceDate), count(DISTINCT InvoiceNo), sum(Quantity * UnitPrice)
                   FROM read_csv('{path}') GROUP BY CustomerID""").fetchall()


def pipeline_rfm(path: Path):
    from pipeline.ingest import clean_in_duckdb
    from pipeline.rfm import default_snapshot, rfm_from_connection

    con, report = clean_in_duckdb(path)   # what `python -m pipeline rfm` runs
    return rfm_from_connection(con, snapshot=default_snapshot(report.date_max))


def bench_retail() -> None:
    pipeline_rfm(RETAIL)  # warm imports
    base = best_of(lambda: plain_duckdb(RETAIL))
    ours = best_of(lambda: pipeline_rfm(RETAIL))
    print(f"Online Retail: plain DuckDB read_csv+GROUP BY {base:.3f} s | pipeline read+clean+RFM {ours:.3f} s "
          f"| ratio {ours / base:.2f}x")


def bench_10m() -> None:
    if not BIG.exists():
        from pipeline.ingest import generate_raw

        t = time.perf_counter()
        df = generate_raw(450_000, seed=1)
        duckdb.sql("COPY (SELECT * FROM df) TO '" + str(BIG) + "' (HEADER, DELIMITER ',')")
        print(f"generated {len(df):,} lines into {BIG} in {time.perf_counter() - t:.0f} s")
    code = ("import resource,sys,time; sys.path.insert(0, %r); t=time.perf_counter();"
            "from benchmarks.bench_rfm import pipeline_rfm; r=pipeline_rfm(%r);"
            "print(len(r), time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)") % (str(ROOT), str(BIG))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    n, secs, rss_kb = out.stdout.split()[-3:]
    lines = duckdb.sql(f"SELECT count(*) FROM read_csv('{BIG}')").fetchall()[0][0]
    print(f"10M file: {lines:,} lines -> {int(n):,} customers in {float(secs):.1f} s, peak RSS {int(rss_kb) / 1e6:.2f} GB")


def bench_page() -> None:
    os.environ["SEGMENTS_WORKSPACE"] = "/tmp/bench_ws"
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120).run()
    at.file_uploader(key="uploader").upload("online_retail.csv", RETAIL.read_bytes(), "text/csv")
    t = time.perf_counter()
    at.run()
    upload = time.perf_counter() - t
    t = time.perf_counter()
    at.switch_page("pages/rfm.py").run()
    page = time.perf_counter() - t
    assert not at.exception and at.metric[0].value == "4,338"
    t = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - t
    print(f"RFM page: upload processed (read+clean+save) {upload:.2f} s, then RFM page first render {page:.2f} s, "
          f"cached rerun {rerun:.2f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-10m", action="store_true")
    ap.add_argument("--skip-page", action="store_true")
    a = ap.parse_args()
    bench_retail()
    if not a.skip_page:
        bench_page()
    if not a.skip_10m:
        bench_10m()
