"""The spend forecast (:mod:`pipeline.predict.spend`) graded out of time, with its interval and timings.

Run: ``python benchmarks/bench_spend.py [or] [cdnow]``. Test cutoff ``end - H`` (H = 90), as ``value``; the model
learns from the slices before it only (the newest of them validates and calibrates the interval). Targets
(issue 20): MAE and normalised Gini both better than "same as the last 90 days" and BG/NBD x Gamma-Gamma; 80 %
interval coverage 75-85 %; fit + predict <= ~3 s on Online Retail, <= ~15 s on CDNOW (the slices are built once
per dataset and shared with the churn and next-order models, so they are timed apart). Also printed: every
candidate's validation figures (what chose the model) and, as a check of the method on a period the test never
touches, the same grading at the previous cutoff (the validation slice's).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import graded_slices  # noqa: E402  (the same datasets and slices as bench_next_order)
from pipeline.config import ValueConfig  # noqa: E402
from pipeline.predict.spend import fit_spend, spend_rows  # noqa: E402
from pipeline.slices import SliceSet  # noqa: E402
from pipeline.grading import regression_row  # noqa: E402


def _line(label: str, row: dict) -> str:
    cov = row.get("coverage", float("nan"))
    extra = f"  coverage {cov:.3f}  width {row['width']:,.1f}" if cov == cov else ""
    return f"    {label:34} MAE {row['mae']:9.2f}  Gini {row['gini']:.3f}  top10 {row['top_share']:.3f}{extra}"


def grade(slices: SliceSet, cutoff, label: str):
    cfg = ValueConfig()
    t0 = time.perf_counter()
    fc = fit_spend(slices, cutoff)
    row = spend_rows(slices, cutoff, cfg, forecast=fc)[0]
    seconds = time.perf_counter() - t0
    test = slices.at(cutoff)
    truth = test.y["spend"]
    print(f"  {label}: cutoff {cutoff.date()}, {len(test.X):,} customers; fit + predict {seconds:.1f} s; "
          f"chosen on validation: {fc.validation['chosen']}")
    for k, g in fc.validation["candidates"].items():
        print(f"      validation {k:26} MAE {g['mae']:9.2f}  Gini {g['gini']:.3f}")
    print(_line("spend_hybrid (this model)", row))
    print(_line("BG/NBD x Gamma-Gamma", regression_row("b", "spend", "", "", truth,
                                                         test.X["btyd_expected_spend"], cfg)))
    print(_line("same as the last 90 days", regression_row("l", "spend", "", "", truth, test.X["spend_90d"], cfg)))
    print(f"    everyone spends 0 (for scale)      MAE {truth.abs().mean():9.2f}")
    return fc


def main(names: list[str]) -> None:
    for name in names:
        built = graded_slices(name)
        if built is None:
            continue
        _, slices, test, seconds = built
        print(f"{name}: slices built in {seconds:.1f} s (shared with the other models), H = "
              f"{slices.horizon_days}")
        fc = grade(slices, test, "test (end - H)")
        grade(slices, slices.training_cutoffs(test)[0], "previous cutoff (check)")
        print(f"  {fc.description}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["or", "cdnow"])
