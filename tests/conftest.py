"""Shared fixtures: paths, the real datasets beside the repo, a throw-away workspace per test."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from scorer_support import SHARED_ENV, fit_once

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
APP = str(ROOT / "streamlit_app.py")


#: In CI (``CI=true``, which ``.ci/run`` sets) a missing service, browser, JVM or shared dataset fails the run:
#: a green CI must mean every test ran. On a newcomer's machine the same tests skip, saying what to install.
STRICT = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip the calling test because something outside the project is missing, or fail it under ``CI=true``."""
    if STRICT:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def require_module(name: str, reason: str):
    """Import ``name`` or call :func:`unavailable` with ``reason``."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        unavailable(reason)


def dataset(name: str) -> Path:
    """Path of a real dataset in ../shared/datasets, or skip (fail under CI) with the reason."""
    p = DATASETS / name
    if not p.exists():
        unavailable(f"real dataset {name} not found in {DATASETS}")
    return p


def pytest_configure(config):
    """The controller (or a -n 0 run) makes the run's shared folder before the workers start (scorer_support)."""
    if not hasattr(config, "workerinput") and SHARED_ENV not in os.environ:
        os.environ[SHARED_ENV] = tempfile.mkdtemp(prefix="segments-tests-")
        config._segments_shared = os.environ[SHARED_ENV]


def pytest_unconfigure(config):
    shared = getattr(config, "_segments_shared", None)
    if shared:
        shutil.rmtree(shared, ignore_errors=True)
        os.environ.pop(SHARED_ENV, None)


@pytest.fixture(autouse=True)
def _fit_each_scorer_once(monkeypatch):
    """A fit by ``ensure_scorer`` (app, service, privacy) for the same dataset content and inputs is done once per
    run and loaded by every later test and worker, which each start from a new workspace (scorer_support)."""
    import pipeline.customer.scoring as scoring

    monkeypatch.setattr(scoring, "build_scorer", fit_once(scoring.build_scorer))


@pytest.fixture(autouse=True)
def _workspace(tmp_path, monkeypatch):
    """Every test gets its own empty workspace folder."""
    monkeypatch.setenv("SEGMENTS_WORKSPACE", str(tmp_path / "workspace"))
    yield tmp_path / "workspace"


@pytest.fixture
def app():
    """An AppTest of the whole app (router + pages), started and run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def at(app):
    """The same app, under the name the page tests use."""
    return app


pytest_plugins = ["spark_support", "browser_support"]


# ----------------------------------------------------------------------------------------------- xdist scheduling
# Under ``-n N --dist loadfile`` (pyproject) each file is one unit of work that stays on one worker (its module
# fixtures are built once), and the units start in the order of the collection (``--no-loadscope-reorder``). The run
# ends when its last unit ends, so the longest units start first; a file that would still be running alone at the
# end is cut into parts, which run on different workers. pytest 9 ignores ``xdist_group`` (xdist renames node ids,
# which pytest 9 no longer reads), hence a scheduler of our own. The figures come from ``--durations=0``
# (docs/ARCHITECTURE.md, Tests): update them when a file's cost changes a lot. Files not listed start after these.

#: test file -> seconds its tests took in a full run on the 2-core CI machine (the sum of its --durations, under
#: the other workers' load: only their order matters); the slowest start first.
FILE_SECONDS: dict[str, float] = {
    "test_browser_layout.py": 320, "test_spark_churn.py": 146, "test_card_truth.py": 131, "test_live_model.py": 129,
    "test_browser_e2e.py": 119, "test_app_clusters.py": 105, "test_service_process.py": 94,
    "test_spark_engine.py": 93, "test_browser_flows.py": 85, "test_profile.py": 82, "test_withheld.py": 77,
    "test_bad_inputs.py": 77, "test_health.py": 76, "test_browser_campaign.py": 69, "test_campaign.py": 65,
    "test_coupon_units.py": 59, "test_app_persistence.py": 45, "test_campaign_asof.py": 45,
    "test_cluster_names.py": 44, "test_campaign_results.py": 42, "test_ingest_fuzz.py": 42,
    "test_spark_datasets.py": 42, "test_prediction_log_source.py": 41, "test_spark_platforms.py": 40,
    "test_service_champion.py": 40, "test_browser_live_model.py": 39, "test_app_customer.py": 38,
    "test_platforms.py": 37, "test_browser_gate.py": 37, "test_table_embeddings.py": 36, "test_value.py": 35,
    "test_real_exports.py": 34, "test_service_api.py": 33, "test_service_schemathesis.py": 32,
    "test_card_index.py": 32, "test_app_campaigns.py": 31, "test_app_model_health.py": 28,
    "test_browser_workspace.py": 27, "test_scorer_store.py": 27, "test_hardening.py": 25, "test_coupons.py": 25,
    "test_models.py": 24, "test_sliced.py": 24, "test_app_model_lab.py": 22, "test_ingest_formats.py": 22,
}

#: test file -> number of parts it is cut into (consecutive runs of its tests; each part builds the module's
#: fixtures again, so only files whose cost is in the tests themselves are cut).
FILE_PARTS: dict[str, int] = {
    "test_browser_layout.py": 2, "test_card_truth.py": 3, "test_app_campaigns.py": 2, "test_browser_e2e.py": 2,
    "test_bad_inputs.py": 3, "test_browser_flows.py": 2,
}


#: files run as one unit on one worker: they share the session's SparkSession and Online Retail cleaned on it
#: (spark_support), which each worker would otherwise start (a JVM) and clean again.
SHARED_UNITS: dict[str, str] = {f"test_spark_{name}.py": "spark files"
                                for name in ("engine", "churn", "datasets", "insights", "platforms")}


def work_units(nodeids: list[str]) -> list[tuple[str, list[str]]]:
    """The work units of the collected ``nodeids``, the costliest first: (unit name, its node ids in order)."""
    files: dict[str, list[str]] = {}
    for nodeid in nodeids:
        files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
    units: dict[str, list[str]] = {}
    cost: dict[str, float] = {}
    for path, ids in files.items():
        name = Path(path).name
        if name in SHARED_UNITS:
            unit = SHARED_UNITS[name]
            units.setdefault(unit, []).extend(ids)
            cost[unit] = cost.get(unit, 0.0) + FILE_SECONDS.get(name, 0.0)
            continue
        parts = max(1, min(FILE_PARTS.get(name, 1), len(ids)))
        for i in range(parts):
            unit = path if parts == 1 else f"{path} part {i + 1} of {parts}"
            units[unit] = ids[len(ids) * i // parts:len(ids) * (i + 1) // parts]
            cost[unit] = FILE_SECONDS.get(name, 0.0) / parts
    return [(u, units[u]) for u in sorted(units, key=lambda u: -cost[u])]      # stable: unlisted keep their order


def pytest_collection_modifyitems(config, items):
    """In an xdist worker: order the tests by work unit, the costliest first (the controller starts them so)."""
    if hasattr(config, "workerinput"):
        by_id = {item.nodeid: item for item in items}
        items[:] = [by_id[n] for _, ids in work_units(list(by_id)) for n in ids]


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` with the files of :data:`FILE_PARTS` cut into parts (see above)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilePartScheduling(LoadFileScheduling):
        unit_of: dict[str, str] = {}

        def schedule(self) -> None:
            if self.collection is None and self.registered_collections:
                collected = list(next(iter(self.registered_collections.values())))
                self.unit_of = {n: unit for unit, ids in work_units(collected) for n in ids}
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return self.unit_of.get(nodeid) or super()._split_scope(nodeid)

    return FilePartScheduling(config, log)
