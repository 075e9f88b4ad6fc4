"""Model health: the live churn model (the one the Model lab, the Customer page and the service name), its ROC AUC
over time (backtest and realised), drift of today's customers, the retraining history with each decision and its
reason, the actions Retrain now / Roll back, and one closing verdict line per model."""
import streamlit as st

from app import health_ui, state, ui
from pipeline.config import HealthConfig
from pipeline.health import HealthStore
from pipeline.models import REGISTRY

ds = ui.require_dataset()
ws = state.workspace()
store = HealthStore(ws, ds.id)
st.title("Model health")
st.caption("Is the churn score still right? A model is graded out of time at many past dates (backtest), on the "
           "predictions it actually made once their outcome is known (realised), and today's customers are compared "
           "with the ones it learned from (drift). Retraining promotes a new model only when it is better.")

c1, c2, _ = st.columns([1, 1, 3])
with c1:
    health_ui.retrain_button(ws, ds)
with c2:
    health_ui.rollback_button(store)
health_ui.model_in_use(ws, ds)

over_time, drift_tab, history_tab, refresh_tab = st.tabs(["ROC AUC over time", "Drift", "Retraining history",
                                                          "Refreshes"])

with over_time:
    choices = [k for k, spec in REGISTRY.items() if not spec.baseline]
    with st.form("health_backtest"):
        a, b = st.columns([3, 1])
        models = a.multiselect("Models", choices, default=[HealthConfig.challenger_model],
                               format_func=lambda k: REGISTRY[k].label, key="health_models")
        every = b.number_input("Days between cutoffs", 7, 365, HealthConfig.backtest_every_days, step=1,
                               key="health_every")
        run = st.form_submit_button("Run backtest", icon=":material/timeline:")
    st.caption("At each cutoff a model learns from the customers as of H days earlier (labelled by the H days that "
               "followed) and is graded on the customers as of the cutoff. The majority class and BG/NBD rows are "
               "the baselines (dashed): a model below them is not worth using.")
    if run:
        health_ui.run_backtest(store, ds, models, int(every))
    backtest = store.backtest()
    realised = health_ui.realised_table(ds.id)
    fig = health_ui.auc_figure(backtest, realised)
    if fig is None:
        st.info("No backtest yet: pick models and press **Run backtest**.", icon=":material/info:")
    else:
        st.plotly_chart(fig, key="health_auc")
    if backtest:
        st.caption(f"Backtest of {len(backtest['settings']['cutoffs'])} cutoffs every "
                   f"{backtest['settings']['every_days']} days, {backtest['seconds']:.0f} s.")
        for note in backtest.get("notes", []):
            st.caption(note)
        bt = health_ui.backtest_display(backtest["table"])
        st.dataframe(bt, hide_index=True, key="health_bt_table", column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in bt.columns if bt[c].dtype.kind == "f"})
    st.markdown("**Realised** (logged predictions whose horizon has passed; baseline = everyone at the base rate)")
    if realised.empty:
        st.caption("No realised outcomes yet: predictions are logged by the scoring service and by `refresh`; "
                   "their outcome is joined once H days of later purchases are in the data.")
    else:
        st.dataframe(health_ui.realised_display(realised), hide_index=True, key="health_realised")

with drift_tab:
    table = health_ui.drift(store, ds)
    if table is None:
        st.info("Drift compares today's customers with the population the model in use learned from; promote a "
                "model first (**Retrain now**).", icon=":material/info:")
    else:
        flagged = table[table["drifted"]]
        threshold = HealthConfig.psi_threshold
        if flagged.empty:
            st.success(f"No feature has drifted (every population stability index is at most {threshold}).")
        else:
            st.warning(f"{len(flagged)} of {len(table)} features or mixes moved (PSI > {threshold}). Retrain when "
                       "the changes are about behaviour, not only the passing of time (tenure grows by itself).")
            for msg in flagged["message"].head(8):
                st.markdown(f"- {ui.md(msg)}")
        st.dataframe(health_ui.drift_display(table), hide_index=True, key="health_drift", column_config={
            "Population stability index": st.column_config.NumberColumn(format="%.3f"),
            "In training": st.column_config.NumberColumn(format="%.4g"),
            "Today": st.column_config.NumberColumn(format="%.4g")})

with history_tab:
    hist = health_ui.history_table(store)
    if hist.empty:
        st.caption("No retraining yet.")
    else:
        st.dataframe(hist, hide_index=True, key="health_history", column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in ("Challenger ROC AUC", "Champion ROC AUC",
                                                                      "BG/NBD ROC AUC")})

with refresh_tab:
    refreshes = health_ui.refresh_table(store)
    if refreshes.empty:
        st.caption("No refresh yet. A dataset created from a file path or a database query can be refreshed on a "
                   "schedule: `python -m pipeline refresh --dataset NAME` (e.g. from cron).")
    else:
        st.dataframe(refreshes, hide_index=True, key="health_refreshes")

lines = health_ui.verdicts(ws, ds, backtest)
if lines:
    st.markdown("**Verdict** (each model against the best simple rule on the same out-of-time customers)")
    for line in lines:
        st.markdown(f"- {ui.md(line)}")
