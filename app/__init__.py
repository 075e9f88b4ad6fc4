"""Streamlit-side glue shared by the pages: session keys, cached loaders (state) and small widgets (ui)."""
