"""Model lab: pick a target and models, train and compare them against baselines, save one for customer lookup."""
import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from app import state, ui
from pipeline import lab
from pipeline.errors import DataError
from pipeline.models import IMBALANCE_OPTIONS, REGISTRY

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Model lab")

# ---- what to predict ----------------------------------------------------------------------------------------------
if ds.kind == "transactions":
    kind = st.radio("Predict", ["churn", "segment"], format_func=lab.TARGET_KINDS.get, horizontal=True, key="lab_kind")
else:
    kind = "column"
options: dict = {"kind": kind}
if kind == "churn":
    c1, c2 = st.columns(2)
    options["horizon"] = c1.slider("Horizon H (days)", 7, 365, 90, key="lab_horizon",
                                   help="Churned = no purchase in the H days after the cutoff.")
    cutoff = c2.date_input("Test cutoff (optional)", value=None, key="lab_cutoff",
                           help="Default: H days before the end of the data. Training uses the cutoff H days earlier.")
    options["cutoff"] = str(cutoff) if cutoff else None
    st.caption("Out-of-time evaluation: models learn from customers as they were at end − 2H, labelled by whether "
               "they bought in the next H days, and are tested on customers as of end − H (labelled by the last H "
               "days), a later period than the one they learned from, as in real use.")
elif kind == "segment":
    options["drop_leaky"] = st.toggle("Drop the features the segment is computed from", value=True, key="lab_drop")
else:
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
    options |= {"target": target, "features": features, "numeric": numeric, "categorical": categorical}

# ---- models and training (only on the button: widget changes never retrain) ---------------------------------------
choices = [k for k, spec in REGISTRY.items() if not spec.baseline]
with st.form("lab_train"):
    models = st.multiselect("Models", choices, default=[k for k in choices if REGISTRY[k].fast],
                            format_func=lambda k: REGISTRY[k].label, key="lab_models")
    st.caption("Baselines always run. SVM, the Keras network and the stacked Keras + SVM model are opt-in: on a few "
               "thousand customers they add about 1, 6 and 16 s (plus a few seconds to load TensorFlow).")
    c1, c2 = st.columns(2)
    imbalance = c1.selectbox("Class imbalance", list(IMBALANCE_OPTIONS), key="lab_imbalance",
                             help="  \n".join(f"**{k}**: {v}" for k, v in IMBALANCE_OPTIONS.items()))
    folds = c2.number_input("k-fold CV on the training set (0 = off)", 0, 10, 0, key="lab_cv")
    train = st.form_submit_button("Train", type="primary", icon=":material/model_training:")

