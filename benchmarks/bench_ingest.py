"""Read + clean + RFM in one pass, against a plain DuckDB script over the same file (issue 22). Run:

    python benchmarks/bench_ingest.py [--repeats 5] [--skip-10m] [--skip-xlsx] [--skip-process]

The plain script is what a data engineer would write by hand: ``read_csv`` with DuckDB's own type detection, the
pipeline's filters (a customer id, a date, no ``C`` cancellation invoice, quantity and price above zero) and one
``GROUP BY`` customer with recency, distinct invoices and spend. No duplicate removal, no report. The pipeline is
what ``python -m pipeline rfm FILE`` runs: sniff, content mapping, read, clean with the full report and warnings,
RFM with scores and segments, the segment summary and the currency.

Both are timed alternately in the same run (the machine is shared) and each figure is the median of ``--repeats``
runs (best shown too):

1. Online Retail (``../shared/datasets/online_retail.csv``), in process (imports done once, as in a service or the
   app) and as whole processes (``python -m pipeline rfm`` against ``python plain.py``, interpreter start and imports
   included). Target: <= 1.5x.
2. A generated file of ~10M lines (``pipeline.ingest.generate_raw(450_000, seed=1)``, written once to
   ``/tmp/bench_10m_lines.csv``, shared with bench_rfm.py and bench_engines.py): whole processes, peak resident
   memory of each from ``/usr/bin/time`` (else the child's ``ru_maxrss``). Targets: <= 2x, <= 2 GB.
3. Online Retail as a 25 MB .xlsx (``/tmp/online_retail.xlsx``, written once by bench_rfm.make_xlsx), whole
   processes. Target: <= 8 s.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("SEGMENTS_LOG_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BIG, RETAIL, ROOT, XLSX  # noqa: E402

#: the plain script's query: DuckDB's typed read_csv, the same filters, one GROUP BY
PLAIN_SQL = """
    SELECT CustomerID, max(InvoiceDate) AS last_purchase, count(DISTINCT InvoiceNo) AS frequency,
           round(sum(Quantity * UnitPrice), 2) AS monetary
    FROM read_csv('{path}')
    WHERE CustomerID IS NOT NULL AND InvoiceDate IS NOT NULL AND NOT starts_with(InvoiceNo::VARCHAR, 'C')
      AND Quantity > 0 AND UnitPrice > 0
    GROUP BY CustomerID"""
#: the plain script as a whole process
PLAIN = "import duckdb, sys; print(len(duckdb.sql(sys.argv[1]).fetchall()))"


def plain(path: Path) -> int:
    """The plain script, in process: its number of customers."""
    import duckdb

    return len(duckdb.sql(PLAIN_SQL.format(path=path)).fetchall())


def pipeline(path: Path) -> None:
    """``python -m pipeline rfm FILE``, in process (its JSON output discarded)."""
    from pipeline.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["rfm", str(path)]) == 0


def alternate(fns: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    """Each function timed ``repeats`` times, in turn (a, b, a, b, ...), so both see the same machine load."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def line(label: str, times: dict[str, list[float]], extra: dict[str, str] | None = None) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    parts = [f"{k} median {med[k]:.2f} s (best {best[k]:.2f})" + (f", {extra[k]}" if extra and k in extra else "")
             for k in times]
    print(f"{label}: " + " | ".join(parts) + f" | ratio {med['pipeline'] / med['plain']:.2f}x median, "
          f"{best['pipeline'] / best['plain']:.2f}x best | load {os.getloadavg()[0]:.1f}", flush=True)


def child(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS GB) of one child process."""
    timer = shutil.which("time") and Path("/usr/bin/time").exists()
    cmd = (["/usr/bin/time", "-f", "%M"] if timer else []) + args
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    secs = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    rss_kb = int(out.stderr.strip().splitlines()[-1]) if timer else 0
    return secs, rss_kb / 1e6


def processes(path: Path, repeats: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    cmds = {"plain": [sys.executable, "-c", PLAIN, PLAIN_SQL.format(path=path)],
            "pipeline": [sys.executable, "-m", "pipeline", "rfm", str(path)]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    peak: dict[str, float] = {k: 0.0 for k in cmds}
    for _ in range(repeats):
        for name, cmd in cmds.items():
            secs, gb = child(cmd)
            times[name].append(secs)
            peak[name] = max(peak[name], gb)
    return times, peak


def bench_retail(repeats: int, whole: bool) -> None:
    pipeline(RETAIL)      # imports and caches warm
    plain(RETAIL)
    line("Online Retail, in process", alternate({"plain": lambda: plain(RETAIL),
                                                 "pipeline": lambda: pipeline(RETAIL)}, repeats))
    if whole:
        times, peak = processes(RETAIL, repeats)
        line("Online Retail, whole processes", times, {k: f"peak {v:.2f} GB" for k, v in peak.items()})


def bench_10m(repeats: int) -> None:
    if not BIG.exists():
        import duckdb

        from pipeline.ingest import generate_raw

        t = time.perf_counter()
        df = generate_raw(450_000, seed=1)
        duckdb.sql(f"COPY (SELECT * FROM df) TO '{BIG}' (HEADER, DELIMITER ',')")
        print(f"generated {len(df):,} lines into {BIG} in {time.perf_counter() - t:.0f} s")
    times, peak = processes(BIG, repeats)
    line(f"10M file ({BIG.stat().st_size / 1e6:.0f} MB), whole processes", times,
         {k: f"peak {v:.2f} GB" for k, v in peak.items()})


def bench_xlsx(repeats: int) -> None:
    """Whole processes: the workbook is read afresh each time (in process, the parsed sheet would be cached)."""
    if not XLSX.exists():
        from benchmarks.bench_rfm import make_xlsx

        make_xlsx(XLSX)
    runs = [child([sys.executable, "-m", "pipeline", "rfm", str(XLSX)]) for _ in range(repeats)]
    secs = [r[0] for r in runs]
    print(f"Online Retail .xlsx ({XLSX.stat().st_size / 2**20:.0f} MB) -> rfm, whole process: median "
          f"{statistics.median(secs):.2f} s (best {min(secs):.2f}), peak {max(r[1] for r in runs):.2f} GB "
          f"| load {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs of each side (default 5; 2 for the 10M file)")
    ap.add_argument("--skip-10m", action="store_true", help="skip the generated 10M-line file")
    ap.add_argument("--skip-xlsx", action="store_true", help="skip the 25 MB workbook")
    ap.add_argument("--skip-process", action="store_true", help="Online Retail in process only")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    bench_retail(a.repeats, not a.skip_process)
    if not a.skip_xlsx:
        bench_xlsx(min(a.repeats, 3))
    if not a.skip_10m:
        bench_10m(min(a.repeats, 2) if a.repeats == 5 else a.repeats)


if __name__ == "__main__":
    main()
