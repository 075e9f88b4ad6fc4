"""The Customer page's first card on Online Retail, in a fresh process: cold (the scorer is fitted and saved) and
warm (the scorer's pieces are loaded from the workspace, :mod:`pipeline.customer.scorer_store`). Target: <= 3 s.

Run: ``python benchmarks/bench_first_card.py [FILE]`` (default ``../shared/datasets/online_retail.csv``). The file
is cleaned and saved into a throw-away workspace first (not timed); then each measurement runs in its own Python
process and times what the page does for its first card: import the pipeline, read the saved dataset, get the
scorer (:func:`pipeline.customer.scorer_store.ensure_scorer`), compose the card
(:func:`pipeline.customer.customer_profile`) and its JSON. Run (a) finds no saved scorer and fits one (then saves
it); run (b) loads it. Both print their steps in seconds.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv"
TARGET = 3.0
DATASET_ID = "bench"


def child(root: str) -> None:
    """One fresh process: the steps of the first card, timed, printed as one JSON line."""
    t0 = time.perf_counter()
    from pipeline.customer import customer_profile
    from pipeline.customer.scorer_store import ensure_scorer
    from pipeline.store import Workspace

    times = {"import": time.perf_counter() - t0}
    t = time.perf_counter()
    ws = Workspace("bench", root=Path(root))
    ds = ws.load_dataset(DATASET_ID)
    times["read dataset"] = time.perf_counter() - t
    t = time.perf_counter()
    had = any(ws.scorer_dir(DATASET_ID).glob("*/manifest.json"))
    scorer = ensure_scorer(ws, DATASET_ID, ds)
    times["scorer (fit + save)" if not had else "scorer (load)"] = time.perf_counter() - t
    t = time.perf_counter()
    card = customer_profile(scorer, scorer.table.index[0]).to_json()
    times["card"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    print(json.dumps({"times": times, "customers": len(scorer.table), "card_keys": len(card)}))


def run(root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(root)], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(path: Path = DATA) -> None:
    from pipeline.cli.common import transactions
    from pipeline.store import Dataset, Workspace

    tx, ret = transactions(str(path))
    with tempfile.TemporaryDirectory() as tmp:
        Workspace("bench", root=Path(tmp)).save_dataset(
            Dataset(DATASET_ID, path.stem, "transactions", transactions=tx, returns=ret))
        for label, what in (("a", "cold: fit the scorer, save it"), ("b", "warm: load the saved scorer")):
            res = run(Path(tmp))
            total = res["times"]["total"]
            print(f"({label}) {what}: first card in {total:.2f} s "
                  f"({'meets' if total <= TARGET else 'misses'} the {TARGET:.0f} s target; "
                  f"{res['customers']:,} customers)")
            for step, sec in res["times"].items():
                if step != "total":
                    print(f"      {step:<22s} {sec:6.2f} s")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
