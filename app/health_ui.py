"""UI pieces of the Model health page: the model in use, the AUC-over-time chart, drift, history and actions.

Data work lives in :mod:`pipeline.health`; this module turns its records into tables, a Plotly figure and a few
Streamlit calls. Every ``DataError`` becomes an ``st.error`` here, never a traceback.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.health import HealthStore
from pipeline.store import Dataset, Workspace

__all__ = ["model_in_use", "retrain_button", "rollback_button", "run_backtest", "auc_figure", "realised_table",
           "drift", "history_table", "refresh_table"]


def model_in_use(store: HealthStore) -> None:
    """Which churn model scores customers now, with its out-of-time numbers."""
    version = store.champion()
    if version is None:
        st.info("No churn model has been promoted for this dataset yet: the Customer page uses its default "
                "logistic regression. Press **Retrain now** to train a challenger and compare it with the baseline.",
                icon=":material/info:")
        return
    meta = store.version_metadata(version)
    m, s = meta.metrics, meta.extra.get("settings", {})
    cols = st.columns(4)
    cols[0].metric("Model in use", f"{version}: {meta.model_label}")
    cols[1].metric("ROC AUC (out of time)", _fmt(m.get("roc_auc")))
    cols[2].metric("Churners in the riskiest 10%", _fmt(m.get("top_precision"), pct=True))
    cols[3].metric("BG/NBD baseline ROC AUC", _fmt((meta.extra.get("health", {}).get("baseline") or {})
                                                   .get("roc_auc")))
    st.caption(f"Trained on customers as of {s.get('train_cutoff')}, graded on customers as of {s.get('cutoff')} "
               f"({s.get('horizon')}-day horizon); saved {meta.created[:10]}. Earlier versions: "
               f"{', '.join(v for v in store.versions() if v != version) or 'none'}.")


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
    for version, g in models.groupby("model_version") if not models.empty else []:
        fig.add_scatter(x=pd.to_datetime(g["month"]), y=g["roc_auc"], name=f"realised: {version}",
                        mode="markers", marker={"size": 12, "symbol": "diamond"})
    if not fig.data:
        return None
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="random (0.5)")
    return fig.update_layout(title="ROC AUC over time (backtest by cutoff, realised by month)",
                             xaxis_title="cutoff / month of the prediction", yaxis_title="ROC AUC",
                             legend={"orientation": "h", "yanchor": "top", "y": -0.2})


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

    version = store.champion()
    if version is None:
        return None
    meta = store.version_metadata(version)
    profile = (meta.extra.get("health") or {}).get("population")
    if not profile:
        return None
    X, seg = current_population(ds.transactions, ds.returns, meta.extra.get("settings", {}).get("horizon",
                                                                                               HORIZON_DAYS))
    return drift_table(profile, X, seg)


def history_table(store: HealthStore) -> pd.DataFrame:
    """Retraining decisions and roll backs, newest first, with both models' ROC AUC and the reason."""
    rows = []
    for d in reversed(store.decisions()):
        m = d.get("metrics") or {}
        auc = {k: (m.get(k) or {}).get("roc_auc") for k in ("challenger", "champion", "baseline")}
        rows.append({"time": d.get("time"), "action": d.get("action"),
                     "decision": "promoted" if d.get("promoted") else ("rolled back" if d.get("action") == "rollback"
                                                                       else "kept the champion"),
                     "challenger": d.get("challenger") or d.get("from"), "in use": d.get("in_use"),
                     "challenger AUC": auc["challenger"], "champion AUC": auc["champion"],
                     "BG/NBD AUC": auc["baseline"], "reason": d.get("reason")})
    return pd.DataFrame(rows)


def refresh_table(store: HealthStore) -> pd.DataFrame:
    keep = ("time", "source", "lines_before", "lines_after", "new_customers", "customers_gone", "segment_moves",
            "outcomes_joined", "seconds")
    rows = [{k: r.get(k) for k in keep} | {"decision": (r.get("decision") or {}).get("reason")}
            for r in reversed(store.refreshes())]
    return pd.DataFrame(rows)
