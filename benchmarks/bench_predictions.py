"""How good are the card's predictions: the README table, reproduced by one command on Online Retail and CDNOW.

Run: ``python benchmarks/bench_predictions.py [or] [cdnow]`` (both by default; CDNOW's backtest takes minutes).
For each dataset it runs, each in a fresh process and timed as a whole command, exactly what a user would:
``python -m pipeline value FILE --horizon 90 --json`` and ``python -m pipeline backtest FILE --horizon 90 --every
30 --json`` (CDNOW: the 23,570-customer master file inside ``lifetimes``, written to a temporary CSV first), and
prints markdown computed from their JSON, never typed:

* ``value`` (test cutoff ``end - H``, H = 90, the same split for every row): per prediction of the card (churn,
  chance of buying again, spend in the next 90 days, next order) the best model row (highest ROC AUC, or lowest
  MAE for amounts and days) against BG/NBD and the simple rules: ROC AUC, Brier score, calibration error, MAE,
  normalised Gini, 80 % interval coverage;
* ``backtest`` (cutoffs every 30 days): per churn model family the mean ROC AUC, Brier score and calibration error
  over the cutoffs, against the BG/NBD score and the recency rule;
* the issue-20 targets, each marked met or **missed** from those figures. Speed targets (Online Retail, whole
  command): ``value`` <= 30 s, ``backtest --every 30`` <= 60 s.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv"
H = 90
NAMES = {"or": "Online Retail", "cdnow": "CDNOW (master file)"}
SPEED = {"or": {"value": 30.0, "backtest": 60.0}}        # seconds, whole command in a fresh process
#: Per prediction (``value``'s target): its title, the metric that picks its best model row, whether higher is
#: better, and the comparison rows (BG/NBD and the rules) in the order shown.
PREDICTIONS = {
    "churn": ("Churn (no order in 90 days)", "roc_auc", True, ("churn_btyd", "churn_recency")),
    "p_alive": ("Chance of buying again", "roc_auc", True, ("p_alive_btyd", "p_alive_recency")),
    "spend": ("Spend in the next 90 days", "mae", False, ("spend_btyd", "spend_last")),
    "next_order": ("Next order (days)", "mae", False, ("next_order_btyd", "next_order_last_gap",
                                                       "next_order_typical")),
}
VALUE_COLUMNS = (("n", "n", "{:,.0f}"), ("ROC AUC", "roc_auc", "{:.3f}"), ("Brier", "brier", "{:.3f}"),
                 ("calib. error", "calibration_error", "{:.3f}"), ("MAE", "mae", "{:,.2f}"),
                 ("Gini", "gini", "{:.3f}"), ("80% coverage", "coverage", "{:.1%}"))
#: The backtest's comparison rows, shown after the model families.
BACKTEST_RULES = ("bgnbd", "recency_rule")


def data_file(name: str, tmp: str) -> Path | None:
    """The file the CLI reads: the shared Online Retail CSV, or CDNOW's master file written as a CSV."""
    if name == "or":
        return DATA if DATA.exists() else None
    from pipeline.ingest import load_cdnow

    path = Path(tmp) / "cdnow_master.csv"
    load_cdnow("master").to_csv(path, index=False)
    return path


def run_cli(*args: str) -> tuple[dict, float]:
    """``python -m pipeline ARGS`` in a fresh process: its JSON and the whole command's wall time."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"python -m pipeline {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout), time.perf_counter() - t0


def fmt(value, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def better(a: float | None, b: float | None, higher: bool) -> bool:
    return a is not None and b is not None and (a > b if higher else a < b)


def best_row(rows: dict[str, dict], target: str) -> dict | None:
    """The target's best model row (BG/NBD rows are comparisons, not candidates), by its metric."""
    _, metric, higher, _ = PREDICTIONS[target]
    cands = [r for r in rows.values() if r["target"] == target and r["role"] == "model"
             and not r["key"].endswith("_btyd") and r[metric] is not None]
    return max(cands, key=lambda r: r[metric] if higher else -r[metric]) if cands else None


def value_table(report: dict) -> tuple[list[str], dict[str, dict]]:
    rows = {r["key"]: r for r in report["rows"]}
    lines = ["| prediction | row | " + " | ".join(c for c, _, _ in VALUE_COLUMNS) + " |",
             "|---|---|" + "---:|" * len(VALUE_COLUMNS)]
    for target, (title, _, _, compare) in PREDICTIONS.items():
        best = best_row(rows, target)
        shown = ([best] if best else []) + [rows[k] for k in compare if k in rows]
        for i, r in enumerate(shown):
            label = f"{r['model']} · `{r['key']}`"
            label = f"**{label}**" if r is best else label
            nums = " | ".join(fmt(r[k], p) for _, k, p in VALUE_COLUMNS)
            lines.append(f"| {title if i == 0 else ''} | {label} | {nums} |")
        if best is None:
            lines.append(f"| {title} | no model graded | " + " | ".join("—" for _ in VALUE_COLUMNS) + " |")
    return lines, rows


