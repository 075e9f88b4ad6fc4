"""BTYD benchmark: BG/NBD (+ Gamma-Gamma) fit time and parameters on CDNOW, what-if scoring time.

Run: ``python benchmarks/bench_btyd.py``. Targets: fit on the 23,570-customer CDNOW master <= 2 s;
sample weeks 1-39 parameters r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (FHL 2005); what-if < 5 ms.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.clv import BTYDModel, btyd_summary  # noqa: E402
from pipeline.ingest import load_cdnow  # noqa: E402


def cdnow_transactions(kind: str) -> pd.DataFrame:
    raw = load_cdnow(kind)
    return pd.DataFrame({"customer_id": raw["customer_id"].astype(str),
                         "date": pd.to_datetime(raw["date"], format="%Y%m%d"),
                         "amount": raw["dollar_value"].astype(float)})


def fit(kind: str) -> BTYDModel:
    tx = cdnow_transactions(kind)
    t0 = time.perf_counter()
    summary = btyd_summary(tx, cutoff="1997-10-01", unit_days=7)          # weeks 1-39
    t1 = time.perf_counter()
    model = BTYDModel(unit_days=7, horizon_days=39 * 7).fit(summary)
    t2 = time.perf_counter()
    params = ", ".join(f"{k} = {v:.4f}" for k, v in model.params_.items())
    gg = ", ".join(f"{k} = {v:.3f}" for k, v in (model.gg_params_ or {}).items())
    print(f"CDNOW {kind}: {len(summary):,} customers | summary {t1 - t0:.3f} s | BG/NBD + Gamma-Gamma fit "
          f"{t2 - t1:.3f} s | total {t2 - t0:.3f} s")
    print(f"  BG/NBD {params}; log-likelihood {model.log_likelihood_:,.1f}")
    print(f"  Gamma-Gamma {gg}")
    print(f"  note: {model.fit_note_}")
    return model


def main() -> None:
    fit("sample")
    model = fit("master")
    n = 1000
    t0 = time.perf_counter()
    for i in range(n):
        model.predict_one(frequency=i % 10, recency=float(i % 10) * 3, T=38.0, monetary_value=30.0)
    print(f"what-if predict_one: {(time.perf_counter() - t0) / n * 1000:.2f} ms per customer (target < 5 ms)")


if __name__ == "__main__":
    main()
