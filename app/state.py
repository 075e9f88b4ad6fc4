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


@st.cache_resource(max_entries=6, show_spinner="Loading dataset…")
def _load(ws_id: str, dataset_id: str, version: str) -> Dataset:
    """One shared, read-only copy per saved version (cache_resource: no per-rerun copy of large frames).
    Pages and pipeline functions never modify a dataset in place."""
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


@st.cache_data(max_entries=8, show_spinner="Comparing k = 2…10…")
def _cluster_sweep(key: tuple, s: dict, _table: pd.DataFrame):
    from pipeline.cluster import log_columns, prepare_matrix, select_k

    logs = log_columns(_table, s["features"], s["log"], s["categorical"])
    X, _ = prepare_matrix(_table, s["features"], logs, s["scale"], s["categorical"])
    return select_k(X, method=s["method"])


def cluster_sweep(inp, settings: dict):
    """k sweep (``pipeline.cluster.KSweep``) of the current dataset for settings features, method, log, scale,
    categorical."""
    return _cluster_sweep(dataset_key(), settings, inp.table)


@st.cache_data(max_entries=8, show_spinner="Clustering…")
def _cluster_run(key: tuple, s: dict, _inp):
    from pipeline.cluster import cluster_customers, log_columns

    return cluster_customers(_inp.table, s["features"], s["method"], s["k"], scale=s["scale"],
                             log_cols=log_columns(_inp.table, s["features"], s["log"], s["categorical"]),
                             categorical=s["categorical"], revenue_col=_inp.revenue_col,
                             segment_col=_inp.segment_col, map_method=s["map"])


def cluster_run(inp, settings: dict):
    """``pipeline.cluster.ClusterRun`` of the current dataset (settings as for :func:`cluster_sweep` plus k, map)."""
    return _cluster_run((dataset_key(), segment_rules().to_json()), settings, inp)


# ---- customer lookup (pages/lookup.py) ----------------------------------------------------------------------------
LOOKUP_ID = "lookup_customer"        # customer id picked on the lookup page
LEARNED = "learned_policy"           # {source key: (CV table, LearnedCouponPolicy, source label)}: this session's
LEARNED_PICK = "learned_pick"        # the source key of the learned policy in use


def coupon_catalogue() -> tuple[pd.DataFrame, str | None]:
    """The workspace's coupon catalogue (edited on the lookup page, else ``assets/coupons.csv``) and a warning."""
    from pipeline.campaign import workspace_catalogue

    return workspace_catalogue(workspace())


def _active_signature(ws: Workspace) -> str:
    from pipeline import lab

    mid = (ws.read_json(lab.ACTIVE_MODEL_DOC) or {}).get("id")
    created = next((m["created"] for m in lab.list_models(ws) if m["id"] == mid), "") if mid else ""
    return f"{mid}|{created}" if mid else ""


def _clustering_signature(ws: Workspace, dataset_id: str) -> str:
    saved = ws.load_clustering(dataset_id) if dataset_id else None
    if saved is None:
        return ""
    assignments, meta = saved
    labels = pd.util.hash_pandas_object(assignments[["customer_id", "cluster"]], index=False).sum()
    return f"{json.dumps(meta, sort_keys=True, default=str)}|{len(assignments)}|{int(labels)}"


@st.cache_resource(max_entries=4, show_spinner="Scoring every customer: churn model, clusters, customer value…")
def _profile_context(key: tuple[str, str, str], active_sig: str, clustering_sig: str, rules_json: str, horizon: int):
    from pipeline import lab
    from pipeline.profile import build_context

    ws = Workspace(key[0])
    notes = []
    try:
        active = lab.active_model(ws) if active_sig else None
    except DataError as e:
        active, notes = None, [f"The active Model-lab model could not be loaded ({e}); using the default model."]
    ctx = build_context(_load(*key), rules=pd.DataFrame(json.loads(rules_json)), active=active,
                        clustering=ws.load_clustering(key[1]) if clustering_sig else None, horizon_days=horizon)
    ctx.notes[:0] = notes
    return ctx


def profile_context(horizon: int = 90):
    """The current dataset's :class:`pipeline.profile.ProfileContext` (shared, read-only: use ``with_``)."""
    ws = workspace()
    key = dataset_key()
    return _profile_context(key, _active_signature(ws), _clustering_signature(ws, key[1]),
                            segment_rules().to_json(orient="records"), horizon)


@st.cache_data(max_entries=6, show_spinner="Grading the recommender on an out-of-time split…")
def _hit_rates(key: tuple[str, str, str], horizon: int) -> pd.DataFrame:
    from pipeline.recommend import hit_rate_at_k

    return hit_rate_at_k(_load(*key).transactions, horizon_days=horizon, k=(5, 10))


def recommender_hit_rates(horizon: int = 90) -> pd.DataFrame:
    """Hit-rate@5/10 of the next-item recommender vs top sellers and buy-again on the last ``horizon`` days."""
    return _hit_rates(dataset_key(), horizon)


@st.cache_data(max_entries=4, show_spinner="Reading the response history…")
def _response_table(ws_id: str, digest: str, _data: bytes, name: str) -> pd.DataFrame:
    from pipeline.ingest import build_dataset

    path = Workspace(ws_id).stage_upload(_data, name)
    return build_dataset(path, name, kind="customers").customers.drop(columns=["customer_id"])


def response_table(data: bytes, name: str) -> tuple[str, pd.DataFrame]:
    """(content hash, table) of an uploaded coupon-response file (CSV, Excel or Parquet), read once."""
    from pipeline.store import content_hash

    digest = content_hash(data)
    return digest, _response_table(workspace().id, digest, data, name)


@st.cache_resource(max_entries=4, show_spinner=False)
def _learned(source: str, _table: pd.DataFrame, target: str | None, folds: int, model: str | None):
    from pipeline.coupons import evaluate_acceptance_model, fit_learned_policy

    evaluation = evaluate_acceptance_model(_table, target, n_splits=folds, model=model)
    return evaluation, fit_learned_policy(_table, target, model=model)


def learn_coupon_policy(source: str, table: pd.DataFrame, target: str | None = None, folds: int = 5,
                        model: str | None = None):
    """(CV table with the majority baseline, fitted LearnedCouponPolicy) for a response history; cached by
    ``source`` (a content hash or a dataset key) and the settings."""
    return _learned(source, table, target, folds, model)
