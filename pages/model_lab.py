"""Model lab: pick a target and models, train and compare them against the simple rules, end with one verdict line
per model, save one and put it live (the one live model of the dataset, shared with Model health, the Customer page,
Campaigns and the scoring service)."""
import streamlit as st

from app import state, ui
from app import lab_charts as charts
from app import lab_ui
from pipeline.models import lab, saved
from pipeline.errors import DataError
from pipeline.models import IMBALANCE_OPTIONS, REGISTRY

ds = ui.require_dataset(kind=None)
ws = state.workspace()
st.title("Model lab")

# ---- what to predict ----------------------------------------------------------------------------------------------
options = lab_ui.target_options(ds)

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

if train:
    options |= {"models": models, "imbalance": imbalance, "cv_folds": int(folds) or None}
    result = lab_ui.train(ds, options)
    if result is not None:
        state.keep_lab_run(state.LabRun(options, result))

# ---- results ------------------------------------------------------------------------------------------------------
run = state.lab_run()
if run is None:
    st.info("Choose a target and models, then press **Train**.")
else:
    res = run.result
    st.subheader(f"Results: {res.target}")
    st.markdown(f"**{ui.md(lab.headline(res)['sentence'])}**")
    if any(run.options.get(k) != v for k, v in options.items()):
        st.caption("These are the results of the last training; press **Train** to apply the changed settings.")
    st.caption(f"{len(res.X_train):,} training and {len(res.X_test):,} test rows, {len(res.train.feature_types)} "
               f"features, {res.seconds:.1f} s. Click a column header to sort.")
    for note in res.notes:
        (st.warning if res.kind == "segment" else st.info)(note, icon=":material/info:")
    table = charts.results_table(res)
    st.dataframe(table, hide_index=True, key="lab_table", column_config={
        "Role": st.column_config.TextColumn(help="Baseline rows are the simple rules every model must beat."),
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
        st.plotly_chart(charts.confusion_figure(res, pick, labels[pick]), width="stretch")
        if res.kind == "churn":
            st.caption("1 = churned (no purchase in the H days after the cutoff), 0 = bought again.")
    with tab_curves:
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.roc_figure(res, cls), width="stretch")
        c2.plotly_chart(charts.pr_figure(res, cls), width="stretch")
    with tab_cal:
        st.plotly_chart(charts.calibration_figure(res, cls), width="stretch")
    with tab_imp:
        if res.importance is not None:
            st.plotly_chart(charts.importance_figure(res, labels[res.best]), width="stretch")

    lab_ui.verdict_lines(lab.verdicts(res))
    with st.form("lab_save"):
        fitted = list(res.train.pipelines)
        chosen = st.selectbox("Model to save", fitted, format_func=labels.get, key="lab_save_model",
                              index=fitted.index(res.best) if res.best in fitted else 0)
        name = st.text_input("Name", key="lab_save_name", placeholder="e.g. churn-xgboost-90d")
        if st.form_submit_button("Save model", icon=":material/save:"):
            try:
                st.success(f"Saved as '{saved.save_lab_model(ws, res, chosen, name, ds)}'.", icon=":material/check:")
            except DataError as e:
                st.error(str(e), icon=":material/error:")

# ---- saved models and the live model --------------------------------------------------------------------------------
st.subheader("Saved models")
lab_ui.saved_models(ws, ds)
