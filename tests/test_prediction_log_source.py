"""Model health grades a model on its own predictions only (issue 19, items 3 and 6).

While the churn model is withheld on a dataset (it lost to a simple rule on a later period), every card serves the
rule's risk. The prediction log records what produced each score (``churn_source``) and keeps the model version
only for the model's scores, so the realised ROC AUC Model health shows for a model never mixes in the rule's
scores; the rule's rows are reported under the rule's plain name. A log written before the column existed is
migrated (a versioned migration) and its rows read as before (the model's).
"""
from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text

from pipeline.health.predictions import SOURCE_LABELS, PredictionLog, card_row

DAY = pd.Timestamp("2022-03-01")
TX = pd.DataFrame({"customer_id": ["b", "d", "y", "z"],              # a, c, x, w place no order in the 30 days
                   "date": pd.to_datetime(["2022-03-05", "2022-03-20", "2022-03-06", "2022-04-15"])})


def _card(cid: str, p: float, source: str) -> dict:
    return {"customer_id": cid, "churn_probability": p, "risk_band": "High" if p > 0.5 else "Low",
            "as_of": str(DAY.date()), "model_version": "svc-v7", "churn_source": source}


def test_rule_labels_cover_every_rule():
    from pipeline.customer.facts import RULES

    assert {"model", *SOURCE_LABELS} == set(RULES)
    assert SOURCE_LABELS["recency"] == "Recency rule (used while the model is withheld)"


def test_a_card_row_names_what_produced_its_score():
    rule = card_row(_card("a", 0.7, "recency"))
    assert rule["churn_source"] == "recency" and rule["model_version"] == ""       # not the model's: no version
    assert card_row(_card("a", 0.7, "btyd"), model_version="v3")["model_version"] == ""
    model = card_row(_card("a", 0.7, "model"))
    assert model["churn_source"] == "model" and model["model_version"] == "svc-v7"
    old = {k: v for k, v in _card("a", 0.7, "model").items() if k != "churn_source"}
    assert card_row(old)["churn_source"] == "model"                                # a card from before: the model's


def test_rule_rows_are_not_graded_as_the_model(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    # the model's own scores rank perfectly; the rule's scores (same model_version on the card) rank backwards
    for cid, p in {"a": 0.9, "b": 0.2, "c": 0.8, "d": 0.1}.items():
        assert log.record_card("ds", _card(cid, p, "model"))
    for cid, p in {"x": 0.1, "y": 0.9, "w": 0.2, "z": 0.8}.items():
        assert log.record_card("ds", _card(cid, p, "recency"))
    assert log.join_outcomes("ds", TX, 30) == 8
    frame = log.frame("ds").set_index("customer_id")
    assert set(frame.loc[["x", "y", "w", "z"], "churn_source"]) == {"recency"}
    assert set(frame.loc[["x", "y", "w", "z"], "model_version"]) == {""}
    assert set(frame.loc[["a", "b", "c", "d"], "churn_source"]) == {"model"}
    assert set(frame.loc[["a", "b", "c", "d"], "model_version"]) == {"svc-v7"}

    real = log.realised("ds")
    model = real[real["model_version"] == "svc-v7"]
    assert len(model) == 1 and model["n"].item() == 4 and model["roc_auc"].item() == 1.0   # own rows only
    rule = real[real["churn_source"] == "recency"]
    assert rule["predicted_by"].item() == "Recency rule (used while the model is withheld)"
    assert rule["n"].item() == 4 and rule["roc_auc"].item() == 0.0 and rule["model_version"].item() == ""
    assert real.loc[real["baseline"].astype(bool), "n"].item() == 8              # the month's base rate: everyone
    assert log.calibration("ds", "svc-v7")["n"].sum() == 4


def test_batch_rows_without_a_source_are_the_models_and_a_bad_source_is_refused(tmp_path):
    from pipeline.errors import DataError

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    rows = pd.DataFrame({"customer_id": ["a", "b"], "score": [0.9, 0.2], "band": ["High", "Low"],
                         "model_version": "ds/v1", "as_of": DAY})
    assert log.record("ds", rows) == 2
    assert set(log.frame("ds")["churn_source"]) == {"model"}
    with pytest.raises(DataError, match="churn_source"):
        log.record("ds", rows.assign(churn_source="guess"))


def test_an_old_log_is_migrated_once_and_its_rows_read_as_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:                                   # the table as shipped before churn_source
        conn.execute(text("CREATE TABLE health_predictions (id INTEGER PRIMARY KEY, dataset VARCHAR(64) NOT NULL, "
                          "customer_id VARCHAR(64) NOT NULL, model_version VARCHAR(96) NOT NULL, score FLOAT NOT "
                          "NULL, band VARCHAR(16) NOT NULL, as_of DATETIME NOT NULL, scored_at DATETIME NOT NULL, "
                          "source VARCHAR(16) NOT NULL, outcome INTEGER, outcome_at DATETIME)"))
        for cid, p in {"a": 0.9, "b": 0.2, "c": 0.8, "d": 0.1}.items():
            conn.execute(text("INSERT INTO health_predictions (dataset, customer_id, model_version, score, band, "
                              "as_of, scored_at, source) VALUES ('ds', :c, 'old-v1', :p, 'x', '2022-03-01 00:00:00',"
                              " '2022-03-02 00:00:00', 'service')"), {"c": cid, "p": p})
    engine.dispose()
    log = PredictionLog(url)
    assert "churn_source" in {c["name"] for c in inspect(log.engine).get_columns("health_predictions")}
    with log.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM health_predictions_schema ORDER BY version")
                            ).scalars().all() == [1, 2]
    assert log.record_card("ds", _card("x", 0.3, "recency"))
    assert log.join_outcomes("ds", TX, 30) == 5
    real = log.realised("ds").set_index("predicted_by")
    assert real.loc["old-v1", "n"] == 4 and real.loc["old-v1", "roc_auc"] == 1.0 and \
        real.loc["old-v1", "churn_source"] == "model"
    assert real.loc[SOURCE_LABELS["recency"], "n"] == 1
    from pipeline.health import predictions

    predictions._ready.discard(log.engine)                          # opened again: nothing more to apply
    assert predictions._upgrade(log.engine) == 2