def backtest_means(report: dict) -> tuple[dict[str, dict], int]:
    """Per model (majority left out): label and mean ROC AUC / Brier / calibration error over the cutoffs."""
    by: dict[str, list[dict]] = {}
    for r in report["table"]:
        if r["model"] != "majority":
            by.setdefault(r["model"], []).append(r)
    mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
    out = {m: {"label": rs[0]["label"], "baseline": rs[0]["baseline"], "cutoffs": len(rs),
               **{k: mean(rs, k) for k in ("roc_auc", "brier", "calibration_error")}} for m, rs in by.items()}
    return out, len({r["cutoff"] for r in report["table"]})


def backtest_table(means: dict[str, dict], n_cutoffs: int, first: str, last: str) -> list[str]:
    base = means.get("bgnbd", {}).get("roc_auc")
    lines = [f"Backtest, churn, cutoffs every 30 days: {n_cutoffs} cutoffs ({first} to {last}), mean over them",
             "", "| model | mean ROC AUC | vs BG/NBD | mean Brier | mean calib. error | cutoffs |",
             "|---|---:|---:|---:|---:|---:|"]
    order = sorted((m for m in means if not means[m]["baseline"]), key=lambda m: -means[m]["roc_auc"])
    for m in [*order, *(k for k in BACKTEST_RULES if k in means)]:
        r = means[m]
        delta = "—" if base is None or m == "bgnbd" else f"{r['roc_auc'] - base:+.3f}"
        lines.append(f"| {r['label']} | {r['roc_auc']:.3f} | {delta} | {r['brier']:.3f} | "
                     f"{r['calibration_error']:.3f} | {r['cutoffs']} |")
    return lines


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def targets(name: str, rows: dict[str, dict], means: dict[str, dict], seconds: dict[str, float]) -> list[str]:
    """The issue-20 targets, each with its figures and met / missed."""
    g = lambda key, k: rows.get(key, {}).get(k)  # noqa: E731
    out = []
    fams = {m: r for m, r in means.items() if not r["baseline"]}
    bg = means.get("bgnbd")
    if fams and bg:
        top = max(fams, key=lambda m: fams[m]["roc_auc"])
        f = fams[top]
        below = [fams[m]["label"] for m in fams if fams[m]["roc_auc"] < bg["roc_auc"]]
        out += [f"- Churn backtest: best family ({f['label']}) mean ROC AUC {f['roc_auc']:.3f} vs BG/NBD "
                f"{bg['roc_auc']:.3f} ({f['roc_auc'] - bg['roc_auc']:+.3f}; target >= +0.010): "
                f"{mark(f['roc_auc'] - bg['roc_auc'] >= 0.01)}",
                "- Churn backtest: no family below BG/NBD on average: "
                + (mark(True) if not below else f"{mark(False)} ({', '.join(below)})"),
                f"- Churn backtest: {f['label']} mean Brier {f['brier']:.4f} vs BG/NBD {bg['brier']:.4f}: "
                f"{mark(f['brier'] < bg['brier'])}; mean calibration error {f['calibration_error']:.3f} "
                f"(target <= 0.05): {mark(f['calibration_error'] <= 0.05)}"]
    if "churn_model" in rows and "churn_btyd" in rows:
        m, b = rows["churn_model"], rows["churn_btyd"]
        out.append(f"- Churn, the card's model at the test cutoff: ROC AUC {m['roc_auc']:.3f} vs BG/NBD "
                   f"{b['roc_auc']:.3f}; Brier {m['brier']:.4f} vs {b['brier']:.4f}: "
                   f"{mark(better(m['brier'], b['brier'], False))}; calibration error "
                   f"{m['calibration_error']:.3f} (target <= 0.05): {mark(m['calibration_error'] <= 0.05)}")
    best = {t: best_row(rows, t) for t in PREDICTIONS}
    if best["p_alive"] and "p_alive_recency" in rows:
        b, rule = best["p_alive"], g("p_alive_recency", "roc_auc")
        out.append(f"- Chance of buying again: `{b['key']}` ROC AUC {b['roc_auc']:.3f} vs the recency rule "
                   f"{rule:.3f} (target >=): {mark(b['roc_auc'] >= rule)}")
    if best["next_order"] and g("next_order_last_gap", "mae"):
        b, rule = best["next_order"], g("next_order_last_gap", "mae")
        out.append(f"- Next order: `{b['key']}` MAE {b['mae']:.1f} d vs \"the last gap repeats\" {rule:.1f} d "
                   f"(ratio {b['mae'] / rule:.2f}, target <= 0.90): {mark(b['mae'] <= 0.9 * rule)}")
    if best["spend"]:
        b = best["spend"]
        ok = all(better(b["mae"], g(k, "mae"), False) and better(b["gini"], g(k, "gini"), True)
                 for k in ("spend_last", "spend_btyd"))
        out.append(f"- Spend: `{b['key']}` MAE {b['mae']:,.2f} / Gini {b['gini']:.3f} vs last 90 days "
                   f"{g('spend_last', 'mae'):,.2f} / {g('spend_last', 'gini'):.3f} and BG/NBD x Gamma-Gamma "
                   f"{g('spend_btyd', 'mae'):,.2f} / {g('spend_btyd', 'gini'):.3f} (both better than both): {mark(ok)}")
    for r in rows.values():
        if r.get("coverage") is not None:
            out.append(f"- 80% interval of `{r['key']}`: out-of-time coverage {r['coverage']:.1%} (target 75-85%): "
                       f"{mark(0.75 <= r['coverage'] <= 0.85)}")
    for cmd, limit in SPEED.get(name, {}).items():
        out.append(f"- Speed: `{cmd}` {seconds[cmd]:.1f} s (target <= {limit:.0f} s): {mark(seconds[cmd] <= limit)}")
    return out


