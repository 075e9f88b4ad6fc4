"""The Upload page's "from a database query" form: a dataset read by SQL that remembers its source for refresh.

The analyst names a connection (an environment variable or a ``[connections.NAME] url`` entry of
``.streamlit/secrets.toml``) instead of typing a URL, so no credentials reach the workspace, the logs or the page.
Reading, cleaning and the refusals belong to :mod:`pipeline.health.sources`; saving to :func:`app.upload_ui.save`.
"""
from __future__ import annotations

import streamlit as st

from app import upload_ui
from pipeline.health.sources import Source, source_dataset

__all__ = ["database_form"]


def database_form() -> None:
    """A toggle that opens the form; on success the new dataset is current and the page reruns."""
    if not st.toggle("Read from a database query instead", key="db_open",
                     help="Create a dataset from a SQL query; it can be refreshed on a schedule."):
        return
    with st.container(border=True):
        with st.form("db_source"):
            name = st.text_input("Dataset name", key="db_name", placeholder="Orders from the shop database")
            secret = st.text_input("Connection name", key="db_secret", placeholder="SALES_DB",
                                   help="The NAME of an environment variable, or of a `[connections.NAME]` entry "
                                        "with `url = \"postgresql://…\"` in `.streamlit/secrets.toml`, holding a "
                                        "SQLAlchemy URL. The URL itself is never typed here nor stored.")
            query = st.text_area("SQL query", key="db_query", placeholder="SELECT * FROM order_lines",
                                 help="One row per order line, like an uploaded file; it runs read-only.")
            create = st.form_submit_button("Create dataset", icon=":material/database:")
        st.caption("The dataset remembers the query and the connection name: `python -m pipeline refresh --dataset "
                   "NAME` re-reads it (e.g. from cron), and the Model health page shows what changed.")
    if create:
        def make():
            return source_dataset(Source("query", query=query, url_secret=secret.strip()), name)

        if upload_ui.save(make, name or "the query"):
            st.rerun()
