"""The scoring service picks up a newly promoted churn champion without a restart (service.main.watch_champion):
a retrain that promotes, a roll back, the poll switched off, and a broken pointer or model that leaves the old model
serving. Small regime datasets (tests/health_data.py) that retrain in a few seconds."""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from health_data import cleaned
from service_support import make_key

H = 30
POLL = 0.2


def _save(ws, regimes: str):
    from pipeline.store import Dataset

    tx, ret = cleaned(regimes)
    return ws.save_dataset(Dataset("regimes", "Regimes", "transactions", transactions=tx, returns=ret))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace whose dataset 'regimes' (regime AAAAAA) has versions v1 (the champion) and v2 (trained after the
    behaviour flipped, promoted, then rolled back), and the service's scorer loaded from it (serving v1)."""
    from pipeline.health import HealthStore
    from pipeline.health.retrain import retrain
    from pipeline.store import Workspace
    from service.scoring import load_scorer

    root = tmp_path_factory.mktemp("champion") / "workspace"
    ws = Workspace("w", root)
    assert retrain(ws, _save(ws, "AAAAAA"), horizon_days=H)["promoted"]
    assert retrain(ws, _save(ws, "AAAAAABB"), horizon_days=H)["promoted"]
    HealthStore(ws, "regimes").rollback()
    _save(ws, "AAAAAA")
    scorer = load_scorer("regimes", root, H)
    assert scorer.churn_version == "v1" and scorer.champion_serial == 3
    return root, scorer


@pytest.fixture
def workspace(template, tmp_path):
    """A private copy of the template workspace: ``(root, Workspace, HealthStore)``."""
    from pipeline.health import HealthStore
    from pipeline.store import Workspace

    root = tmp_path / "workspace"
    shutil.copytree(template[0], root)
    ws = Workspace("w", root)
    return root, ws, HealthStore(ws, "regimes")


def _rebased(scorer, root: Path):
    """The template's loaded scorer, watching the copy's champion pointer (saves loading it again)."""
    from pipeline.store import Workspace
    from service.scoring import Scorer

    return Scorer(scorer.dataset_id, scorer.model, workspace=Workspace("w", root),
                  champion_serial=scorer.champion_serial, churn_version=scorer.churn_version)


def _settings(tmp_path, **kw):
    from service.core.config import Settings

    return Settings(database_url=f"sqlite:///{tmp_path / 'service.db'}", log_requests=False, horizon_days=H, **kw)


def _churn(card: dict) -> float:
    """The card's churn score, also when the card withholds it."""
    return card["churn_probability"] if card["churn_probability"] is not None else card["withheld"]["churn_probability"]


def _wait_for(client, version: str, timeout: float = 15.0) -> dict:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        health = client.get("/health").json()
        if health["churn_model_version"] == version:
            return health
        time.sleep(0.05)
    raise AssertionError(f"/health still serves {health['churn_model_version']} after {timeout} s, not {version}")


class _Capture(logging.Handler):
    """The service's JSON log lines with an ``event``."""

    def __init__(self):
        super().__init__()
        self.events: list[dict] = []

    def emit(self, record):
        try:
            line = json.loads(record.getMessage())
        except json.JSONDecodeError:
            return
        if "event" in line:
            self.events.append(line)

    def __enter__(self):
        logging.getLogger("service.requests").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("service.requests").removeHandler(self)

    def of(self, event: str) -> list[dict]:
        return [e for e in self.events if e["event"] == event]


def test_setting_from_the_environment(monkeypatch):
    from service.core.config import Settings

    assert Settings().champion_poll_seconds == 10
    monkeypatch.setenv("SEGMENTS_CHAMPION_POLL_SECONDS", "0.5")
    assert Settings().champion_poll_seconds == 0.5
    monkeypatch.setenv("SEGMENTS_CHAMPION_POLL_SECONDS", "-1")
    with pytest.raises(ValueError):
        Settings()


