"""Shared fixtures: paths, the real datasets beside the repo, a throw-away workspace per test."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import pytest

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


#: A folder every xdist worker of this run shares (made by the controller before the workers start, removed at the
#: end): fitted scorers are saved there once, by :func:`shared_scorer`.
SHARED_ENV = "SEGMENTS_TEST_SHARED_DIR"


def pytest_configure(config):
    if not hasattr(config, "workerinput") and SHARED_ENV not in os.environ:     # the controller (or -n 0)
        os.environ[SHARED_ENV] = tempfile.mkdtemp(prefix="segments-tests-")
        config._segments_shared = os.environ[SHARED_ENV]


def pytest_unconfigure(config):
    shared = getattr(config, "_segments_shared", None)
    if shared:
        shutil.rmtree(shared, ignore_errors=True)
        os.environ.pop(SHARED_ENV, None)


def shared_scorer(name: str, dataset, **kwargs):
    """``build_scorer(dataset, **kwargs)`` fitted once per test run: the first worker to ask fits it and saves it
    (``scorer_store``) in the run's shared folder under ``name``, the others wait on a file lock and load it (~1 s
    instead of ~20 s). ``name`` must stand for one dataset and one set of arguments. Callers cache the result per
    process and only read it."""
    from pipeline.customer.scorer_store import load_scorer, save_scorer
    from pipeline.customer.scoring import build_scorer

    root = os.environ.get(SHARED_ENV)
    if not root or not Path(root).is_dir():
        return build_scorer(dataset, **kwargs)
    folder = Path(root) / name
    with open(Path(root) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        scorer = load_scorer(folder, dataset, name)
        if scorer is None:
            scorer = build_scorer(dataset, **kwargs)
            save_scorer(scorer, folder, name)
    return scorer


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
# pyproject runs the suite with ``--dist loadgroup --no-loadscope-reorder``: each file (or part of one, below) is one
# unit of work that stays on one worker (its module fixtures are built once), and units start in the order below.
# The run ends when its last unit ends, so the longest units start first; a file that would still be running alone
# at the end is cut into parts. The figures come from ``--durations=0`` (docs/ARCHITECTURE.md, Tests): update them
# when a file's cost changes a lot. Files not listed start after these, in collection order.

#: test file -> seconds it took alone (-n 0) on the 2-core CI machine; the slowest start first.
FILE_SECONDS: dict[str, float] = {}

#: test file -> number of parts it is cut into (consecutive runs of its tests; each part builds the module's
#: fixtures again, so only files whose cost is in the tests themselves are cut).
FILE_PARTS: dict[str, int] = {}

#: files that share one part: they need the session's SparkSession (one JVM on one worker instead of one per worker).
SHARED_UNITS: dict[str, str] = {}


def _units(items: list) -> list[tuple[str, list]]:
    """The work units of ``items`` in start order: (group name, its items in collection order)."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.path.name, []).append(item)
    units: dict[str, list] = {}
    cost: dict[str, float] = {}
    for name, tests in files.items():
        shared = SHARED_UNITS.get(name)
        parts = 1 if shared else max(1, min(FILE_PARTS.get(name, 1), len(tests)))
        for i in range(parts):
            group = shared or (name if parts == 1 else f"{name}/{i + 1}of{parts}")
            units.setdefault(group, []).extend(tests[len(tests) * i // parts:len(tests) * (i + 1) // parts])
            cost[group] = cost.get(group, 0.0) + FILE_SECONDS.get(name, 0.0) / parts
    order = sorted(units, key=lambda g: -cost[g])           # stable: unlisted files keep collection order
    return [(g, units[g]) for g in order]


@pytest.hookimpl(tryfirst=True)        # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup``: put each test in its work unit (an ``xdist_group``) and order the units."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    ordered = []
    for group, tests in _units(items):
        for item in tests:
            item.add_marker(pytest.mark.xdist_group(group))
        ordered.extend(tests)
    items[:] = ordered

