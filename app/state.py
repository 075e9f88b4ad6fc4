"""Session keys, the current workspace and dataset, and cached loaders.

Cache keys always include the workspace id and the dataset's saved version, so two sessions never share results
for different data, and a re-saved dataset is never served stale.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from pipeline.errors import DataError
from pipeline.store import Dataset, Workspace, new_workspace_id

# ---- session keys (the only place they are spelled) ------------------------------------------------------------
WORKSPACE = "workspace_id"
DATASET = "dataset_id"
UPLOAD_DONE = "upload_done"          # file_id of the last processed upload, so reruns don't redo it
STAGED = "staged_upload"             # dict(path, filename, error) of an upload waiting for a mapping fix
LAST_MESSAGE = "last_message"
SELECTION = "cluster_selection"      # customer ids picked on the cluster map
MODEL = "active_model"               # id of the model the lookup page uses
AUTHED = "authenticated"


def workspace() -> Workspace:
    """This browser's workspace. Its id lives in the URL (``?ws=``), so a reload or an app restart finds it again."""
    ws_id = st.session_state.get(WORKSPACE) or st.query_params.get("ws") or new_workspace_id()
    try:
        ws = Workspace(ws_id)
    except DataError:
        ws = Workspace(new_workspace_id())
    st.session_state[WORKSPACE] = ws.id
    if st.query_params.get("ws") != ws.id:
        st.query_params["ws"] = ws.id
    return ws


def current_dataset_id() -> str | None:
    ws = workspace()
    ids = [m["id"] for m in ws.list_datasets()]
    cur = st.session_state.get(DATASET)
    if cur not in ids:
        cur = ids[0] if ids else None
        st.session_state[DATASET] = cur
    return cur


def set_current(dataset_id: str | None) -> None:
    st.session_state[DATASET] = dataset_id


@st.cache_data(max_entries=6, show_spinner="Loading dataset…")
def _load(ws_id: str, dataset_id: str, version: str) -> Dataset:
    return Workspace(ws_id).load_dataset(dataset_id)


def current_dataset() -> Dataset | None:
    """The dataset picked in the sidebar, loaded once per saved version."""
    ds_id = current_dataset_id()
    if ds_id is None:
        return None
    ws = workspace()
    return _load(ws.id, ds_id, ws.dataset_version(ds_id))


def dataset_key() -> tuple[str, str, str]:
    """(workspace id, dataset id, version): the cache key of anything derived from the current dataset."""
    ws = workspace()
    ds_id = current_dataset_id() or ""
    return ws.id, ds_id, ws.dataset_version(ds_id) if ds_id else ""


def segment_rules() -> pd.DataFrame:
    """The workspace's RFM segment rules (edited on the RFM page), else the defaults in assets/."""
    from pipeline.rfm import load_segment_rules

    saved = workspace().read_json("rfm_rules")
    return load_segment_rules(pd.DataFrame(saved) if saved else None)


@st.cache_data(max_entries=12, show_spinner="Computing RFM…")
def _rfm(key: tuple[str, str, str], snapshot: str | None, rules_json: str) -> pd.DataFrame:
    from pipeline.rfm import rfm_table

    ds = _load(*key)
    return rfm_table(ds.transactions, snapshot=snapshot, rules=pd.DataFrame(json.loads(rules_json)))


def rfm(snapshot: str | None = None) -> pd.DataFrame:
    """RFM table of the current transactions dataset with the workspace's segment rules."""
    rules = segment_rules().to_json(orient="records")
    return _rfm(dataset_key(), snapshot, rules)


# ---- model lab (pages/model_lab.py) -------------------------------------------------------------------------------
LAB_RESULTS = "lab_results"          # {dataset key: (settings, pipeline.lab.LabResult)}: this session's comparisons


# ---- clusters (pages/clusters.py) ----------------------------------------------------------------------------------
SEQUENCE_RESULTS = "sequence_results"    # {(dataset key, settings): comparison}: this session's trained autoencoders


@st.cache_data(max_entries=6, show_spinner="Computing customer features…")
def _cluster_input(key: tuple[str, str, str], rules_json: str):
    from pipeline.cluster import clustering_input

    ds = _load(*key)
    rfm_ = _rfm(key, None, rules_json) if ds.kind == "transactions" else None
    return clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers, rfm_)


def cluster_input():
    """Per-customer table to cluster (``pipeline.cluster.ClusterInput``) of the current dataset."""
    return _cluster_input(dataset_key(), segment_rules().to_json(orient="records"))