def test_promoted_champion_and_roll_back_are_served_without_restart(workspace, tmp_path):
    from pipeline.health.retrain import retrain, with_churn_model
    from service.main import create_app
    from service.scoring import Scorer

    root, ws, store = workspace
    url = f"sqlite:///{tmp_path / 'service.db'}"
    key = {"Authorization": f"Bearer {make_key(url, 'all')}"}
    app = create_app(_settings(tmp_path, dataset="regimes", workspace=root, champion_poll_seconds=POLL))
    with _Capture() as cap, TestClient(app) as client:
        before = client.get("/health").json()
        assert before["churn_model_version"] == "v1"
        base = app.state.scorer

        entry = retrain(ws, _save(ws, "AAAAAABB"), horizon_days=H)       # promotes v3 while the service runs
        assert entry["promoted"] and entry["challenger"] == "v3" and store.champion() == "v3"
        after = _wait_for(client, "v3")
        assert after["model_version"] != before["model_version"]
        assert after["customers"] == before["customers"]

        pipe, meta = store.load_version("v3")
        model = with_churn_model(base.model, pipe, meta)
        expected = model.table
        gap = (expected["churn_probability"] - base.model.table["churn_probability"]).abs()
        cid = str(gap.idxmax())
        assert gap[cid] > 0.2
        card = client.get(f"/customers/{cid}", headers=key).json()
        assert _churn(card) == pytest.approx(expected.loc[cid, "churn_probability"])
        assert card["risk_band"] == expected.loc[cid, "risk_band"]
        assert card["model_version"] == after["model_version"]
        # drivers and coupon as composed for this customer alone (not the start-up card index), facts of v3
        alone = Scorer(base.dataset_id, dataclasses.replace(model, index=None)).card(cid)
        alone = json.loads(json.dumps({k: v for k, v in alone.items() if k != "model_version"}))
        assert {k: v for k, v in card.items() if k != "model_version"} == alone
        assert f"ROC AUC {meta.metrics['roc_auc']:.2f}" in card["facts"]["churn_probability"]["note"]
        assert card["drivers"] != base.card(cid)["drivers"]
        assert 'churn_model_version="v3"' in client.get("/metrics").text

        store.rollback(reason="test")                                       # back to v1
        back = _wait_for(client, "v1")
        card = client.get(f"/customers/{cid}", headers=key).json()
        assert _churn(card) == pytest.approx(base.model.table.loc[cid, "churn_probability"])
        assert card["model_version"] == back["model_version"]
    assert app.state.champion_task.cancelled()                               # stopped with the app
    picked = cap.of("champion_picked_up")
    assert [e["version"] for e in picked] == ["v3", "v1"] and not cap.of("champion_not_picked_up")
    assert cap.of("ready")[0]["churn_model_version"] == "v1"


def test_poll_zero_disables_the_watcher(template, workspace, tmp_path):
    from service.main import create_app
    from service.scoring import Scorer

    root, _ws, store = workspace
    scorer = _rebased(template[1], root)
    assert Scorer(scorer.dataset_id, scorer.model).champion_watcher() is None    # not a saved dataset: no watcher
    app = create_app(_settings(tmp_path, champion_poll_seconds=0), scorer=scorer)
    with TestClient(app) as client:
        assert app.state.champion_task is None
        store.rollback(to="v2")
        time.sleep(4 * POLL)
        assert client.get("/health").json()["churn_model_version"] == "v1"
        assert app.state.scorer is scorer


def test_broken_champion_keeps_the_old_model_and_logs(template, workspace, tmp_path):
    from service.main import create_app

    root, ws, store = workspace
    scorer = _rebased(template[1], root)
    cid = str(scorer.model.table.index[0])
    url = f"sqlite:///{tmp_path / 'service.db'}"
    key = {"Authorization": f"Bearer {make_key(url, 'all')}"}
    pointer = store.path / "champion.json"
    good = pointer.read_text()
    model_file = ws.models_dir / store.model_id("v2") / "pipeline.skops"
    model_bytes = model_file.read_bytes()
    app = create_app(_settings(tmp_path, champion_poll_seconds=POLL), scorer=scorer)
    with _Capture() as cap, TestClient(app) as client:
        served = client.get(f"/customers/{cid}", headers=key).json()

        pointer.write_text('{"version": "v2", "serial": ')                 # a pointer that is not JSON
        time.sleep(5 * POLL)
        failed = cap.of("champion_not_picked_up")
        assert len(failed) == 1 and failed[0]["error"] == "DataError" and failed[0]["serving"] == "v1"
        assert "not readable" in failed[0]["detail"]

        pointer.write_text(good)
        model_file.write_bytes(b"not a model")                              # the next champion's model is damaged
        store.rollback(to="v2")
        time.sleep(5 * POLL)
        assert len(cap.of("champion_not_picked_up")) == 2                   # once per failure, not once per poll
        assert client.get("/health").json()["churn_model_version"] == "v1"
        assert client.get(f"/customers/{cid}", headers=key).json() == served
        assert app.state.scorer is scorer

        model_file.write_bytes(model_bytes)                                 # repaired: tried again, picked up
        _wait_for(client, "v2")
    assert [e["version"] for e in cap.of("champion_picked_up")] == ["v2"]
    text = json.dumps(cap.events)
    assert cid not in text and "Bearer" not in text
