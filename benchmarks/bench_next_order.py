"""The next-order forecast (weekly hazard, :mod:`pipeline.predict.next_order`) graded out of time, with timings.

Run: ``python benchmarks/bench_next_order.py [or] [cdnow]``. Test cutoff ``end - H`` (H = 90), as ``value``; the
model learns from the slices before it only. Targets (issue 20): MAE <= 0.9 x "the last gap repeats" on the
customers with two purchase days or more who ordered again within H; 80 % interval coverage 75-85 %; fit +
predict <= ~5 s on Online Retail, <= ~20 s on CDNOW (the slices are built once per dataset and shared by the
churn and spend models, so they are timed apart). Also printed, for scale: the rule capped at H (the graded
customers all ordered within H, and the hazard's median is conditional on that) and ``p_order``'s ROC AUC for
"buys again" against "more recent = more alive".
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import graded_slices  # noqa: E402
from pipeline.predict.next_order import fit_next_order, next_order_features  # noqa: E402
from pipeline.grading import last_gap_days, next_order_days  # noqa: E402


def grade(name: str) -> None:
    from sklearn.metrics import roc_auc_score

    built = graded_slices(name)
    if built is None:
        return
    tx, slices, test, slicing = built
    t1 = time.perf_counter()
    forecast = fit_next_order(slices, test)
    X = next_order_features(slices, test)
    pred = forecast.predict(X)
    t2 = time.perf_counter()
    h = slices.horizon_days
    actual, rule = next_order_days(tx, X.index, test, h), last_gap_days(tx, X.index, test)
    g = (actual.notna() & rule.notna()).to_numpy()
    a = actual.to_numpy(float)[g]
    mae = {k: float(np.mean(np.abs(a - np.asarray(v, float)[g]))) for k, v in
           (("hazard", pred["next_days"]), ("rule", rule), ("rule capped at H", rule.clip(upper=h)))}
    inside = (pred["next_low"].to_numpy()[g] <= a) & (a <= pred["next_high"].to_numpy()[g])
    again = actual.notna().astype(int)
    print(f"{name}: {len(X):,} customers, test cutoff {test.date()}, H = {h}; slices {slicing:.1f} s, "
          f"fit + predict {t2 - t1:.1f} s ({forecast.info['iterations']} rounds, "
          f"{forecast.info['person_periods']:,} person-periods)")
    print(f"  next order on {int(g.sum()):,} repeat customers who reordered: MAE hazard {mae['hazard']:.1f} d, "
          f"rule {mae['rule']:.1f} d (ratio {mae['hazard'] / mae['rule']:.2f}, target <= 0.90), rule capped at H "
          f"{mae['rule capped at H']:.1f} d; median AE {np.median(np.abs(a - pred['next_days'].to_numpy()[g])):.0f} d")
    print(f"  80% interval: coverage {inside.mean():.3f} (target 0.75-0.85), mean width "
          f"{(pred['next_high'] - pred['next_low']).to_numpy()[g].mean():.1f} d, beta {forecast.beta:.3f}")
    print(f"  buys again: ROC AUC p_order {roc_auc_score(again, pred['p_order']):.3f} vs recency "
          f"{roc_auc_score(again, -X['recency_days']):.3f}")


def main() -> None:
    logging.disable(logging.INFO)
    for name in sys.argv[1:] or ["or", "cdnow"]:
        grade(name)


if __name__ == "__main__":
    main()
