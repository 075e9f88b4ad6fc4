"""Router: page config, access gate, shared sidebar, navigation. Pages live in pages/, logic in pipeline/."""
from pathlib import Path

import streamlit as st

from app import state, ui

PAGES = Path(__file__).resolve().parent / "pages"
#: (file in pages/ = address path, title, icon) of every page, in the sidebar's order
PAGE_LIST = [("upload", "Upload", ":material/upload:"), ("overview", "Overview", ":material/dashboard:"),
             ("rfm", "RFM segments", ":material/donut_small:"), ("movement", "Cohorts & movement", ":material/trending_up:"),
             ("clusters", "Clusters", ":material/scatter_plot:"), ("model_lab", "Model lab", ":material/model_training:"),
             ("model_health", "Model health", ":material/monitor_heart:"),
             ("customer", "Customer", ":material/person_search:"), ("campaigns", "Campaigns", ":material/campaign:")]
LEGACY = "lookup"       # links saved before the split (/lookup?customer=…) still open the card


def only(draw, every_address: bool) -> None:
    """A navigation that draws only ``draw`` and lists nothing, so no file of pages/ runs or is listed (without an
    ``st.navigation`` call Streamlit would list and run them, past the gate): at every page's address, or at one
    (the sign-in: a page address there would make AppTest's reruns run that page's file)."""
    paths = [(f, t) for f, t, _ in PAGE_LIST] + [(LEGACY, "Customer lookup")] if every_address else [("sign-in", "")]
    st.navigation([st.Page(draw, title=t or "Sign in", url_path=f) for f, t in paths], position="hidden").run()


st.set_page_config(page_title="Customer segments", page_icon=":material/groups:", layout="wide")
ui.style()                                              # the app's one stylesheet: no text cut off

if not ui.access_gate():                                # the sign-in form (drawn by the gate) and nothing else
    only(lambda: None, every_address=False)
elif state.refused_address():                           # ?ws= names no workspace: the message; nothing is made
    only(state.show_refused, every_address=True)
else:
    start = "overview" if state.current_dataset_id() is not None else "upload"   # with data, open on the Overview
    pages = {f: st.Page(PAGES / f"{f}.py", title=t, icon=i, default=f == start) for f, t, i in PAGE_LIST}
    legacy = st.Page(lambda: st.switch_page(pages["customer"], query_params=st.query_params.to_dict()),
                     title="Customer lookup", url_path=LEGACY, visibility="hidden")
    nav = st.navigation([*pages.values(), legacy])
    ui.sidebar()
    nav.run()