# ---- the service: what its cards log -------------------------------------------------------------------------------

def _with_auc(churn, auc: float):
    """The dataset's churn model with a given out-of-time ROC AUC (what decides shown / withheld)."""
    return dataclasses.replace(churn, pipeline=copy.deepcopy(churn.pipeline), metrics=dict(churn.metrics,
                                                                                           roc_auc=auc))


@pytest.mark.parametrize("auc", [0.01, 0.999], ids=["withheld", "shown"])
def test_served_cards_log_their_source_and_only_the_models_count_for_it(auc, tmp_path):
    from fastapi.testclient import TestClient

    from pipeline.customer import build_scorer
    from pipeline.customer.classifier import default_churn_classifier
    from pipeline.health.predictions import served_log
    from service.core.config import Settings
    from service.main import create_app
    from service.scoring import Scorer
    from service_support import make_key, small_dataset

    ds = small_dataset()
    churn = _with_auc(default_churn_classifier(ds.transactions, ds.returns), auc)
    scorer = Scorer("sample-small", build_scorer(ds, churn=churn))
    withheld = auc < 0.5
    assert scorer.model.decisions.risk.uses_model is not withheld
    url = f"sqlite:///{tmp_path / 'service.db'}"
    key = {"Authorization": f"Bearer {make_key(url, 'all')}"}
    ids = list(scorer.model.table.index[:40])
    with TestClient(create_app(Settings(database_url=url, log_requests=False), scorer=scorer)) as client:
        cards = [client.get(f"/customers/{cid}", headers=key).json() for cid in ids]
        served_log(client.app.state.engine).flush()
    source = scorer.model.decisions.risk.source
    assert {c["churn_source"] for c in cards} == {source}
    log = PredictionLog(url).frame(scorer.dataset_id)
    assert len(log) == len(ids) and set(log["churn_source"]) == {source}
    assert set(log["model_version"]) == ({""} if withheld else {cards[0]["model_version"]})

    # a purchase window after the data's end: outcomes join, and the model is graded on its own rows only
    as_of = pd.Timestamp(cards[0]["as_of"])
    later = pd.DataFrame({"customer_id": [str(c) for c in ids[::2]] + ["nobody"],
                          "date": [as_of + pd.Timedelta(days=3)] * len(ids[::2]) + [as_of + pd.Timedelta(days=400)]})
    plog = PredictionLog(url)
    assert plog.join_outcomes(scorer.dataset_id, later, scorer.model.settings.horizon_days) == len(ids)
    real = plog.realised(scorer.dataset_id)
    graded = real[~real["baseline"].astype(bool)]
    assert len(graded) == 1 and graded["n"].item() == len(ids)
    if withheld:
        assert graded["predicted_by"].item() == SOURCE_LABELS[source] and graded["model_version"].item() == ""
        assert not (real["model_version"] == cards[0]["model_version"]).any()
    else:
        assert graded["churn_source"].item() == "model"
        assert graded["model_version"].item() == graded["predicted_by"].item() == cards[0]["model_version"]


def test_model_health_names_the_rules_points_apart_from_the_models(tmp_path):
    from app.health_ui import auc_figure, realised_display

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    for cid, p in {"a": 0.9, "b": 0.2}.items():
        log.record_card("ds", _card(cid, p, "model"))
    for cid, p in {"x": 0.1, "y": 0.9}.items():
        log.record_card("ds", _card(cid, p, "recency"))
    log.join_outcomes("ds", TX, 30)
    real = log.realised("ds")
    names = {t.name for t in auc_figure(None, real).data}
    assert names == {"realised: svc-v7", f"realised: {SOURCE_LABELS['recency']}"}
    shown = realised_display(real)
    assert "Predicted by" in shown and "Model version" not in shown
    assert SOURCE_LABELS["recency"] in set(shown["Predicted by"])


def test_concurrent_openers_apply_each_log_migration_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.health.predictions import _upgrade
    from pipeline.health.sources import make_engine

    engines = [make_engine(f"sqlite:///{tmp_path / 'race.db'}") for _ in range(6)]   # six processes' engines
    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(_upgrade, engines)) == [2] * 6
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM health_predictions_schema")).scalar() == 2
    for engine in engines:
        engine.dispose()
