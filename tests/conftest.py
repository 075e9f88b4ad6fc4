"""Shared fixtures: paths, the real datasets beside the repo, a throw-away workspace per test."""
from __future__ import annotations

import os
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
