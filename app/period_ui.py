"""The analysis-period picker in the sidebar (start and end dates) for a transactions dataset. The choice is saved
per dataset in the workspace (``pipeline.period.save_period``) so it survives a reload, and the resolved period is
left in ``st.session_state[keys.PERIOD]`` for the pages that respect it (Overview, RFM, Cohorts & movement), which
read it through :func:`app.state.analysis_period`. A side left at the data's first or last day is saved open, so
it follows the data when the dataset is uploaded again with more purchases.
"""
from __future__ import annotations

from datetime import date

import streamlit as st

from app import keys, state
from pipeline.period import AnalysisPeriod, data_bounds, load_period, save_period
from pipeline.store import Workspace

__all__ = ["period_sidebar"]


def _initial(saved: AnalysisPeriod, first: date, last: date) -> tuple[date, date]:
    start = min(max(saved.start or first, first), last)
    end = max(min(saved.end or last, last), first)
    return (start, end) if start <= end else (first, last)


def _reset(ws: Workspace, dataset_id: str, first: date, last: date) -> None:
    st.session_state[keys.period_widget(dataset_id, "start")] = first
    st.session_state[keys.period_widget(dataset_id, "end")] = last
    save_period(ws, dataset_id, AnalysisPeriod())


def period_sidebar(ws: Workspace, kind: str | None) -> None:
    """Draw the start/end pickers for the current dataset (inside ``st.sidebar``) and set ``keys.PERIOD`` to
    ``{dataset id: period}``; a dataset that is not transactions has no period."""
    ds = state.current_dataset() if kind == "transactions" else None
    if ds is None or ds.transactions is None or ds.transactions.empty:
        st.session_state[keys.PERIOD] = {}
        return
    first, last = data_bounds(ds.transactions)
    k_start, k_end = keys.period_widget(ds.id, "start"), keys.period_widget(ds.id, "end")
    for key, value in zip((k_start, k_end), _initial(load_period(ws, ds.id), first, last)):
        if key not in st.session_state:          # a new session starts from the saved period
            st.session_state[key] = value
    st.subheader("Analysis period")
    # one under the other: side by side, the default sidebar cuts the dates off ("2010-12-0")
    start = st.date_input("From", min_value=first, max_value=last, key=k_start, format="YYYY-MM-DD")
    end = st.date_input("To", min_value=first, max_value=last, key=k_end, format="YYYY-MM-DD")
    if not start or not end or start > end:
        st.warning("The period's start is after its end: showing all dates.", icon=":material/warning:")
        start, end = first, last
    else:       # saved when it changes (sides at the data's bounds stay open)
        chosen = AnalysisPeriod(None if start == first else start, None if end == last else end)
        if chosen != load_period(ws, ds.id):
            save_period(ws, ds.id, chosen)
    st.caption("Overview, RFM segments and Cohorts & movement use the purchases in this period.")
    if (start, end) != (first, last):
        st.button("All dates", key=f"period_reset_{ds.id}", on_click=_reset, args=(ws, ds.id, first, last),
                  icon=":material/date_range:")
    st.session_state[keys.PERIOD] = {ds.id: AnalysisPeriod(start, end)}
