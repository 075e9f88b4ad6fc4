"""Clusters page timings through AppTest (issue 3: "moving between pages after the first computation feels instant").

Run: python benchmarks/bench_clusters_page.py [--file ../shared/datasets/online_retail.csv] [--sample]

Prints: the upload, the first visit of the Clusters page (customer features + k sweep k=2..10 + clustering + map),
reruns of the page with nothing changed, a round trip Clusters -> RFM -> Clusters, and a change of k (sweep cached).
AppTest adds its own overhead (it serialises every element), so a browser rerun is a little faster than shown.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv"


def timed(label: str, fn) -> float:
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    print(f"{label:<48} {s:7.2f} s   (load avg {os.getloadavg()[0]:.1f})")
    return s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(RETAIL))
    parser.add_argument("--sample", action="store_true", help="use the built-in synthetic sample instead of a file")
    parser.add_argument("--sequence", action="store_true", help="also press the sequence tab's button (defaults: "
                                                                 "monthly, 40 epochs, k=4, 3 seeds)")
    args = parser.parse_args()
    os.environ["SEGMENTS_WORKSPACE"] = tempfile.mkdtemp(prefix="bench-clusters-")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    if args.sample:
        timed("load the synthetic sample", lambda: at.button(key="sample_synthetic").click().run())
    else:
        path = Path(args.file)
        if not path.exists():
            sys.exit(f"missing {path}")
        at.file_uploader(key="uploader").upload(path.name, path.read_bytes(), "text/csv")
        timed(f"upload + clean {path.name}", at.run)
    timed("Clusters page, first visit (features+sweep+fit)", lambda: at.switch_page("pages/clusters.py").run())
    assert not at.exception and not at.error, (at.exception, at.error)
    print(f"    customers {at.metric[0].value}, k {at.metric[1].value}, silhouette {at.metric[2].value}")
    reruns = [timed(f"rerun, nothing changed #{i + 1}", at.run) for i in range(3)]
    timed("switch to RFM segments", lambda: at.switch_page("pages/rfm.py").run())
    back = timed("switch back to Clusters (cached)", lambda: at.switch_page("pages/clusters.py").run())
    k = at.number_input(key="clu_k").value
    timed(f"change k {k} -> {k + 1} (sweep cached, one fit)", lambda: at.number_input(key="clu_k").set_value(k + 1).run())
    timed(f"back to k {k} (cached)", lambda: at.number_input(key="clu_k").set_value(k).run())
    print(f"rerun median {sorted(reruns)[1]:.2f} s, back from another page {back:.2f} s (target <= 0.5 s)")
    if args.sequence:
        button = next(b for b in at.button if "GRU" in b.label)
        timed("sequence tab: TF import + 3 autoencoders + K-Means", lambda: button.click().run())
        table = next(d.value for d in at.dataframe if "stability_ari" in d.value.columns)
        print(table[["method", "silhouette", "davies_bouldin", "silhouette_rfm", "davies_bouldin_rfm",
                     "calinski_harabasz_rfm", "stability_ari", "churn_rate_range", "seconds"]].round(3).to_string())
        timed("rerun after training (result kept)", at.run)


if __name__ == "__main__":
    main()
