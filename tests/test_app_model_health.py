"""AppTest: the Model health page through the real router (model in use, retrain, drift, history, backtest, roll
back) on hand-made transactions with 90-day periods whose behaviour flips (tests/health_data.py)."""
from __future__ import annotations

import pytest

from health_data import cleaned
from pipeline.health import HealthStore
from pipeline.store import Dataset, Workspace

BACKTEST = "FormSubmitter:health_backtest-Run backtest"


def _health(at):
    at.switch_page("pages/model_health.py").run()
    assert not at.exception
    return at


def _save(at, regimes: str) -> HealthStore:
    """Save the regime data (90-day periods) as the workspace's only dataset, as a refresh would."""
    ws = Workspace(at.session_state["workspace_id"])
    tx, ret = cleaned(regimes, horizon=90)
    ws.save_dataset(Dataset("regimes", "Regimes", "transactions", transactions=tx, returns=ret))
    return HealthStore(ws, "regimes")


def test_needs_data_first(at):
    _health(at)
    assert "No data yet" in at.info[0].value


@pytest.mark.slow
def test_retrain_drift_history_backtest_and_rollback(at):
    store = _save(at, "AAAA")
    _health(at)
    assert any("No churn model has been put live" in i.value for i in at.info)
    assert at.button(key="health_rollback").disabled
    at.button(key="health_retrain").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Promoted: first model") for s in at.success)
    assert store.champion() == "v1"
    assert any(m.label == "Model in use" and m.value.startswith("v1") for m in at.metric)
    drift = next(df.value for df in at.dataframe if "Population stability index" in df.value.columns)
    assert "Segment" in set(drift["What changed"]) and drift["Population stability index"].notna().all()
    history = next(df.value for df in at.dataframe if "Reason" in df.value.columns)
    assert list(history["Decision"]) == ["promoted"] and list(history["In use before"]) == ["the default model"]

    at.multiselect(key="health_models").set_value(["logreg"])
    at.number_input(key="health_every").set_value(90)
    at.button(key=BACKTEST).click().run()
    assert not at.exception and not at.error
    table = next(df.value for df in at.dataframe if "Churners in the riskiest 10%" in df.value.columns)
    assert set(table.loc[table["Role"] == "simple rule (baseline)", "Model"]) == {
        "Majority class (baseline)", "BG/NBD expected purchases (baseline)", "Recency rule (baseline)"}
    assert len(at.get("plotly_chart")) == 1
    headers = [str(c) for df in at.dataframe for c in df.value.columns]
    assert not [h for h in headers if "_" in h or h in ("psi", "mcc", "brier", "roc_auc")], headers
    verdicts = [m.value for m in at.markdown if m.value.startswith("- ") and "simple rule" in m.value]
    assert any(v.startswith("- v1 ") and "\\(live\\)" in v for v in verdicts), verdicts
    assert any("Logistic regression \\(backtest, average of" in v for v in verdicts), verdicts
    assert all(v.endswith(("use it", "keep the rule")) for v in verdicts)

    _save(at, "AAAAABB")                                    # new data: the behaviour flipped
    at.run()
    at.button(key="health_retrain").click().run()
    assert not at.exception and store.champion() == "v2"
    assert any("vs the champion's" in s.value for s in at.success)
    assert any("moved (PSI > 0.2)" in w.value for w in at.warning)
    at.button(key="health_rollback").click().run()
    assert not at.exception and store.champion() == "v1" and store.decisions()[-1]["action"] == "rollback"
    history = next(df.value for df in at.dataframe if "Reason" in df.value.columns)
    assert list(history["Decision"]) == ["rolled back", "promoted", "promoted"]


def test_upload_creates_a_dataset_from_a_database_query(at, tmp_path, monkeypatch):
    import sqlalchemy as sa

    from health_data import regime_transactions

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    regime_transactions("AAAA").to_sql("order_lines", engine, index=False)
    engine.dispose()
    monkeypatch.setenv("SHOP_DB", f"sqlite:///{tmp_path / 'shop.db'}")
    at.switch_page("pages/upload.py").run()
    assert not at.text_input                                                         # closed until asked for
    at.toggle(key="db_open").set_value(True).run()
    at.text_input(key="db_name").input("Shop orders")
    at.text_input(key="db_secret").input(f"sqlite:///{tmp_path / 'shop.db'}")       # a URL is refused
    at.text_area(key="db_query").input("SELECT * FROM order_lines")
    at.button(key="FormSubmitter:db_source-Create dataset").click().run()
    assert not at.exception and "not the URL itself" in at.error[0].value
    at.text_input(key="db_secret").input("SHOP_DB")
    at.button(key="FormSubmitter:db_source-Create dataset").click().run()
    assert not at.exception and not at.error
    ws = Workspace(at.session_state["workspace_id"])
    (meta,) = ws.list_datasets()
    assert meta["name"] == "Shop orders" and meta["extra"]["source"] == {
        "kind": "query", "query": "SELECT * FROM order_lines", "url_secret": "SHOP_DB",
        "mapping": meta["extra"]["source"]["mapping"]}
    assert "sqlite://" not in (ws.path / "datasets" / meta["id"] / "meta.json").read_text()