results = st.session_state.setdefault(state.LAB_RESULTS, {})
key = state.dataset_key()
if train:
    options |= {"models": models, "imbalance": imbalance, "cv_folds": int(folds) or None}
    error = None
    with st.status("Training…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(step: int, total: int, label: str) -> None:
            bar.progress(step / total, text="Done" if label == "done" else f"Step {step + 1} of {total}: {label}")

        try:
            results[key] = (options, lab.run_comparison(ds, options, progress, rules=state.segment_rules()))
            status.update(label="Training finished", state="complete", expanded=False)
        except DataError as e:
            error = str(e)
            status.update(label="Training stopped: nothing was changed", state="error", expanded=False)
    if error:
        st.error(error, icon=":material/error:")

# ---- results ------------------------------------------------------------------------------------------------------
used, res = results.get(key, (None, None))
if res is None:
    st.info("Choose a target and models, then press **Train**.")
else:
    st.subheader(f"Results: {res.target}")
    if any(used.get(k) != v for k, v in options.items()):
        st.caption("These are the results of the last training; press **Train** to apply the changed settings.")
    st.caption(f"{len(res.X_train):,} training and {len(res.X_test):,} test rows, {len(res.train.feature_types)} "
               f"features, {res.seconds:.1f} s. Click a column header to sort.")
    for note in res.notes:
        (st.warning if res.kind == "segment" else st.info)(note, icon=":material/info:")
    table = res.table.reset_index()
    table.insert(1, "role", np.where(table.pop("baseline"), "BASELINE", "model"))
    st.dataframe(table, hide_index=True, key="lab_table", column_config={
        "role": st.column_config.TextColumn("role", help="Baseline rows are the reference every model must beat."),
        **{c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if table[c].dtype.kind == "f"}})
    labels = res.table["model"].to_dict()
    classes = [str(c) for c in res.train.labels]
    cls = None if len(classes) == 2 else st.selectbox("Class for the curves (one-vs-rest)", classes,
                                                      key="lab_curve_class")
    tab_cm, tab_curves, tab_cal, tab_imp = st.tabs(["Confusion matrix", "ROC and PR curves", "Calibration",
                                                    "Permutation importance"])
    with tab_cm:
        pick = st.selectbox("Model", list(labels), format_func=labels.get, key="lab_cm_model",
                            index=list(labels).index(res.best) if res.best in labels else 0)
        fig = px.imshow(res.train.reports[pick].confusion, text_auto=True, color_continuous_scale="Blues",
                        title=f"Confusion matrix: {labels[pick]} (test set)")
        st.plotly_chart(fig.update_xaxes(type="category").update_yaxes(type="category"), width="stretch")
        if res.kind == "churn":
            st.caption("1 = churned (no purchase in the H days after the cutoff), 0 = bought again.")
    axis_labels = {"fpr": "false positive rate", "tpr": "true positive rate", "importance_mean": "drop in ROC AUC"}
    below = {"legend": {"orientation": "h", "yanchor": "top", "y": -0.2, "title": None}}
    with tab_curves:
        c1, c2 = st.columns(2)
        roc = px.line(lab.curve_frame(res, "roc", cls), x="fpr", y="tpr", color="model", labels=axis_labels,
                      title="ROC curves (test set)")
        pr = px.line(lab.curve_frame(res, "pr", cls), x="recall", y="precision", color="model",
                     title="Precision-recall curves (test set)")
        c1.plotly_chart(roc.update_layout(**below), width="stretch")
        c2.plotly_chart(pr.update_layout(**below), width="stretch")
    with tab_cal:
        fig = px.line(lab.curve_frame(res, "calibration", cls), x="mean_predicted", y="fraction_positive",
                      color="model", markers=True, title="Calibration: predicted probability vs observed share")
        fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "grey"})
        fig.update_layout(**below)
        st.plotly_chart(fig, width="stretch")
    with tab_imp:
        if res.importance is not None:
            st.plotly_chart(px.bar(res.importance.head(15).iloc[::-1], x="importance_mean", y="feature",
                                   error_x="importance_std", orientation="h", labels=axis_labels,
                                   title=f"Permutation importance of the best model, {labels[res.best]} "
                                         "(drop in ROC AUC when a column is shuffled)"), width="stretch")

    with st.form("lab_save"):
        fitted = list(res.train.pipelines)
        chosen = st.selectbox("Model to save", fitted, format_func=labels.get, key="lab_save_model",
                              index=fitted.index(res.best) if res.best in fitted else 0)
        name = st.text_input("Name", key="lab_save_name", placeholder="e.g. churn-xgboost-90d")
        if st.form_submit_button("Save model", icon=":material/save:"):
            try:
                st.success(f"Saved as '{lab.save_lab_model(ws, res, chosen, name, ds)}'.", icon=":material/check:")
            except DataError as e:
                st.error(str(e), icon=":material/error:")

# ---- saved models -------------------------------------------------------------------------------------------------
st.subheader("Saved models")
saved = lab.list_models(ws)
if not saved:
    st.caption("No saved models in this workspace yet.")
else:
    st.dataframe(pd.DataFrame(saved), hide_index=True, key="lab_saved_table")
    names = {m["id"]: f"{m['name']} · {m['model']} · {m['target']}" for m in saved}
    mid = st.selectbox("Saved model", list(names), format_func=names.get, key="lab_saved_pick")
    c1, c2, c3 = st.columns(3)
    load = c1.button("Load and score this dataset", key="lab_load", icon=":material/play_arrow:")
    if c2.button("Use for customer lookup", key="lab_activate", icon=":material/person_search:"):
        lab.set_active_model(ws, mid)
        st.session_state[state.MODEL] = mid
        st.rerun()
    if c3.button("Delete", key="lab_delete", icon=":material/delete:"):
        lab.delete_model(ws, mid)
        st.rerun()
    if load:
        try:
            pipe, meta = lab.load_lab_model(ws, mid)
            scores = lab.score_dataset(pipe, meta, ds)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
        else:
            st.caption(f"Trained {meta.created} on data hash {meta.data_hash[:12]}; target {meta.target}.")
            st.dataframe(scores, key="lab_scores")
            ui.downloads(scores.reset_index(), f"scores_{mid}", "lab_scores_dl")
