"""Fitted scorers shared by every test and xdist worker of one run (conftest sets up the run folder).

``ensure_scorer`` (the app, the service, privacy) fits through ``build_scorer``; in tests that fit is done once
per run for the same dataset content and inputs and loaded afterwards (~1-2 s instead of 20-60 s), because every
test starts from a new workspace. :func:`fit_once` wraps ``build_scorer`` (conftest patches it in each test; the
browser tests' Streamlit server runs this file, which patches it the same way before starting Streamlit), and
:func:`shared_scorer` does the same for a module fixture under a name. Saved with ``scorer_store`` in the folder
named by ``SEGMENTS_TEST_SHARED_DIR``, one file lock per fit; each caller gets its own freshly loaded scorer.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

#: the run's shared folder (made by conftest in the controller before the workers start, removed at the end)
SHARED_ENV = "SEGMENTS_TEST_SHARED_DIR"
#: the build_scorer arguments a fit is keyed by (a call with others, e.g. churn= or clusters=, is not shared)
KEYED = {"settings", "coupons", "rules", "active", "clustering"}


def shared_root() -> Path | None:
    root = os.environ.get(SHARED_ENV)
    return Path(root) if root and Path(root).is_dir() else None


def _load_or_fit(folder: Path, fingerprint: str, dataset, fit, coupons=None, rules=None):
    """The scorer saved in ``folder`` for ``fingerprint``, else ``fit()`` saved there (under the folder's lock)."""
    from pipeline.customer.scorer_store import load_scorer, save_scorer

    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        scorer = load_scorer(folder, dataset, fingerprint, coupons=coupons, rules=rules)
        if scorer is None:
            scorer = fit()
            save_scorer(scorer, folder, fingerprint)
    return scorer


def shared_scorer(name: str, dataset, **kwargs):
    """``build_scorer(dataset, **kwargs)`` fitted once per run and saved under ``name`` (which must stand for one
    dataset and one set of arguments); the other workers load it. Callers cache the result and only read it."""
    from pipeline.customer.scoring import build_scorer

    root = shared_root()
    if root is None:
        return build_scorer(dataset, **kwargs)
    return _load_or_fit(root / name, name, dataset, lambda: build_scorer(dataset, **kwargs))


def dataset_hash(dataset) -> str:
    """SHA-256 of what a dataset holds (its tables' values, columns and index, its other fields but the time it
    was saved)."""
    import pandas as pd

    h = hashlib.sha256()
    for f in dataclasses.fields(dataset):
        if f.name == "created":
            continue
        value = getattr(dataset, f.name)
        if isinstance(value, pd.DataFrame):
            h.update(f"{f.name}:{list(value.columns)}:{list(value.dtypes.astype(str))}".encode())
            h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        else:
            h.update(f"{f.name}={json.dumps(value, sort_keys=True, default=str)}".encode())
    return h.hexdigest()


def fit_once(build):
    """``build`` (``build_scorer``) wrapped: a fit keyed by the dataset's content, ``scorer_fingerprint``'s inputs
    and the coupons is done once per run; customer tables and other arguments go through."""
    from pipeline.customer.parts import ScoringSettings
    from pipeline.customer.scorer_store import scorer_fingerprint

    def fit(dataset, **kw):
        root = shared_root()
        if root is None or dataset.kind != "transactions" or set(kw) - KEYED:
            return build(dataset, **kw)
        fp = scorer_fingerprint(dataset_hash(dataset), kw.get("settings") or ScoringSettings(), kw.get("rules"),
                                kw.get("active"), kw.get("clustering"))
        fp = hashlib.sha256(fp.encode() + pickle.dumps(kw.get("coupons"))).hexdigest()
        return _load_or_fit(root / "fits" / fp[:32], fp, dataset, lambda: build(dataset, **kw),
                            coupons=kw.get("coupons"), rules=kw.get("rules"))

    return fit


if __name__ == "__main__":            # python tests/scorer_support.py run app.py ...: Streamlit with shared fits
    sys.path[:0] = [str(Path(__file__).resolve().parents[1])]
    import pipeline.customer.scoring as scoring
    from streamlit.web.cli import main

    scoring.build_scorer = fit_once(scoring.build_scorer)
    sys.argv = ["streamlit", *sys.argv[1:]]
    sys.exit(main())
