"""Grading the card's predictions out of time (``python -m pipeline value``) on UCI Online Retail.

Run: ``python benchmarks/bench_value.py``. Target (issue 11): ``value`` on Online Retail <= 30 s, measured as the
whole CLI command in a fresh process (read + clean 541,909 rows, out-of-time split with two BTYD fits, the spend
regressor, the next-order dates). Prints the graded table (baselines marked) and which card numbers hold up.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv"


def main() -> None:
    if not DATA.exists():
        print(f"value: {DATA} not found; nothing measured")
        return
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pipeline", "value", str(DATA), "--horizon", "90", "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - t0
    report = json.loads(out)
    print(f"value: Online Retail, H = 90: {seconds:.1f} s for the whole command in a fresh process "
          f"(grading alone {report['info']['seconds']:.1f} s; target <= 30 s)")
    print(f"{'key':22} {'role':8} {'n':>5} {'MAE':>9} {'Gini':>6} {'top10':>6} {'AUC':>6}  beats baseline")
    for r in report["rows"]:
        nums = [f"{r[k]:>{w}.{d}f}" if r[k] is not None else " " * (w - 1) + "-"
                for k, w, d in (("mae", 9, 2), ("gini", 6, 3), ("top_share", 6, 3), ("roc_auc", 6, 3))]
        print(f"{r['key']:22} {r['role']:8} {r['n']:>5} {' '.join(nums)}  {r.get('beats_baseline', '')}")


if __name__ == "__main__":
    main()
