"""Streamlit inputs of the learned coupon policy (Campaigns page): picking a coupon-response history, the form that
trains the acceptance model, and the what-if for one person. Learning itself lives in ``pipeline.coupons``
(through the cached :func:`app.state.learn_coupon_policy`); trained policies are kept in the session by
:func:`app.state.keep_learned`."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import state
from app.customer_ui import learned_box
from pipeline.coupons import yes_no_columns
from pipeline.errors import DataError
from pipeline.store import Workspace

__all__ = ["response_history", "train_form", "person_panel"]


def response_history(ws: Workspace) -> tuple[pd.DataFrame | None, str | None, str]:
    """(table, source key, source label) of the coupon-response history uploaded or picked among the workspace's
    customer tables; table and key are None while there is none. Raises DataError for an unreadable file."""
    customer_sets = {m["id"]: m["name"] for m in ws.list_datasets() if m["kind"] == "customers"}
    src = st.radio("Response history", ["Upload a file", "A saved customer table"], horizontal=True, key="learn_src")
    if src == "Upload a file":
        f = st.file_uploader("Response file (CSV, Excel, Parquet)", type=["csv", "xlsx", "xls", "parquet"],
                             key="learn_upload")
        if f is None:
            return None, None, src
        digest, table = state.response_table(f.getvalue(), f.name)
        return table, f"upload:{digest}", src
    if not customer_sets:
        st.info("No saved customer tables; upload one on the Upload page or upload a file here.")
        return None, None, src
    pick = st.selectbox("Dataset", list(customer_sets), format_func=customer_sets.get, key="learn_ds")
    return ws.load_dataset(pick).customers.drop(columns=["customer_id"]), f"dataset:{pick}", src


def train_form(table: pd.DataFrame, source: str, label: str) -> None:
    """Outcome column, folds and model of the acceptance model, and the button that trains it and puts the
    policy in use (or says why the table has nothing to learn from)."""
    yes_no = yes_no_columns(table)
    if not yes_no:
        st.error(f"This file has no yes/no column (values such as 1/0, yes/no, true/false), so there is no "
                 f"outcome to learn from. Columns: {', '.join(map(str, table.columns[:30]))}. Add an 'accepted' "
                 "column with 1 for accepted and 0 for declined.", icon=":material/error:")
        return
    c1, c2, c3 = st.columns(3)
    target = c1.selectbox("Accepted (yes/no) column", ["(detect)"] + yes_no, key="learn_target")
    folds = c2.selectbox("Cross-validation folds", [5, 3], key="learn_folds")
    model = c3.selectbox("Model", [None, "logreg", "forest", "xgboost"], key="learn_model",
                         format_func=lambda m: "One-hot + XGBoost" if m is None else m)
    if st.button("Train acceptance model", type="primary", key="learn_train", icon=":material/school:"):
        try:
            with st.spinner("Cross-validating and fitting the acceptance model…"):
                state.keep_learned(source, state.learn_coupon_policy(
                    label, table, None if target == "(detect)" else target, folds, model))
            st.rerun()
        except DataError as e:
            st.error(str(e), icon=":material/error:")


@st.fragment
def person_panel(policy: Any) -> None:
    """What the learned policy (a ``LearnedCouponPolicy``) offers one person; moving an input reruns only this."""
    st.markdown("**What if: a person**")
    person, cols = {}, st.columns(4)
    for i, c in enumerate(policy.feature_columns_):
        choices, default = policy.choices_.get(c), policy.defaults_[c]
        with cols[i % 4]:
            if isinstance(choices, list):
                pos = choices.index(str(default)) if str(default) in choices else 0
                person[c] = st.selectbox(c, choices, index=pos, key=f"lp_{c}")
            else:
                person[c] = st.number_input(c, value=float(default), key=f"lp_{c}")
    rec = policy.recommend(person)
    learned_box(rec)
    st.dataframe(rec["table"], hide_index=True, key="learn_table")
