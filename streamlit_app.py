"""Router: page config, access gate, shared sidebar, navigation. Pages live in pages/, logic in pipeline/."""
import streamlit as st

from app import ui

st.set_page_config(page_title="Customer segments", page_icon=":material/groups:", layout="wide")

if ui.access_gate():
    pages = [
        st.Page("pages/upload.py", title="Upload", icon=":material/upload:", default=True),
        st.Page("pages/rfm.py", title="RFM segments", icon=":material/donut_small:"),
        st.Page("pages/clusters.py", title="Clusters", icon=":material/scatter_plot:"),
        st.Page("pages/model_lab.py", title="Model lab", icon=":material/model_training:"),
        st.Page("pages/lookup.py", title="Customer lookup", icon=":material/person_search:"),
    ]
    nav = st.navigation(pages)
    ui.sidebar()
    nav.run()
