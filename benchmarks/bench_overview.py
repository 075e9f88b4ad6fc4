"""Overview, cohorts and segment movement on Online Retail (issue 11 target: each page renders in <= 3 s after upload).

Run: python benchmarks/bench_overview.py [--file ../shared/datasets/online_retail.csv] [--repeats 3]

Prints: the pipeline computations alone (``pipeline.overview.overview``, ``pipeline.cohorts.cohort_table``,
``pipeline.movement.segment_movement`` with the default dates: the end and 90 days earlier; median of
``--repeats`` runs), then through AppTest after the upload: the first (uncached) visit of the Overview page and of
the Cohorts & movement page (cohorts and movement both computed on that visit), a rerun of each with nothing
changed, and a new pair of movement dates. AppTest serialises every element, so a browser is a little faster.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SEGMENTS_LOG_LEVEL", "WARNING")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RETAIL = ROOT.parent / "shared" / "datasets" / "online_retail.csv"
TARGET = 3.0


def timed(label: str, fn, target: float | None = None) -> float:
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    verdict = "" if target is None else ("  target <= %.0f s: %s" % (target, "met" if s <= target else "MISSED"))
    print(f"{label:<56} {s:7.2f} s   (load avg {os.getloadavg()[0]:.1f}){verdict}")
    return s


def median_time(label: str, fn, repeats: int) -> None:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    print(f"{label:<56} {statistics.median(times):7.2f} s   (median of {repeats}; min {min(times):.2f})")


def pipeline_times(path: Path, repeats: int) -> None:
    from pipeline.cohorts import cohort_table
    from pipeline.ingest import build_dataset
    from pipeline.movement import segment_movement
    from pipeline.overview import overview

    t = time.perf_counter()
    tx = build_dataset(str(path), path.name).transactions
    print(f"{'read + clean ' + path.name:<56} {time.perf_counter() - t:7.2f} s   ({len(tx):,} lines)")
    ov = overview(tx)
    kpi = ov.kpis.set_index("kpi")["value"]
    print(f"    customers {kpi['customers']:,}, active {kpi['active_customers']:,}, revenue {kpi['revenue']:,.2f}, "
          f"orders {kpi['orders']:,}, repeat rate {kpi['repeat_rate']:.1%}")
    median_time("pipeline: overview (KPIs + monthly)", lambda: overview(tx), repeats)
    median_time("pipeline: cohort table", lambda: cohort_table(tx), repeats)
    median_time("pipeline: segment movement (2 RFM tables + matrix)", lambda: segment_movement(tx), repeats)


def page_times(path: Path) -> None:
    from streamlit.testing.v1 import AppTest

    os.environ["SEGMENTS_WORKSPACE"] = tempfile.mkdtemp(prefix="bench-overview-")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    at.run()
    at.file_uploader(key="uploader").upload(path.name, path.read_bytes(), "text/csv")
    timed(f"AppTest: upload + clean {path.name}", at.run)
    timed("AppTest: Overview, first visit", lambda: at.switch_page("pages/overview.py").run(), TARGET)
    assert not at.exception and not at.error, (at.exception, at.error)
    timed("AppTest: Overview, rerun (cached)", at.run)
    timed("AppTest: Cohorts & movement, first visit", lambda: at.switch_page("pages/movement.py").run(), TARGET)
    assert not at.exception and not at.error, (at.exception, at.error)
    timed("AppTest: Cohorts & movement, rerun (cached)", at.run)
    box = next(d for d in at.date_input if d.key and d.key.startswith("mv_from_"))
    timed("AppTest: movement with a new first date", lambda: box.set_value(box.value - timedelta(days=30)).run(),
          TARGET)
    assert not at.exception and not at.error, (at.exception, at.error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(RETAIL))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = Path(args.file)
    if not path.exists():
        sys.exit(f"missing {path}")
    pipeline_times(path, args.repeats)
    page_times(path)


if __name__ == "__main__":
    main()
