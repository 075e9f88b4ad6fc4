"""First open: what the app does in one paragraph and the three steps to a first result (sample -> overview ->
segments), shown on the Upload page. Fixed text only (no user strings)."""
from __future__ import annotations

import streamlit as st

__all__ = ["INTRO", "STEPS", "intro"]

INTRO = ("This app turns your sales export (one row per order line: customer, date, amount) into customer "
         "groups you can act on: who your best customers are, who is slipping away, how each month's new "
         "customers keep buying, and which customers to send an offer — with a control group that shows "
         "whether the offer worked. Your data stays in a private workspace on this server; nothing is shared.")

STEPS = ("**1. Load data** — press *Load Synthetic gift shop* below to try it, or upload your own file.",
         "**2. Overview** — customers, revenue and repeat buyers at a glance, with the trend per month.",
         "**3. RFM segments** — every customer in a named group (Champions, At Risk, …) with what to do "
         "for each; download the lists for a campaign.")


def intro(has_data: bool) -> None:
    """The paragraph and the three steps; folded away once the workspace has data."""
    box = st.container(border=True) if not has_data else st.expander("What this app does", expanded=False)
    with box:
        st.markdown(INTRO)
        st.markdown("  \n".join(STEPS))
