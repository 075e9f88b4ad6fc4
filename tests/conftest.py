"""Shared fixtures: paths, the real datasets beside the repo, a throw-away workspace per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
APP = str(ROOT / "streamlit_app.py")


def dataset(name: str) -> Path:
    """Path of a real dataset in ../shared/datasets, or skip the test with the reason."""
    p = DATASETS / name
    if not p.exists():
        pytest.skip(f"real dataset {name} not found in {DATASETS}")
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


pytest_plugins = ["spark_support"]
