"""The currency picker of the Upload page: shows the dataset's guessed currency and why, and stores a correction.

Every money figure of the app reads the currency through :func:`app.state.currency`; a dataset whose spend is
counted in items (a basket log) has none, and the picker then says so instead.
"""
from __future__ import annotations

import streamlit as st

from app import state
from pipeline.currency import currencies
from pipeline.errors import DataError
from pipeline.store import Dataset

__all__ = ["currency_picker"]


def currency_picker(ds: Dataset) -> None:
    """A select box with the current dataset's currency; a change is saved with the dataset at once."""
    if ds.kind != "transactions":
        return
    code = state.currency()
    if code is None:
        st.caption("This file has no amounts or prices: spend is counted in items bought, so no currency is shown.")
        return
    options = {c.code: c for c in currencies()}
    picked = st.selectbox("Currency of the amounts", list(options), index=list(options).index(code),
                          format_func=lambda c: options[c].label(), key=f"currency_{ds.id}",
                          help="Guessed from the file: currency symbols in the amounts, else the customers' "
                               "countries. Every money figure in the app uses it.")
    reason = ds.extra.get("currency_reason")
    if picked == code and reason and ds.extra.get("currency") == code:
        st.caption(f"Guessed because {reason}.")
    if picked != code:
        try:
            state.set_currency(picked)
        except DataError as e:
            st.error(str(e), icon=":material/error:")
            return
        st.rerun()
