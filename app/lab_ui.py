"""Streamlit pieces of the Model lab page: what to predict (churn, segment, or a column of a customer table, with
their options), a training run drawn as a status box with a progress bar, the verdict lines, and the saved models
with the one action that puts a model live (``pipeline.health.live``: the same pointer Model health, the Customer
page and the service read; a model that loses to its simple rule needs a confirmation that states the loss)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import keys, state, ui
from app.lab_charts import worded
from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.health import live
from pipeline.models import lab, saved
from pipeline.store import Dataset, Workspace

__all__ = ["target_options", "train", "verdict_lines", "saved_models"]


def _churn_options() -> dict:
    c1, c2 = st.columns(2)
    horizon = c1.slider("Horizon H (days)", 7, 365, HORIZON_DAYS, key="lab_horizon",
                        help="Churned = no purchase in the H days after the cutoff.")
    cutoff = c2.date_input("Test cutoff (optional)", value=None, key="lab_cutoff", format="YYYY-MM-DD",
                           help="Default: H days before the end of the data. Training uses the cutoff H days earlier.")
    st.caption("Out-of-time evaluation: models learn from customers as they were at end − 2H, labelled by whether "
               "they bought in the next H days, and are tested on customers as of end − H (labelled by the last H "
               "days), a later period than the one they learned from, as in real use.")
    return {"horizon": horizon, "cutoff": str(cutoff) if cutoff else None}


def _column_options(ds: Dataset) -> dict:
    table = ds.customers
    columns = [c for c in table.columns if c != "customer_id"]
    target = st.selectbox("Target column", columns, key="lab_target")
    features = st.multiselect("Features", [c for c in columns if c != target], key=f"lab_features_{target}",
                              default=lab.default_features(table, target))
    c1, c2 = st.columns(2)
    numeric = c1.multiselect("Treat as numeric", features, key=f"lab_numeric_{target}",
                             help="Force columns to be read as numbers; text values are refused with an error.")
    categorical = c2.multiselect("Treat as categories", features, key=f"lab_categorical_{target}",
                                 help="Number codes (e.g. education 1-4) one-hot encoded instead of used as numbers.")
    return {"target": target, "features": features, "numeric": numeric, "categorical": categorical}


def target_options(ds: Dataset) -> dict:
    """What to predict and its options, as the first part of ``lab.run_comparison``'s options."""
    if ds.kind == "transactions":
        kind = st.radio("Predict", ["churn", "segment"], format_func=lab.TARGET_KINDS.get, horizontal=True,
                        key="lab_kind")
    else:
        kind = "column"
    options: dict = {"kind": kind}
    if kind == "churn":
        options |= _churn_options()
    elif kind == "segment":
        options["drop_leaky"] = st.toggle("Drop the features the segment is computed from", value=True,
                                          key="lab_drop")
    else:
        options |= _column_options(ds)
    return options


