"""One truth about the live model (issue 19, items 6 and 9), through the real router on the synthetic sample.

On the sample the random forest (the Retrain-now challenger) has ROC AUC 0.896 on the latest out-of-time window and
BG/NBD 0.903, so *Retrain now* refuses it - the case the issue saw. After that: the saved-models list must not
pre-select the refused challenger; Model lab, Model health and the Customer page must name the same live model;
putting the refused model live must show a confirmation that states the loss and change nothing until confirmed;
going live must not make churn risk silently vanish from the card. Both pages end with one verdict line per model,
their tables have worded headers and the retraining history never says "None".
"""
from __future__ import annotations

import json
import re

import pytest

from pipeline.store import Workspace

DS = "sample-synthetic"
V1 = f"churn-{DS}-v1"
RAW = re.compile(r"_|^(roc|pr|auc|mcc|brier|psi|key|T = 0)$", re.I)
LIVE = "Live model (Customer page, Campaigns, scoring service): "


def _plain(text) -> str:
    return re.sub(r"\\(.)", r"\1", str(text))


def _texts(at) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "info", "warning", "success", "error"):
        out += [_plain(e.value) for e in getattr(at, kind)]
    return out + [f"{m.label}: {_plain(m.value)}" for m in at.metric]


def _live_sentence(at) -> str:
    return next(t for t in _texts(at) if t.startswith(LIVE))


def _go(at, page: str):
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    return at


def _pointer(at) -> dict:
    path = Workspace(at.session_state["workspace_id"]).path / "health" / DS / "champion.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _headers(at) -> list[str]:
    return [str(c) for df in at.dataframe for c in df.value.columns]


def _card(at):
    _go(at, "customer")
    box = at.selectbox(key="lookup_customer")
    box.set_value(box.options[0]).run()
    assert not at.exception
    return at


@pytest.fixture
def learns_nothing(monkeypatch):
    """Retraining's challenger is trained on shuffled labels: a model that learned nothing (ROC AUC ~0.5), so the
    flow of a challenger that loses to BG/NBD is walked on the sample, where every real family now beats it."""
    import numpy as np

    from scorer_support import SHARED_ENV

    from pipeline.customer import classifier
    from pipeline.models import build_pipeline

    real = classifier.fit_on_slices

    def shuffled(slices, cutoff, name, settings, config):
        _, X, y = real(slices, cutoff, name, settings, config)
        types = {c: ("numeric" if c != "country" else "categorical") for c in X.columns}
        noise = np.random.default_rng(0).permutation(y.to_numpy())
        return build_pipeline(name, types, settings).fit(X, noise), X, y

    monkeypatch.setattr(classifier, "fit_on_slices", shuffled)
    # every scorer fitted meanwhile holds a model that learned nothing: none may be shared with the run's other tests
    monkeypatch.delenv(SHARED_ENV, raising=False)


@pytest.mark.slow
def test_refused_challenger_one_live_model_named_everywhere_and_a_confirmed_loss(at, learns_nothing):
    at.button(key="sample_synthetic").click().run()
    assert not at.exception and at.session_state["dataset_id"] == DS
    _go(at, "model_health")
    at.button(key="health_retrain").click().run()
    assert not at.exception
    refusal = _plain(at.warning[0].value)
    assert refusal.startswith("Not promoted: the challenger's ROC AUC 0.")
    assert "does not beat the BG/NBD baseline" in refusal
    assert _pointer(at).get("model_id") is None

    # the refused challenger is listed, but neither live nor pre-selected; every page names the default
    _go(at, "model_lab")
    assert at.selectbox(key="lab_saved_pick").value is None
    saved = next(df.value for df in at.dataframe if "Status" in df.value.columns)
    assert list(saved["Status"]) == ["refused by Retrain now"]
    lab_says = _live_sentence(at)
    assert lab_says.endswith("Default churn model (logistic regression).")
    assert _live_sentence(_go(at, "model_health")) == lab_says
    assert any("Default churn model" in t for t in _texts(_card(at)))

    # putting the refused, losing model live asks first, stating the loss, and changes nothing until confirmed
    _go(at, "model_lab")
    at.selectbox(key="lab_saved_pick").set_value(V1).run()
    at.button(key="lab_activate").click().run()
    assert not at.exception
    question = _plain(at.warning[-1].value)
    assert re.search(r"ROC AUC 0\.\d{3} is below BG/NBD's 0\.\d{3} .*— put it live anyway\?", question), question
    assert "Retrain now refused this model" in question
    assert _pointer(at).get("model_id") is None and _live_sentence(at) == lab_says
    at.button(key="lab_cancel_live").click().run()
    assert not any("put it live anyway" in t for t in _texts(at)) and _pointer(at).get("model_id") is None
    at.button(key="lab_activate").click().run()
    at.button(key="lab_confirm_live").click().run()
    assert not at.exception and _pointer(at)["model_id"] == V1

    # one live model, named the same on every page; the list pre-selects it
    lab_says = _live_sentence(at)
    title = lab_says[len(LIVE):].rsplit(" (", 1)[0]
    assert title.startswith("Random forest '") and "(v1)" in title
    assert at.selectbox(key="lab_saved_pick").value == V1
    assert not any(h for h in _headers(at) if RAW.search(h)), _headers(at)
    _go(at, "model_health")
    assert _live_sentence(at) == lab_says
    assert any(m.label == "Model in use" and m.value.startswith("v1") for m in at.metric)
    history = next(df.value for df in at.dataframe if "Reason" in df.value.columns)
    assert list(history["Decision"]) == ["put live by hand", "kept the default model"]
    assert not history.astype(str).isin(["None", "nan", "NaN"]).any().any()
    assert "the default model" in set(history["In use before"])
    verdicts = [t for t in _texts(at) if t.startswith("- ") and "simple rule" in t]
    assert verdicts and all(t.endswith(("— use it", "— keep the rule")) for t in verdicts)
    assert any(title in t and "does not beat the simple rule (BG/NBD" in t for t in verdicts), verdicts
    assert not any(h for h in _headers(at) if RAW.search(h)), _headers(at)

    # the card names the same model; churn risk does not vanish silently
    texts = _texts(_card(at))
    assert any(title in t for t in texts), [t for t in texts if "model" in t.lower() or "churn" in t.lower()]
    risk = next(m for m in at.metric if m.label == "Churn risk")
    assert "%" in risk.value                                     # a risk is shown (the model's or a named rule's)
    assert any(t.startswith("**Churn risk**") for t in texts)   # and the card says why it is not the model's

    # Campaigns: the churn bands name the same live model (and the rule they use instead)
    _go(at, "campaigns")
    at.radio(key="camp_by").set_value("Churn band").run()
    assert not at.exception and any(t.startswith(lab_says) for t in _texts(at)), _texts(at)


