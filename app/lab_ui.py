"""Streamlit inputs of the Model lab page: what to predict (churn, segment, or a column of a customer table, with
their options) and a training run drawn as a status box with a progress bar. The comparison itself is
``pipeline.models.lab.run_comparison``; its options are the dict built here."""
from __future__ import annotations

import streamlit as st

from app import state
from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.models import lab
from pipeline.store import Dataset

__all__ = ["target_options", "train"]


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
