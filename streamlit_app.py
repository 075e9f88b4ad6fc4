"""Router: page config, access gate, shared sidebar, navigation. Pages live in pages/, logic in pipeline/."""
from pathlib import Path

import streamlit as st

from app import state, ui

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="Customer segments", page_icon=":material/groups:", layout="wide")
ui.style()                                              # the app's one stylesheet: no text cut off

if ui.access_gate():
    loaded = state.current_dataset_id() is not None      # with data, the app opens on the Overview
    customer = st.Page(PAGES / "customer.py", title="Customer", icon=":material/person_search:")
    pages = [
        st.Page(PAGES / "upload.py", title="Upload", icon=":material/upload:", default=not loaded),
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=loaded),
        st.Page(PAGES / "rfm.py", title="RFM segments", icon=":material/donut_small:"),
        st.Page(PAGES / "movement.py", title="Cohorts & movement", icon=":material/trending_up:"),
        st.Page(PAGES / "clusters.py", title="Clusters", icon=":material/scatter_plot:"),
        st.Page(PAGES / "model_lab.py", title="Model lab", icon=":material/model_training:"),
        st.Page(PAGES / "model_health.py", title="Model health", icon=":material/monitor_heart:"),
        customer,
        st.Page(PAGES / "campaigns.py", title="Campaigns", icon=":material/campaign:"),
        # links saved before the split (/lookup?customer=…) still open the card
        st.Page(lambda: st.switch_page(customer, query_params=st.query_params.to_dict()), title="Customer lookup",
                url_path="lookup", visibility="hidden"),
    ]
    nav = st.navigation(pages)
    ui.sidebar()
    nav.run()
