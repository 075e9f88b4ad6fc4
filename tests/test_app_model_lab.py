"""AppTest: the Model lab page through the real router (train, compare, survive page switches, save, put live)."""
from __future__ import annotations

import re

import pytest

from conftest import dataset
from pipeline.health.live import live_model
from pipeline.models import saved
from pipeline.store import Workspace

TRAIN = "FormSubmitter:lab_train-Train"
SAVE = "FormSubmitter:lab_save-Save model"


def _lab(at):
    at.switch_page("pages/model_lab.py").run()
    assert not at.exception
    return at


def _sample(at):
    at.button(key="sample_synthetic").click().run()
    assert not at.exception
    return _lab(at)


def _table(at):
    return next(df.value for df in at.dataframe if "Role" in df.value.columns)


MAJORITY, BGNBD = "Majority class (baseline)", "BG/NBD expected purchases (baseline)"


def _plain(text: str) -> str:
    """Markdown-escaped page text as read."""
    return re.sub(r"\\(.)", r"\1", text)


def test_needs_data_first(at):
    _lab(at)
    assert "No data yet" in at.info[0].value


@pytest.mark.slow
def test_churn_fast_models_save_activate_and_score(at):
    _sample(at)
    assert at.multiselect(key="lab_models").value == ["logreg", "tree", "forest", "xgboost"]
    assert at.slider(key="lab_horizon").value == 90
    assert any("end − 2H" in c.value for c in at.caption)
    at.button(key=TRAIN).click().run()
    assert not at.exception and not at.error
    table = _table(at)
    assert list(table["Model"]) == [MAJORITY, "Logistic regression", "Decision tree", "Random forest", "XGBoost", BGNBD]
    assert list(table.loc[table["Role"] == "simple rule (baseline)", "Model"]) == [MAJORITY, BGNBD]
    assert table.set_index("Model").loc["XGBoost", "ROC AUC"] > table.set_index("Model").loc[MAJORITY, "ROC AUC"]
    assert any("BTYD fit" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) >= 4
    opening = next(m.value for m in at.markdown if "ranks riskiest" in m.value)      # the plain sentence first
    assert opening.startswith("**Of the 500 customers ") and "against" in opening and "BG/NBD baseline" in opening

    at.switch_page("pages/rfm.py").run()                    # results survive a page switch, no retraining
    _lab(at)
    assert list(_table(at)["Model"]) == list(table["Model"])

    assert at.selectbox(key="lab_save_model").value == "logreg"           # the best model is offered first
    at.selectbox(key="lab_save_model").set_value("xgboost")
    at.text_input(key="lab_save_name").input("churn xgb")
    at.button(key=SAVE).click().run()
    assert not at.exception and "churn-xgb" in at.success[0].value
    ws = Workspace(at.session_state["workspace_id"])
    assert [m["id"] for m in saved.list_models(ws)] == ["churn-xgb"]
    assert any("Default churn model (logistic regression)" in _plain(c.value) for c in at.caption)
    assert at.selectbox(key="lab_saved_pick").value is None          # the live model (the default) is not saved
    at.selectbox(key="lab_saved_pick").set_value("churn-xgb").run()
    at.button(key="lab_activate").click().run()                     # XGBoost loses to BG/NBD on the sample
    assert not at.exception and "is below BG/NBD's" in _plain(at.warning[-1].value)
    assert live_model(ws, at.session_state["dataset_id"]).is_default
    at.button(key="lab_confirm_live").click().run()
    assert live_model(ws, at.session_state["dataset_id"]).model_id == "churn-xgb"
    assert any("XGBoost 'churn xgb'" in _plain(c.value) for c in at.caption)
    assert at.selectbox(key="lab_saved_pick").value == "churn-xgb"
    at.button(key="lab_load").click().run()
    assert not at.exception and not at.error
    scores = at.dataframe[-1].value
    customers = ws.load_dataset(at.session_state["dataset_id"]).transactions["customer_id"].nunique()
    assert len(scores) == customers and list(scores.columns) == ["predicted", "p_0", "p_1"]   # live churn risk
    at.button(key="lab_delete").click().run()
    assert "is the live model" in at.error[0].value and [m["id"] for m in saved.list_models(ws)] == ["churn-xgb"]


def test_segment_target_warns_and_too_long_horizon_is_refused(at):
    _sample(at)
    at.multiselect(key="lab_models").set_value(["logreg"])
    at.slider(key="lab_horizon").set_value(365)
    at.button(key=TRAIN).click().run()
    assert not at.exception and "longer than the data" in at.error[0].value
    assert "Choose a target and models" in at.info[-1].value          # nothing trained, nothing kept
    at.radio(key="lab_kind").set_value("segment").run()
    at.button(key=TRAIN).click().run()
    assert not at.exception and not at.error
    assert any("computed from the R" in w.value for w in at.warning)
    assert any("the best model here, gets a balanced accuracy of" in m.value for m in at.markdown)
    assert list(_table(at)["Model"]) == [MAJORITY, "Logistic regression"]
    assert at.selectbox(key="lab_curve_class").options[:2] == ["About to Sleep", "At Risk"]   # one-vs-rest curves


def test_customer_table_target_and_bad_target(at):
    data = dataset("Mall_Customers.csv").read_bytes()
    at.file_uploader(key="uploader").upload("Mall_Customers.csv", data, "text/csv")
    at.run()
    _lab(at)
    at.selectbox(key="lab_target").set_value("Genre").run()
    assert at.multiselect(key="lab_features_Genre").value == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    at.multiselect(key="lab_models").set_value(["logreg", "tree"])
    at.button(key=TRAIN).click().run()
    assert not at.exception and not at.error
    table = _table(at)
    assert list(table["Model"]) == [MAJORITY, "Logistic regression", "Decision tree"]

    at.selectbox(key="lab_target").set_value("Age").run()
    assert any("results of the last training" in c.value for c in at.caption)     # no retraining on a widget change
    at.button(key=TRAIN).click().run()
    assert not at.exception and "distinct values" in at.error[0].value
    at.text_input(key="lab_save_name").input("")
    at.button(key=SAVE).click().run()
    assert "Give the model a name" in at.error[0].value
    assert saved.list_models(Workspace(at.session_state["workspace_id"])) == []