def train(ds: Dataset, options: dict) -> lab.LabResult | None:
    """Run the comparison under a status box with a progress bar; on bad input say why and return None."""
    error = result = None
    with st.status("Training…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(step: int, total: int, label: str) -> None:
            bar.progress(step / total, text="Done" if label == "done" else f"Step {step + 1} of {total}: {label}")

        try:
            result = lab.run_comparison(ds, lab.LabOptions(**options), progress, rules=state.segment_rules())
            status.update(label="Training finished", state="complete", expanded=False)
        except DataError as e:
            error = str(e)
            status.update(label="Training stopped: nothing was changed", state="error", expanded=False)
    if error:
        st.error(error, icon=":material/error:")
    return result


def verdict_lines(lines: list[str]) -> None:
    """The closing verdict: one plain line per model (``pipeline.models.lab.verdict``)."""
    st.markdown("**Verdict** (each model against the best simple rule on the same test customers)")
    for line in lines:
        st.markdown(f"- {ui.md(line)}")


def _put_live(ws: Workspace, ds: Dataset, mid: str, confirmed: bool = False) -> None:
    try:
        with st.spinner("Checking the model against its simple rule…"):
            entry = live.put_live(ws, ds, mid, confirmed=confirmed)
    except live.NeedsConfirmation as e:
        st.session_state[keys.MODEL] = (ds.id, mid, "confirm", str(e))
        return
    except DataError as e:
        st.session_state.pop(keys.MODEL, None)
        st.error(str(e), icon=":material/error:")
        return
    st.session_state[keys.MODEL] = (ds.id, mid, "done", entry["reason"])
    st.rerun()


def _confirmation(ws: Workspace, ds: Dataset, mid: str) -> None:
    """The pending confirmation of putting ``mid`` live (nothing changes until **Put it live anyway**)."""
    pending = st.session_state.get(keys.MODEL)
    if not pending or tuple(pending[:3]) != (ds.id, mid, "confirm"):
        return
    st.warning(ui.md(pending[3]), icon=":material/warning:")
    c1, c2, _ = st.columns([1, 1, 2])
    if c1.button("Put it live anyway", key="lab_confirm_live", type="primary"):
        _put_live(ws, ds, mid, confirmed=True)
    if c2.button("Cancel", key="lab_cancel_live"):
        st.session_state.pop(keys.MODEL, None)
        st.rerun()


_SAVED_HEADERS = {"name": "Name", "model": "Model", "target": "Predicts", "kind": "Kind", "dataset": "Trained on",
                  "created": "Saved (UTC)", "status": "Status"}


def saved_models(ws: Workspace, ds: Dataset) -> None:
    """The saved models, the live one named and pre-selected, and the actions on the picked one."""
    current = live.live_model(ws, ds.id, ds.kind)
    st.caption(ui.md(current.sentence()))
    done = st.session_state.get(keys.MODEL)
    if done and done[0] == ds.id and done[2] == "done":
        st.success(ui.md(done[3]), icon=":material/check:")
        st.session_state.pop(keys.MODEL, None)
    models = saved.list_models(ws, current.model_id)
    if not models:
        st.caption("No saved models in this workspace yet.")
        return
    refused = live.refused_ids(ws, ds.id)
    table = pd.DataFrame(models).drop(columns=["id", "live"]).assign(
        created=[str(m["created"])[:16].replace("T", " ") for m in models],
        status=["live" if m["live"] else ("refused by Retrain now" if m["id"] in refused else "") for m in models])
    st.dataframe(worded(table.rename(columns=_SAVED_HEADERS)), hide_index=True, key="lab_saved_table")
    names = {m["id"]: f"{m['name']} · {m['model']} · {m['target']}" + (" · live" if m["live"] else "")
             for m in models}
    ids = list(names)
    mid = st.selectbox("Saved model", ids, format_func=names.get, key="lab_saved_pick",
                       index=ids.index(current.model_id) if current.model_id in ids else None,
                       placeholder="Pick a saved model")
    if mid is None:
        return
    c1, c2, c3 = st.columns(3)
    load = c1.button("Load and score this dataset", key="lab_load", icon=":material/play_arrow:")
    if c2.button(f"Put live for {ds.name}", key="lab_activate", icon=":material/person_search:",
                 disabled=mid == current.model_id,
                 help="The live model scores the Customer page's cards, the Campaigns page's risk bands and the "
                      "scoring service for this dataset."):
        _put_live(ws, ds, mid)
    if c3.button("Delete", key="lab_delete", icon=":material/delete:"):
        try:
            saved.delete_model(ws, mid)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
        else:
            st.rerun()
    _confirmation(ws, ds, mid)
    if load:
        _score(ws, ds, mid)


def _score(ws: Workspace, ds: Dataset, mid: str) -> None:
    try:
        pipe, meta = saved.load_lab_model(ws, mid)
        scores = saved.score_dataset(pipe, meta, ds)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        return
    st.caption(f"Trained {meta.created[:10]} to predict {meta.target}.")
    with st.expander("Details for analysts"):
        st.caption(f"Training data hash {meta.data_hash[:12]}; trained {meta.created}.")
    st.dataframe(scores, key="lab_scores")
    ui.downloads(scores.reset_index(), f"scores_{mid}", "lab_scores_dl")
