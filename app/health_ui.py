"""UI pieces of the Model health page: the live model (named as every page names it, :mod:`pipeline.health.live`),
the AUC-over-time chart, drift, history, the closing verdict lines and the actions.

Data work lives in :mod:`pipeline.health`; this module turns its records into tables, a Plotly figure and a few
Streamlit calls. Every ``DataError`` becomes an ``st.error`` here, never a traceback.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.lab_charts import worded
from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.health import HealthStore, live
from pipeline.store import Dataset, Workspace

__all__ = ["model_in_use", "retrain_button", "rollback_button", "run_backtest", "auc_figure", "realised_table",
           "drift", "history_table", "refresh_table", "verdicts"]

DEFAULT = "the default model"


def model_in_use(ws: Workspace, ds: Dataset) -> None:
    """Which churn model scores customers now (the live model), with its out-of-time numbers."""
    current = live.live_model(ws, ds.id, ds.kind)
    st.caption(ui_md(current.sentence()))
    if current.is_default:
        st.info("No churn model has been put live for this dataset yet: the Customer page uses the default churn "
                "model (a logistic regression). Press **Retrain now** to train a challenger and compare it with the "
                "baseline, or put a saved model live in the Model lab.", icon=":material/info:")
        return
    store = HealthStore(ws, ds.id)
    meta = store.version_metadata(current.model_id)
    check = live.baseline_check(ws, ds, current.model_id, grade_now=False)
    m, s = meta.metrics, meta.extra.get("settings", {})
    cols = st.columns(4)
    cols[0].metric("Model in use", f"{current.ref}: {meta.model_label}")
    cols[1].metric("ROC AUC (out of time)", _fmt(m.get("roc_auc")))
    cols[2].metric("Churners in the riskiest 10%", _fmt(m.get("top_precision"), pct=True))
    cols[3].metric(f"{check.rule or 'BG/NBD'} ROC AUC (simple rule)", _fmt(check.rule_value))
    st.caption(f"Trained on customers as of {s.get('train_cutoff')}, graded on customers as of {s.get('cutoff')} "
               f"({s.get('horizon')}-day horizon); saved {meta.created[:10]}. Earlier versions: "
               f"{', '.join(v for v in store.versions() if v != current.ref) or 'none'}.")
    if check.loses:
        st.warning(ui_md(f"The live model does not beat its simple rule: {check.loss()}. The cards do not use its "
                         "churn risk: they show the simple rule's and say which."), icon=":material/warning:")


def ui_md(text: object) -> str:
    from app.ui import md

    return md(text)


def _fmt(value, pct: bool = False) -> str:
    if not isinstance(value, (int, float)) or pd.isna(value):
        return "n/a"
    return f"{value:.0%}" if pct else f"{value:.3f}"


def retrain_button(ws: Workspace, ds: Dataset, horizon: int = HORIZON_DAYS) -> None:
    from pipeline.health.retrain import retrain

    if st.button("Retrain now", icon=":material/model_training:", key="health_retrain",
                 help="Train a challenger on the newest labelled window and compare it with the model in use and "
                      "the BG/NBD baseline on the same latest window; promoted only if better by the margin."):
        try:
            with st.spinner("Training the challenger and grading both models…"):
                entry = retrain(ws, ds, horizon_days=horizon)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            return
        (st.success if entry["promoted"] else st.warning)(entry["reason"])


def rollback_button(store: HealthStore) -> None:
    history = store.pointer().get("history", [])
    if st.button("Roll back", icon=":material/undo:", key="health_rollback", disabled=len(history) < 2,
                 help="Put the previous champion back in use (recorded in the history)."):
        try:
            entry = store.rollback()
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            return
        st.success(entry["reason"])


def run_backtest(store: HealthStore, ds: Dataset, models: list[str], every: int,
                 horizon: int = HORIZON_DAYS) -> None:
    """Run the backtest and keep it in the dataset's health folder (it survives page switches and restarts)."""
    from pipeline.health.backtest import run_backtest as backtest

    bar = st.progress(0.0, text="Backtest")
    try:
        res = backtest(ds.transactions, ds.returns, horizon, every, models,
                       progress=lambda i, n, label: bar.progress(i / max(n, 1), text=label))
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    finally:
        bar.empty()
    store.save_backtest({"settings": res.settings, "notes": res.notes, "seconds": res.seconds,
                         "table": res.records()})


def auc_figure(backtest: dict | None, realised: pd.DataFrame) -> go.Figure | None:
    """ROC AUC per cutoff and model (baselines dashed) and realised ROC AUC per month of logged predictions."""
    fig = go.Figure()
    if backtest:
        table = pd.DataFrame(backtest["table"])
        for label, g in table.groupby("label", sort=False):
            fig.add_scatter(x=pd.to_datetime(g["cutoff"]), y=g["roc_auc"], name=label, mode="lines+markers",
                            line={"dash": "dash" if g["baseline"].iloc[0] else "solid"})
    models = realised[~realised["baseline"].astype(bool)] if not realised.empty else realised
    by = "predicted_by" if "predicted_by" in models else "model_version"    # a model version, or the rule's name
    for name, g in models.groupby(by) if not models.empty else []:
        fig.add_scatter(x=pd.to_datetime(g["month"]), y=g["roc_auc"], name=f"realised: {name}",
                        mode="markers", marker={"size": 12, "symbol": "diamond"})
    if not fig.data:
        return None
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="random (0.5)")
    return fig.update_layout(title="ROC AUC over time (backtest by cutoff, realised by month)",
                             xaxis_title="cutoff / month of the prediction", yaxis_title="ROC AUC",
                             legend={"orientation": "h", "yanchor": "top", "y": -0.2})