def bench(name: str) -> dict[str, dict] | None:
    """Run both commands on one dataset and print its section; the backtest means (None without data)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = data_file(name, tmp)
        if path is None:
            print(f"{NAMES[name]}: data not found; nothing measured\n")
            return None
        value, t_value = run_cli("value", str(path), "--horizon", str(H), "--json")
        backtest, t_backtest = run_cli("backtest", str(path), "--horizon", str(H), "--every", "30", "--json")
    info = value["info"]
    load = os.getloadavg()[0]
    print(f"### {NAMES[name]}\n")
    print(f"`value`: test cutoff {info['test_cutoff']}, {info['n_customers']:,} customers graded on "
          f"{info['test_window'][0]} to {info['test_window'][1]} (H = {info['horizon_days']}); "
          f"{t_value:.1f} s, `backtest --every 30`: {t_backtest:.1f} s (whole commands in fresh processes; "
          f"load average {load:.1f} on {os.cpu_count()} cores)\n")
    lines, rows = value_table(value)
    print("\n".join(lines) + "\n")
    means, n_cutoffs = backtest_means(backtest)
    cutoffs = sorted({r["cutoff"] for r in backtest["table"]})
    print("\n".join(backtest_table(means, n_cutoffs, cutoffs[0], cutoffs[-1])) + "\n")
    for note in backtest.get("notes", []):
        print(f"Backtest note: {note}\n")
    print("Targets (issue 20):\n")
    print("\n".join(targets(name, rows, means, {"value": t_value, "backtest": t_backtest})) + "\n")
    return means


def across(results: dict[str, dict[str, dict]]) -> str | None:
    """The churn target over datasets: each family's backtest margin over BG/NBD, averaged over the datasets."""
    fams = set.intersection(*({m for m, r in means.items() if not r["baseline"]} for means in results.values()))
    if len(results) < 2 or not fams or not all("bgnbd" in means for means in results.values()):
        return None
    margin = {m: sum(means[m]["roc_auc"] - means["bgnbd"]["roc_auc"] for means in results.values()) / len(results)
              for m in fams}
    top = max(margin, key=margin.get)
    label = next(iter(results.values()))[top]["label"]
    return (f"Across {len(results)} datasets ({', '.join(NAMES[n] for n in results)}): {label}'s mean backtest "
            f"ROC AUC margin over BG/NBD {margin[top]:+.3f} (target >= +0.020): {mark(margin[top] >= 0.02)}")


def main(names: list[str]) -> None:
    results = {}
    for name in names:
        if name not in NAMES:
            raise SystemExit(f"unknown dataset {name!r}: use {' or '.join(NAMES)}")
        means = bench(name)
        if means is not None:
            results[name] = means
    line = across(results) if results else None
    if line:
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:] or list(NAMES))
