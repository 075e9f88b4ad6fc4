"""Router: page config, access gate, shared sidebar, navigation. Pages live in pages/, logic in pipeline/."""
from pathlib import Path

import streamlit as st

from app import ui

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="Customer segments", page_icon=":material/groups:", layout="wide")

if ui.access_gate():
    customer = st.Page(PAGES / "customer.py", title="Customer", icon=":material/person_search:")
    pages = [
        st.Page(PAGES / "upload.py", title="Upload", icon=":material/upload:", default=True),
        st.Page(PAGES / "rfm.py", title="RFM segments", icon=":material/donut_small:"),
        st.Page(PAGES / "clusters.py", title="Clusters", icon=":material/scatter_plot:"),
        st.Page(PAGES / "model_lab.py", title="Model lab", icon=":material/model_training:"),
        customer,
        st.Page(PAGES / "campaigns.py", title="Campaigns", icon=":material/campaign:"),
        # links saved before the split (/lookup?customer=…) still open the card
        st.Page(lambda: st.switch_page(customer, query_params=st.query_params.to_dict()), title="Customer lookup",
                url_path="lookup", visibility="hidden"),
    ]
    nav = st.navigation(pages)
    ui.sidebar()
    nav.run()