def realised_display(table: pd.DataFrame) -> pd.DataFrame:
    """The realised table in words: who made the predictions (a model version, or the rule used while the model
    is withheld) names each row; the codes behind it are dropped."""
    return worded(table.drop(columns=[c for c in ("churn_source", "model_version") if c in table and
                                      "predicted_by" in table]))


def realised_table(dataset_id: str) -> pd.DataFrame:
    """Realised quality of logged predictions (empty when the database cannot be opened)."""
    from pipeline.health.predictions import PredictionLog

    try:
        return PredictionLog().realised(dataset_id)
    except Exception as e:  # noqa: BLE001 - a missing or locked database must not break the page
        st.caption(f"The prediction log could not be read ({type(e).__name__}).")
        return pd.DataFrame(columns=["month", "model_version", "baseline", "roc_auc"])


def drift(store: HealthStore, ds: Dataset) -> pd.DataFrame | None:
    """Drift of today's customers against the champion's training population (None without a champion)."""
    from pipeline.health.drift import current_population, drift_table

    mid = store.champion_id()
    if mid is None:
        return None
    meta = store.version_metadata(mid)
    profile = (meta.extra.get("health") or {}).get("population")
    if not profile:
        return None
    X, seg = current_population(ds.transactions, ds.returns, meta.extra.get("settings", {}).get("horizon",
                                                                                               HORIZON_DAYS))
    return drift_table(profile, X, seg)


_DECISIONS = {"rollback": "rolled back", "put live": "put live by hand"}


def drift_display(table: pd.DataFrame) -> pd.DataFrame:
    """The drift table for people: feature names and headers in words."""
    from pipeline.labels import label

    shown = table.assign(feature=table["feature"].map(label))
    return shown.rename(columns={"feature": "What changed", "kind": "Kind", "psi": "Population stability index",
                                 "drifted": "Drifted", "training": "In training", "today": "Today",
                                 "message": "In plain words"})


def backtest_display(rows: list[dict]) -> pd.DataFrame:
    """The backtest table for people: the model's name, its role and the measures, headers in words."""
    table = pd.DataFrame(rows)
    table = table.drop(columns=[c for c in ("model",) if c in table.columns]).rename(columns={"label": "model"})
    table["baseline"] = table["baseline"].map({True: "simple rule (baseline)", False: "model"})
    return worded(table.rename(columns={"baseline": "role"}))


def history_table(store: HealthStore) -> pd.DataFrame:
    """Retraining decisions, models put live by hand and roll backs, newest first: the model in use before and
    after (never "None": the default model is named), both models' ROC AUC and the reason."""
    rows = []
    for d in reversed(store.decisions()):
        m = d.get("metrics") or {}
        auc = {k: (m.get(k) or {}).get("roc_auc") for k in ("challenger", "champion", "baseline")}
        action = d.get("action")
        decision = _DECISIONS.get(action) or ("promoted" if d.get("promoted") else
                                              "kept the champion" if d.get("champion") else "kept the default model")
        before = d.get("champion") if action == "retrain" else d.get("from")
        rows.append({"Time": d.get("time"), "Decision": decision,
                     "Model tried": d.get("challenger") or d.get("to") or DEFAULT,
                     "In use before": before or DEFAULT, "In use after": d.get("in_use") or DEFAULT,
                     "Challenger ROC AUC": auc["challenger"], "Champion ROC AUC": auc["champion"],
                     "BG/NBD ROC AUC": auc["baseline"], "Reason": d.get("reason") or ""})
    return pd.DataFrame(rows)


def verdicts(ws: Workspace, ds: Dataset, backtest: dict | None) -> list[str]:
    """One line per model on this page: every saved version (and a live Model-lab model) against its simple rule
    on the window it was graded on, and every backtested model on average over the cutoffs."""
    from pipeline.models.lab import verdict

    store, lines = HealthStore(ws, ds.id), []
    live_id = store.champion_id()
    ids = [store.model_id(v) for v in store.versions()]
    ids += [live_id] if live_id and live_id not in ids else []
    for mid in ids:
        try:
            meta = store.version_metadata(mid)
            check = live.baseline_check(ws, ds, mid, grade_now=False)
        except DataError:
            continue
        name = f"{store.ref(mid)} {live.model_title(meta)}" + (" (live)" if mid == live_id else "")
        lines.append(verdict(name, check.value, check.rule or "BG/NBD", check.rule_value, check.metric))
    if backtest:
        table = pd.DataFrame(backtest["table"])
        means = table.groupby(["label", "baseline"], sort=False)["roc_auc"].mean().reset_index()
        rules = means[means["baseline"].astype(bool)].dropna(subset=["roc_auc"])
        if not rules.empty:
            best = rules.loc[rules["roc_auc"].idxmax()]
            rule = "BG/NBD" if "BG/NBD" in str(best["label"]) else str(best["label"])
            n = table["cutoff"].nunique()
            for _, row in means[~means["baseline"].astype(bool)].iterrows():
                lines.append(verdict(f"{row['label']} (backtest, average of {n} cutoffs)", row["roc_auc"], rule,
                                     float(best["roc_auc"]), "roc_auc"))
    return lines


def refresh_table(store: HealthStore) -> pd.DataFrame:
    keep = ("time", "source", "lines_before", "lines_after", "new_customers", "customers_gone", "segment_moves",
            "outcomes_joined", "seconds")
    rows = [{k: r.get(k) for k in keep} | {"decision": (r.get("decision") or {}).get("reason") or ""}
            for r in reversed(store.refreshes())]
    return worded(pd.DataFrame(rows))