@pytest.mark.slow
def test_lab_verdict_lines_worded_headers_and_a_loss_needs_confirmation(at):
    at.button(key="sample_synthetic").click().run()
    _go(at, "model_lab")
    at.multiselect(key="lab_models").set_value(["logreg", "tree"])
    at.button(key="FormSubmitter:lab_train-Train").click().run()
    assert not at.exception and not at.error
    verdicts = [t for t in _texts(at) if t.startswith("- ") and "simple rule" in t]
    assert len(verdicts) == 2
    assert verdicts[0].startswith("- Logistic regression: beats the simple rule (BG/NBD) by ") and \
        verdicts[0].endswith("ROC AUC — use it")
    assert re.fullmatch(r"- Decision tree: does not beat the simple rule \(BG/NBD: ROC AUC 0\.\d{3} vs 0\.\d{3}\) "
                        r"— keep the rule", verdicts[1]), verdicts[1]
    assert not any(h for h in _headers(at) if RAW.search(h)), _headers(at)
    assert not any("T = 0" in t for t in _texts(at))

    at.selectbox(key="lab_save_model").set_value("tree")
    at.text_input(key="lab_save_name").input("churn tree")
    at.button(key="FormSubmitter:lab_save-Save model").click().run()
    at.selectbox(key="lab_saved_pick").set_value("churn-tree").run()
    at.button(key="lab_activate").click().run()
    assert "is below BG/NBD's" in _plain(at.warning[-1].value) and not _pointer(at)
    at.button(key="lab_cancel_live").click().run()
    assert not _pointer(at)
    _go(at, "model_health")
    assert _live_sentence(at).endswith("Default churn model (logistic regression).")


def test_the_service_loads_and_the_watcher_follows_the_same_pointer(tmp_path):
    """A model put live by hand in the Model lab is what the service loads at start and what its champion watcher
    picks up while running (one pointer, not a Model-lab document beside the champion)."""
    from health_data import cleaned
    from pipeline.health import ChampionWatcher
    from pipeline.health.live import live_model, put_live
    from pipeline.health.retrain import retrain
    from pipeline.models import ZooSettings, lab, saved
    from pipeline.store import Dataset
    from service.scoring import load_scorer

    root = tmp_path / "ws"
    ws = Workspace("w", root)
    tx, ret = cleaned("AAAAAA")
    ds = ws.save_dataset(Dataset("regimes", "Regimes", "transactions", transactions=tx, returns=ret))
    assert retrain(ws, ds, horizon_days=30)["promoted"]
    watcher = ChampionWatcher(ws, ds.id)
    res = lab.run_churn_comparison(tx, ret, 30, models=["logreg"], settings=ZooSettings(forest_trees=10))
    saved.save_lab_model(ws, res, "logreg", "by hand", ds)
    put_live(ws, ds, "by-hand", confirmed=True)
    assert live_model(ws, ds.id).title == "Logistic regression 'by hand'"
    pipe, meta = watcher.poll()
    assert meta.extra["name"] == "by hand" and watcher.poll() is None
    scorer = load_scorer("regimes", root, 30)
    assert scorer.churn_version == "by-hand"
    assert "Logistic regression 'by hand'" in scorer.model.decisions.churn.description
