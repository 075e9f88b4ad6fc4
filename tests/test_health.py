"""Model health on hand-made transactions whose truth is known (tests/health_data.py): backtest, drift,
champion/challenger, roll back, the prediction log, sources and refresh (file and PostgreSQL), the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import unavailable

from health_data import cleaned, regime_transactions
from pipeline.errors import DataError
from pipeline.health import (ChampionWatcher, HealthStore, current_population, drift_table, psi, run_backtest,
                             top_share_precision)
from pipeline.health.live import live_model
from pipeline.health.predictions import PredictionLog
from pipeline.health.refresh import refresh
from pipeline.health.retrain import retrain, with_churn_model
from pipeline.health.sources import Source, resolve_url, scrub, source_dataset
from pipeline.store import Dataset, Workspace

H = 30
FLIP = "2022-08-01"          # first day of period 7: the behaviour flips from regime A to B


def _save(ws: Workspace, regimes: str) -> Dataset:
    tx, ret = cleaned(regimes)
    return ws.save_dataset(Dataset("regimes", "Regimes", "transactions", transactions=tx, returns=ret))


def test_top_share_precision_and_psi_by_hand():
    y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    score = [0.9, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.05]
    assert top_share_precision(y, score, 0.10) == 1.0          # riskiest 1 of 10: a churner
    assert top_share_precision(y, score, 0.20) == 0.5          # riskiest 2: one churner
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * np.log(0.5) * -1 + 0.25 * np.log(1.5))


def test_planted_change_drops_backtest_auc_at_that_date():
    tx, ret = cleaned("AAAAAAABBB")
    res = run_backtest(tx, ret, H, 30, ["logreg"])
    t = res.table
    assert {"cutoff", "model", "roc_auc", "n_customers", "churn_rate", "baseline", "top_precision",
            "brier"} <= set(t.columns)
    assert set(t.loc[t["baseline"], "model"]) == {"majority", "bgnbd", "recency_rule"}
    model = t[t["model"] == "logreg"].set_index("cutoff")["roc_auc"]
    assert FLIP in model.index
    before = model[model.index < FLIP]
    assert len(before) >= 3 and (before > 0.8).all()
    assert model[FLIP] < 0.3                      # learned "big spenders stay", graded on "big spenders leave"
    assert model[model.index > FLIP].iloc[0] > 0.8  # one period later the model has learned the new behaviour


def test_planted_change_is_flagged_as_drift_in_plain_words(_workspace):
    ws = Workspace("w")
    assert retrain(ws, _save(ws, "AAAAAA"), horizon_days=H)["promoted"]
    meta = HealthStore(ws, "regimes").version_metadata("v1")
    profile = meta.extra["health"]["population"]
    changed = drift_table(profile, *current_population(*cleaned("AAAAAABBB"), H)).set_index("feature")
    same = drift_table(profile, *current_population(*cleaned("AAAAAAAAA"), H)).set_index("feature")
    assert changed.loc["spend_30d", "drifted"] and changed.loc["spend_30d", "psi"] > 0.2
    assert "Recent customers spent less in their last 30 days" in changed.loc["spend_30d", "message"]
    assert not same.loc["spend_30d", "drifted"]
    assert changed.loc["segment", "kind"] == "segment mix"


def test_worse_challenger_kept_out_better_promoted_rollback_and_watcher(_workspace):
    ws = Workspace("w")
    first = retrain(ws, _save(ws, "AAAAAA"), horizon_days=H)
    store = HealthStore(ws, "regimes")
    assert first["promoted"] and store.champion() == "v1"
    watcher = ChampionWatcher(ws, "regimes")
    assert watcher.poll() is None

    worse = retrain(ws, _save(ws, "AAAAAANA"), horizon_days=H)   # challenger learned from a no-signal period
    m = worse["metrics"]
    assert not worse["promoted"] and store.champion() == "v1" and worse["challenger"] == "v2"
    assert m["challenger"]["roc_auc"] < m["champion"]["roc_auc"] - 0.1
    assert {"roc_auc", "top_precision", "brier"} <= set(m["champion"]) and "Not promoted" in worse["reason"]
    assert watcher.poll() is None

    better = retrain(ws, _save(ws, "AAAAAABB"), horizon_days=H)  # the behaviour flipped: the champion fails
    assert better["promoted"] and store.champion() == "v3"
    assert better["metrics"]["challenger"]["roc_auc"] > better["metrics"]["champion"]["roc_auc"] + 0.5
    assert live_model(ws, "regimes").model_id == "churn-regimes-v3"      # the Customer page uses it too
    pipe, meta = watcher.poll()                                         # a service sees the promotion
    assert meta.extra["version"] == "v3" and watcher.poll() is None

    back = store.rollback()
    assert back["to"] == "v1" and store.champion() == "v1" and live_model(ws, "regimes").ref == "v1"
    assert [d["action"] for d in store.decisions()] == ["retrain", "retrain", "retrain", "rollback"]
    with pytest.raises(DataError, match="no earlier champion"):
        store.rollback()
    store.load_version("v2")                                            # earlier versions stay loadable


def test_an_old_workspace_lookup_model_is_read_for_its_own_dataset_only(_workspace):
    ws = Workspace("w")
    ds = _save(ws, "AAAAAA")
    retrain(ws, ds, horizon_days=H)
    (ws.path / "health" / "regimes" / "champion.json").unlink()        # a workspace from before the pointer
    ws.write_json("active_model", {"id": "churn-regimes-v1"})
    assert live_model(ws, "regimes").ref == "v1" and live_model(ws, "other").model_id is None


def test_served_scorer_swaps_in_the_champion(_workspace):
    from pipeline.customer.scoring import ScoringSettings, build_scorer

    ws = Workspace("w")
    ds = _save(ws, "AAAAAA")
    retrain(ws, ds, horizon_days=H)
    scorer = build_scorer(ds, settings=ScoringSettings(horizon_days=H))
    pipe, meta = HealthStore(ws, "regimes").load_champion()
    swapped = with_churn_model(scorer, pipe, meta)
    assert swapped.decisions.churn.source == "champion" and scorer.decisions.churn.source == "default"
    assert not np.allclose(swapped.table["churn_probability"], scorer.table["churn_probability"])
    assert swapped.table.index.equals(scorer.table.index)


def test_prediction_log_joins_outcomes_and_grades_them(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    day = pd.Timestamp("2022-03-01")
    rows = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "score": [0.9, 0.2, 0.7, 0.1],
                         "band": ["High", "Low", "High", "Low"], "model_version": "v1", "as_of": day})
    assert log.record("ds", rows) == 4
    assert log.record_card("ds", {"customer_id": "e", "churn_probability": 0.6, "risk_band": "High",
                                  "as_of": "2022-03-01", "model_version": "svc1"})
    assert not log.record_card("ds", {"customer_id": "f", "churn_probability": None})
    tx = pd.DataFrame({"customer_id": ["b", "d", "c", "a"], "date": pd.to_datetime(
        ["2022-03-05", "2022-03-20", "2022-04-15", "2022-02-01"])})   # c buys after the 30 days: churned
    assert log.join_outcomes("ds", tx.iloc[:2], H) == 0              # data end 2022-03-21: window not over yet
    assert log.join_outcomes("ds", tx, H) == 5
    outcome = log.frame("ds").set_index("customer_id")["outcome"]
    assert outcome.to_dict() == {"a": 1, "b": 0, "c": 1, "d": 0, "e": 1}
    real = log.realised("ds").set_index("model_version")
    assert real.loc["v1", "roc_auc"] == 1.0 and real.loc["v1", "n"] == 4 and real.loc["v1", "month"] == "2022-03"
    assert real.loc["v1", "brier"] == pytest.approx(np.mean([0.01, 0.04, 0.09, 0.01]))
    assert real.loc["base rate (baseline)", "baseline"] and real.loc["base rate (baseline)", "roc_auc"] == 0.5
    assert log.join_outcomes("ds", tx, H) == 0                        # joined once
    assert set(log.calibration("ds", "v1")["n"]) <= {1, 2}


def test_source_names_a_secret_never_holds_a_url(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="NAME of an environment variable"):
        Source("query", query="select 1", url_secret="postgresql://u:pw@host/db")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('OTHER = "sqlite:///y.db"\n[connections.SALES]\nurl = "sqlite:///x.db"\n')
    assert resolve_url("SALES", secrets) == "sqlite:///x.db" and resolve_url("OTHER", secrets) == "sqlite:///y.db"
    monkeypatch.setenv("SALES", "sqlite:///env.db")
    assert resolve_url("SALES", secrets) == "sqlite:///env.db"
    with pytest.raises(DataError, match="no database URL named 'NOPE'"):
        resolve_url("NOPE", secrets)
    assert "pw" not in scrub("failed for postgresql://u:pw@host/db (pw)", "postgresql://u:pw@host/db")


def test_refresh_of_a_file_whose_source_disappeared_changes_nothing(_workspace, tmp_path):
    path = tmp_path / "orders.csv"
    regime_transactions("AAAAAA").to_csv(path, index=False)
    ws = Workspace("w")
    ds = ws.save_dataset(source_dataset(Source("file", path=str(path)), "Orders"))
    before = (ws.path / "datasets" / ds.id / "meta.json").read_bytes()
    path.unlink()
    with pytest.raises(DataError, match="no longer exists.*nothing was changed"):
        refresh(ws, ds.id, horizon_days=H, log=PredictionLog(f"sqlite:///{tmp_path / 'p.db'}"))
    assert (ws.path / "datasets" / ds.id / "meta.json").read_bytes() == before
    assert not (ws.path / "health" / ds.id / "refresh.jsonl").exists()


def test_refresh_without_a_source_says_so(_workspace):
    ws = Workspace("w")
    _save(ws, "AAAAAA")
    with pytest.raises(DataError, match="does not remember a source"):
        refresh(ws, "regimes", horizon_days=H)


# ---- PostgreSQL (the server on the development/CI machines) -------------------------------------------------------

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_table():
    """A fresh uniquely named table on the test PostgreSQL server (skipped when the server is unreachable)."""
    import uuid

    from sqlalchemy import text

    from pipeline.health.sources import make_engine

    engine = make_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means: no server here
        engine.dispose()
        unavailable(f"PostgreSQL at 127.0.0.1:5432 (db test, user postgres) unreachable: {str(exc).splitlines()[0]}")
    name = f"health_orders_{uuid.uuid4().hex[:10]}"
    yield engine, name
    with engine.begin() as conn:
        conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


def test_refresh_from_postgres_counts_new_customers_and_never_stores_the_url(_workspace, pg_table, monkeypatch,
                                                                            tmp_path):
    engine, table = pg_table
    monkeypatch.setenv("HEALTH_TEST_DB", PG_URL)
    first = regime_transactions("AAAAAA")
    first.to_sql(table, engine, index=False)
    ws = Workspace("w")
    ds = ws.save_dataset(source_dataset(Source("query", query=f'SELECT * FROM "{table}"',
                                               url_secret="HEALTH_TEST_DB"), "Orders from PostgreSQL"))
    assert ds.transactions["customer_id"].nunique() == 301
    more = regime_transactions("AAAAAAA").iloc[len(first):]
    newcomers = pd.DataFrame({"InvoiceNo": [f"new-{i}" for i in range(7)], "CustomerID": [f"N{i}" for i in range(7)],
                              "InvoiceDate": "2022-07-20 12:00", "Quantity": 1, "UnitPrice": 20.0})
    pd.concat([more, newcomers]).to_sql(table, engine, index=False, if_exists="append")
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    entry = refresh(ws, ds.id, horizon_days=H, log=log)
    assert entry["new_customers"] == 7 and entry["customers_after"] == 308
    assert entry["lines_after"] > entry["lines_before"] and entry["segment_moves"] > 0
    assert entry["decision"]["promoted"] is True and entry["scored"] == 308
    assert ws.load_dataset(ds.id).transactions["customer_id"].nunique() == 308
    stored = "".join(p.read_text() for p in ws.path.rglob("*.json*"))
    assert "postgresql://" not in stored and "127.0.0.1" not in stored and "HEALTH_TEST_DB" in stored

    from sqlalchemy import text

    with engine.begin() as conn:                       # the source disappears
        conn.execute(text(f'DROP TABLE "{table}"'))
    before = (ws.path / "datasets" / ds.id / "meta.json").read_bytes()
    with pytest.raises(DataError, match="query on \\$HEALTH_TEST_DB failed") as err:
        refresh(ws, ds.id, horizon_days=H, log=log)
    assert "127.0.0.1" not in str(err.value) or "postgresql://" not in str(err.value)
    assert (ws.path / "datasets" / ds.id / "meta.json").read_bytes() == before
    assert len(HealthStore(ws, ds.id).refreshes()) == 1


# ---- CLI ------------------------------------------------------------------------------------------------------------

def _cli(*args: str, env=None):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env,
                          cwd=str(Path(__file__).resolve().parents[1]))


def test_cli_backtest_json_rows_and_one_line_errors(tmp_path, _workspace):
    path = tmp_path / "orders.csv"
    regime_transactions("AAAAAAABBB").to_csv(path, index=False)
    out = _cli("backtest", str(path), "--horizon", "30", "--every", "30", "--models", "logreg", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["table"]
    assert {"cutoff", "model", "roc_auc", "n_customers", "churn_rate", "baseline"} <= set(rows[0])
    assert any(r["model"] == "bgnbd" and r["baseline"] for r in rows)
    src = _cli("source", "Orders", "--file", str(path), "--workspace", str(tmp_path / "ws"))
    assert src.returncode == 0, src.stderr
    bad = _cli("rollback", "--dataset", "Orders", "--workspace", str(tmp_path / "ws"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no earlier champion" in bad.stderr
    missing = _cli("refresh", "--dataset", "Nope", "--workspace", str(tmp_path / "ws"))
    assert missing.returncode == 2 and "'Nope' is not saved" in missing.stderr
