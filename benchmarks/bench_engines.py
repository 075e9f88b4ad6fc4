"""DuckDB vs local Spark on generated partitioned Parquet (issue 14). Run:

    python benchmarks/bench_engines.py [--rows 1,10] [--engines duckdb,spark] [--spark-master local[2]]

``--rows`` are millions of order lines. The lines come from ``pipeline.ingest.generate_raw`` (~10M lines from
450,000 customers, with cancellations, missing ids and duplicates as in real exports; written once to
``/tmp/bench_10m_lines.csv``, shared with bench_rfm.py), then written as hive-partitioned Parquet (one folder per
month) in ``/tmp/bench_engines/<N>m/``: fewer rows take a share of the customers, more rows stack copies of the
10M lines with the customer and invoice ids suffixed (``-1``, ``-2``, …), so each copy is new customers.

Each run is a fresh child process doing what ``python -m pipeline rfm --engine E FOLDER`` does: read the folder,
clean with the full report, RFM and segments. Printed per engine and size: wall time (with Spark's JVM start
shown apart), peak memory of the Python process and of Spark's JVM (VmHWM), customers and revenue (which must
agree between engines).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIG_CSV = Path(os.environ.get("BENCH_10M", "/tmp/bench_10m_lines.csv"))
OUT = Path(os.environ.get("BENCH_ENGINES_DIR", "/tmp/bench_engines"))

_CHILD = """
import json, os, sys, time
sys.path.insert(0, {root!r})
os.environ["SEGMENTS_LOG_LEVEL"] = "WARNING"
t0 = time.perf_counter()
from pipeline.engines import get_engine
from pipeline.rfm import rfm_from_connection
engine = get_engine({engine!r})
start = 0.0
if engine.name == "spark":
    engine.spark
    start = time.perf_counter() - t0
con, report = engine.clean({folder!r})
rfm = rfm_from_connection(con, "tx")
secs = time.perf_counter() - t0
jvm_gb = 0.0
if engine.name == "spark":   # the JVM's peak resident set (VmHWM) before it stops
    pid = engine.spark.sparkContext._gateway.proc.pid
    status = open(f"/proc/{{pid}}/status").read()
    jvm_gb = int(status.split("VmHWM:")[1].split()[0]) / 1e6
    engine.spark.stop()
# this process's own peak (VmHWM): ru_maxrss would carry the parent's peak across fork + exec
py_gb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1e6
print(json.dumps({{"seconds": secs, "start": start, "rows_in": report.rows_in, "lines": report.rows_out,
                  "customers": len(rfm), "revenue": report.revenue, "py_gb": py_gb, "jvm_gb": jvm_gb}}))
"""


def base_csv() -> Path:
    """The generated ~10M-line CSV (made once)."""
    if not BIG_CSV.exists():
        from pipeline.ingest import generate_raw

        df = generate_raw(450_000, seed=1)  # noqa: F841 - read by name in the DuckDB query below
        duckdb.sql(f"COPY (SELECT * FROM df) TO '{BIG_CSV}' (HEADER, DELIMITER ',')")
    return BIG_CSV


def make_parquet(millions: int) -> Path:
    """``millions`` x 1M lines as hive-partitioned Parquet (``month=YYYY-MM``), made once."""
    folder = OUT / f"{millions}m"
    if (folder / "_done").exists():
        return folder
    csv = base_csv()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW src AS SELECT * FROM read_csv('{csv}', all_varchar = true)")
    total = con.execute("SELECT count(*) FROM src").fetchone()[0]
    target = millions * 1_000_000
    copies = max(1, -(-target // total))
    share = min(1.0, target / total)
    sql = f"""SELECT * REPLACE (
                CASE WHEN k = 0 THEN CustomerID ELSE CustomerID || '-' || k END AS CustomerID,
                CASE WHEN k = 0 THEN InvoiceNo ELSE InvoiceNo || '-' || k END AS InvoiceNo),
              substr(InvoiceDate, 1, 7) AS month
              FROM src, range({copies}) r(k)
              WHERE hash(CustomerID) % 1000 < {int(share * 1000)} OR {share} >= 1
              LIMIT {target}"""
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({sql.replace('SELECT * REPLACE', 'SELECT * EXCLUDE (k) REPLACE')}) TO '{folder}' "
                "(FORMAT parquet, PARTITION_BY (month), OVERWRITE_OR_IGNORE true)")
    (folder / "_done").write_text(str(target))
    return folder


def run(engine: str, folder: Path, master: str) -> dict:
    env = dict(os.environ, SPARK_MASTER=master)
    code = _CHILD.format(root=str(ROOT), engine=engine, folder=str(folder))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    if out.returncode:
        raise SystemExit(f"{engine} on {folder} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1,10", help="comma-separated sizes in millions of lines (default 1,10)")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--spark-master", default="local[2]")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    for m in (int(x) for x in a.rows.split(",")):
        t = time.perf_counter()
        folder = make_parquet(m)
        made = time.perf_counter() - t
        for engine in a.engines.split(","):
            r = run(engine, folder, a.spark_master)
            start = f" (JVM start {r['start']:.1f} s)" if engine == "spark" else ""
            print(f"{m}M lines ({r['rows_in']:,} read, {r['lines']:,} kept, {r['customers']:,} customers, revenue "
                  f"{r['revenue']:,.2f}) | {engine}: {r['seconds']:.1f} s{start} | peak RSS python "
                  f"{r['py_gb']:.2f} GB, JVM {r['jvm_gb']:.2f} GB | load {os.getloadavg()[0]:.1f}"
                  + (f" | data made in {made:.0f} s" if made > 1 else ""), flush=True)


if __name__ == "__main__":
    main()
