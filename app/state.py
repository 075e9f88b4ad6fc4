"""This analyst's state: the workspace and current dataset, the small frozen records kept in the session, and
the cached loaders every page reads through.

Session keys are named in :mod:`app.keys`; what is stored under them is one of the frozen dataclasses below (never a
positional tuple). Every cached loader is keyed by all that determines its result and takes no unhashed argument:
the dataset as a :class:`DatasetKey` (workspace id, dataset id, saved version: it loads the data itself, so two
datasets never share a result and a re-saved dataset is never served stale), the segment rules as one canonical text
(:func:`rules_json`), the settings, and a table passed in by a page hashed in full (:func:`frame_digest`). Cached
values are shared by all sessions and never modified in place.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import pandas as pd
import streamlit as st

from app import keys
from pipeline.config import HORIZON_DAYS
from pipeline.errors import DataError
from pipeline.store import Dataset, Workspace, is_workspace_id, new_workspace_id

if TYPE_CHECKING:       # imported where used: pages that never cluster or score don't load these
    from pipeline.cluster import ClusterInput, ClusterRun, KSweep
    from pipeline.cluster.sequences import SequenceComparison
    from pipeline.campaign import CampaignAudience, SavedCampaign
    from pipeline.coupons import LearnedCouponPolicy
    from pipeline.customer import ModelScorer
    from pipeline.models.lab import LabResult
    from pipeline.period import AnalysisPeriod

__all__ = [
    "DatasetKey", "Message", "REFUSED_WORKSPACE", "UploadTarget", "LabRun", "SequenceRun", "ClusterSettings", "CampaignResult",
    "LearnedPolicy", "workspace", "refused_address", "show_refused", "remember_workspace", "current_dataset_id", "set_current", "current_dataset",
    "dataset_names", "dataset_with_customer", "loaded", "frame_digest", "rules_json", "rules_frame",
    "dataset_key", "currency", "set_currency", "lab_run", "keep_lab_run", "segment_rules", "analysis_period", "rfm", "cluster_input",
    "cluster_sweep", "cluster_run", "cluster_names",
    "save_cluster_names",
    "use_clustering", "coupon_catalogue", "profile_context", "ScorerKey", "campaign_audience", "recommender_hit_rates", "response_table",
    "learn_coupon_policy", "learned_policies", "active_learned", "keep_learned", "saved_dataset",
]


# ---- what the session stores -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetKey:
    """The cache key of anything derived from the current dataset."""

    workspace_id: str
    dataset_id: str
    version: str


@dataclass(frozen=True)
class Message:
    """An outcome to show once: ``kind`` is ``"success"`` or ``"error"``."""

    kind: str
    text: str


@dataclass(frozen=True)
class UploadTarget:
    """The file the mapping editor works on: a staged upload (``dataset`` None) or the current dataset's file."""

    path: str | None
    filename: str
    dataset: Dataset | None = None


@dataclass(frozen=True)
class LabRun:
    """One Model-lab comparison: the options it was trained with and its ``pipeline.models.lab.LabResult``."""

    options: dict
    result: LabResult

    @classmethod
    def kept(cls, ws: Workspace, dataset_id: str) -> LabRun | None:
        """The comparison kept in the workspace for ``dataset_id`` (None: none was kept)."""
        from pipeline.models.lab_store import load_lab_result

        kept = load_lab_result(ws, dataset_id)
        return cls(kept[1], kept[0]) if kept is not None else None


@dataclass(frozen=True)
class SequenceRun:
    """One sequence-embedding comparison (``pipeline.cluster.sequences``) and the PCA maps drawn from it."""

    comparison: SequenceComparison
    maps: pd.DataFrame


@dataclass(frozen=True)
class ClusterSettings:
    """The Clusters page's choices; ``k`` and ``map`` are set for a run, not for the k sweep."""

    features: tuple[str, ...]
    method: str
    log: str
    scale: bool
    categorical: tuple[str, ...]
    k: int | None = None
    map: str = "auto"

    def for_sweep(self) -> ClusterSettings:
        """The settings the k sweep depends on (no k, default map): a new map or k keeps the sweep."""
        return dataclasses.replace(self, k=None, map="auto")

    def signature(self) -> str:
        """Short hash of the settings: saved cluster names are kept per dataset and signature."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CampaignResult:
    """The last campaign list built, and the dataset it was built from (shown only while that dataset is current)."""

    dataset: DatasetKey
    table: pd.DataFrame
    meta: SavedCampaign | None = None       # name, id, audience, control share, send date (what "Save" keeps)


@dataclass(frozen=True)
class LearnedPolicy:
    """A coupon policy learned in this session: the CV table (with the majority baseline), the fitted
    ``LearnedCouponPolicy``, where its data came from, and the coupon values the analyst set."""

    evaluation: pd.DataFrame
    policy: LearnedCouponPolicy
    source_label: str
    values: dict = field(default_factory=dict)

    def applied(self) -> LearnedCouponPolicy:
        """The fitted policy with this session's coupon values."""
        return self.policy.with_values(self.values)

    def with_edited_values(self, edited: pd.DataFrame) -> LearnedPolicy:
        """A copy whose values come from the values editor (columns coupon, value; blanks count 1)."""
        value = pd.to_numeric(edited["value"], errors="coerce").fillna(1.0).astype(float)
        return dataclasses.replace(self, values=dict(zip(edited["coupon"], value, strict=True)))


# ---- workspace and dataset ---------------------------------------------------------------------------------------
#: shown instead of the app when ``?ws=`` names no workspace (the same words whatever was typed: no hint of which
#: ids exist)
REFUSED_WORKSPACE = ("This address does not open a workspace. A workspace opens only from the long random code "
                     "the app made for it (32 letters and digits after `?ws=`), as in a link copied from the app; "
                     "typed names and the short codes of earlier versions are refused. Check the link you were "
                     "given, or open the app's plain address to start a new private workspace.")


def _openable(ws_id: object) -> bool:
    """Whether ``ws_id`` is a well-formed id (:func:`pipeline.store.is_workspace_id`) of a workspace on disk."""
    return is_workspace_id(ws_id) and Workspace.exists(ws_id)


def _cookie_workspace(cookies: Mapping[str, str]) -> str | None:
    """The workspace id this browser's cookie remembers, when it is the id of an existing workspace (else None)."""
    ws_id = cookies.get(keys.WORKSPACE_COOKIE)
    return ws_id if _openable(ws_id) else None


def refused_address() -> bool:
    """Whether this session has no workspace yet and its address's ``?ws=`` is not the id of an existing one (the
    router then shows only :func:`show_refused`)."""
    asked = st.query_params.get(keys.WORKSPACE_PARAM)
    return keys.WORKSPACE not in st.session_state and asked is not None and not _openable(asked)


def show_refused() -> None:
    """The refusal of an address that names no workspace: one plain message, the same whatever was typed."""
    st.error(REFUSED_WORKSPACE, icon=":material/block:")


NOT_SIGNED_IN = "This app has a password: open its main address to sign in."


def password() -> str | None:
    """The app's optional password: ``password`` in ``.streamlit/secrets.toml``, else None (no sign-in)."""
    try:
        return st.secrets.get("password") or None
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return None


def signed_in() -> bool:
    """No password is set, or this session gave it. Every page reaches data through :func:`workspace`, which stops
    the page otherwise, so a page file that Streamlit runs before the router's gate (its first request after a
    restart, when it still lists ``pages/`` itself) shows nothing."""
    return password() is None or bool(st.session_state.get(keys.AUTHED))


def workspace() -> Workspace:
    """This browser's workspace: the session's, else the address's (``?ws=``: a bookmark or a shared link), else
    the one this browser's cookie remembers (the plain address), else a new private one with an unguessable id.
    A reload or an app restart finds it again. A ``?ws=`` that is not the id of an existing workspace is refused
    (:func:`refused_address`; here too the page stops): nothing is created from a typed name; a cookie that names
    none is ignored."""
    if not signed_in():                 # a page file run directly (the first request after a restart): no data
        st.warning(NOT_SIGNED_IN)
        st.stop()
    ws_id = st.session_state.get(keys.WORKSPACE)
    if ws_id is None:
        if refused_address():
            show_refused()
            st.stop()
        ws_id = st.query_params.get(keys.WORKSPACE_PARAM) or _cookie_workspace(st.context.cookies) or new_workspace_id()
        st.session_state[keys.WORKSPACE] = ws_id
    ws = Workspace(ws_id)
    if st.query_params.get(keys.WORKSPACE_PARAM) != ws.id:
        st.query_params[keys.WORKSPACE_PARAM] = ws.id
    return ws


def remember_workspace() -> None:
    """Keep this session's workspace id in a first-party cookie for a year (written once per session and id), so
    opening the plain address in the same browser brings the workspace back; another browser has no cookie and
    gets a new private workspace. The id is a checked 32-hex-digit id, never other user text."""
    ws = workspace()
    if st.session_state.get(keys.COOKIE_WRITTEN) == ws.id:
        return
    st.session_state[keys.COOKIE_WRITTEN] = ws.id
    if st.context.cookies.get(keys.WORKSPACE_COOKIE) == ws.id or not Workspace.exists(ws.id):
        return
    st.html(f"<script>document.cookie = '{keys.WORKSPACE_COOKIE}={ws.id}; path=/; max-age=31536000; "
            "SameSite=Lax';</script>", unsafe_allow_javascript=True)


_ACTIVE_DATASET = "active_dataset"     # workspace document: {"id": the dataset last made current in this workspace}


def current_dataset_id() -> str | None:
    """Id of the dataset this session shows, kept in the address as ``?ds=`` (so a reload, a bookmark or a copied
    card link opens the same dataset): an address that names a saved dataset this session did not write itself
    (a reload, a link, a new tab), else the sidebar's pick, else the dataset last made current in this workspace
    (the plain address), else the newest."""
    ws = workspace()
    ids = [m["id"] for m in ws.list_datasets()]
    linked = st.query_params.get(keys.DATASET_PARAM)
    cur, shown = st.session_state.get(keys.DATASET), st.session_state.get(keys.DATASET_IN_ADDRESS)
    if linked in ids and linked != st.session_state.get(keys.DATASET_IN_ADDRESS):
        cur = linked
    elif cur not in ids:
        last = (ws.read_json(_ACTIVE_DATASET) or {}).get("id")
        cur = last if last in ids else (ids[0] if ids else None)
    if shown is not None and cur != shown:
        _forget_dataset_inputs()
    st.session_state[keys.DATASET] = cur
    _show_in_address(cur)
    return cur


#: session data under a prefix of ``keys.DATASET_WIDGETS`` that is kept per dataset already (or says which)
_KEPT_ON_SWITCH = {keys.LAB_RESULTS, keys.CAMPAIGN_RESULT, keys.CAMPAIGN_MEASURE, keys.CUSTOMER_DATASET}


def _forget_dataset_inputs() -> None:
    """Clear the pages' inputs picked for the previous dataset (``keys.DATASET_WIDGETS``) and the cluster-map
    selection: a send date, cutoff, column, customer or cluster of one dataset is never used on another."""
    for k in list(st.session_state.keys()):
        if (isinstance(k, str) and k.startswith(keys.DATASET_WIDGETS) and k not in _KEPT_ON_SWITCH) \
                or k == keys.SELECTION:
            del st.session_state[k]


def _show_in_address(dataset_id: str | None) -> None:
    st.session_state[keys.DATASET_IN_ADDRESS] = dataset_id
    if dataset_id is None:
        if keys.DATASET_PARAM in st.query_params:
            del st.query_params[keys.DATASET_PARAM]
    elif st.query_params.get(keys.DATASET_PARAM) != dataset_id:
        st.query_params[keys.DATASET_PARAM] = dataset_id


def set_current(dataset_id: str | None) -> None:
    """Make ``dataset_id`` the current dataset of this session, in the address (``?ds=``) and as the one the plain
    address reopens in this workspace."""
    if st.session_state.get(keys.DATASET) not in (None, dataset_id):
        _forget_dataset_inputs()
    st.session_state[keys.DATASET] = dataset_id
    _show_in_address(dataset_id)
    if dataset_id is not None:
        workspace().write_json(_ACTIVE_DATASET, {"id": dataset_id})


def dataset_names() -> dict[str, str]:
    """``{dataset id: name}`` of every saved dataset of this workspace, newest first."""
    return {m["id"]: m["name"] for m in workspace().list_datasets()}


@st.cache_data(max_entries=8, show_spinner=False)
def _customer_ids(key: DatasetKey) -> frozenset[str]:
    ds = loaded(key)
    table = ds.transactions if ds.kind == "transactions" else ds.customers
    return frozenset(table["customer_id"].astype(str).unique()) if table is not None else frozenset()


def dataset_with_customer(customer_id: str) -> str | None:
    """Id of the saved dataset of this workspace that holds ``customer_id``: the current one when it does, else the
    newest that does (None: none does). Other datasets are read only when the current one lacks the customer."""
    ws, cur = workspace(), current_dataset_id()
    for i in sorted(dataset_names(), key=lambda i: i != cur):
        if str(customer_id) in _customer_ids(_key_of(ws, i)):
            return i
    return None


@st.cache_resource(max_entries=6, show_spinner="Loading dataset…")
def loaded(key: DatasetKey) -> Dataset:
    """The saved dataset ``key`` names: one shared, read-only copy per saved version (cache_resource: no per-rerun
    copy of large frames). Pages and pipeline functions never modify a dataset in place."""
    return Workspace(key.workspace_id).load_dataset(key.dataset_id)


def _key_of(ws: Workspace, dataset_id: str) -> DatasetKey:
    return DatasetKey(ws.id, dataset_id, ws.dataset_version(dataset_id) if dataset_id else "")


def current_dataset() -> Dataset | None:
    """The dataset picked in the sidebar, loaded once per saved version."""
    return loaded(dataset_key()) if current_dataset_id() is not None else None


def saved_dataset(dataset_id: str) -> Dataset:
    """Any saved dataset of this workspace (e.g. a later upload to measure a campaign on), loaded once per version."""
    return loaded(_key_of(workspace(), dataset_id))


def dataset_key() -> DatasetKey:
    """The cache key of anything derived from the current dataset."""
    return _key_of(workspace(), current_dataset_id() or "")


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a whole table (values, index, column names and types): how a table passed to a cached loader is
    hashed (Streamlit's own hash samples large frames, so two tables differing outside the sample would collide)."""
    h = hashlib.sha256(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


@st.cache_data(max_entries=16, show_spinner=False)
def _currency(key: DatasetKey) -> str | None:
    from pipeline.currency import dataset_currency

    ds = loaded(key)
    countries = ds.transactions["country"] if ds.transactions is not None and "country" in ds.transactions else None
    return dataset_currency(ds.kind, ds.report, ds.extra, countries)


def currency() -> str | None:
    """ISO code of the current dataset's currency; None without a dataset or when spend is counted in items."""
    return _currency(dataset_key()) if current_dataset_id() is not None else None


def set_currency(code: str) -> None:
    """Store ``code`` as the current dataset's currency (every money figure follows on the next rerun)."""
    from pipeline.currency import with_currency

    ws, ds_id = workspace(), current_dataset_id()
    if ds_id is not None:
        ws.update_extra(ds_id, with_currency({}, code) | {"currency_reason": None})     # chosen, not guessed


def segment_rules() -> pd.DataFrame:
    """The workspace's RFM segment rules (edited on the RFM page), else the defaults in assets/."""
    from pipeline.rfm import load_segment_rules

    saved = workspace().read_json("rfm_rules")
    return load_segment_rules(pd.DataFrame(saved) if saved else None)


def rules_json() -> str:
    """The workspace's segment rules (checked) as the one canonical text that cache keys and cached loaders take."""
    return segment_rules().to_json(orient="records")


def rules_frame(text: str) -> pd.DataFrame:
    """The rules back from :func:`rules_json`'s text."""
    return pd.DataFrame(json.loads(text))


@st.cache_data(max_entries=12, show_spinner="Computing RFM…")
def _rfm(key: DatasetKey, snapshot: str | None, rules: str,
         period: AnalysisPeriod | None = None) -> pd.DataFrame:
    from pipeline.period import filter_period
    from pipeline.rfm import rfm_table

    return rfm_table(filter_period(loaded(key).transactions, period), snapshot=snapshot,
                     rules=rules_frame(rules))


def analysis_period() -> AnalysisPeriod | None:
    """The current dataset's analysis period from the sidebar (``app.period_ui``); None: all the data (also while
    the sidebar has not yet drawn the picker for a dataset made current during this run, e.g. by an upload)."""
    return (st.session_state.get(keys.PERIOD) or {}).get(current_dataset_id())


def rfm(snapshot: str | None = None) -> pd.DataFrame:
    """RFM table of the current transactions dataset, over the analysis period, with the workspace's rules."""
    return _rfm(dataset_key(), snapshot, rules_json(), analysis_period())


# ---- model lab (pages/model_lab.py) ------------------------------------------------------------------------------
def lab_run() -> LabRun | None:
    """The current dataset's last Model-lab comparison: this session's, else the one kept in the workspace (so a
    reload or an app restart shows it again)."""
    results = st.session_state.setdefault(keys.LAB_RESULTS, {})
    key = dataset_key()
    if key not in results and key.dataset_id:
        kept = LabRun.kept(workspace(), key.dataset_id)
        if kept is not None:
            results[key] = kept
    return results.get(key)


def keep_lab_run(run: LabRun) -> None:
    """Make ``run`` the current dataset's comparison in this session and in the workspace."""
    from pipeline.models.lab_store import save_lab_result

    key = dataset_key()
    st.session_state.setdefault(keys.LAB_RESULTS, {})[key] = run
    with st.spinner("Keeping the results in your workspace…"):
        save_lab_result(workspace(), key.dataset_id, run.result, run.options)


# ---- clusters (pages/clusters.py) --------------------------------------------------------------------------------
@st.cache_data(max_entries=6, show_spinner="Computing customer features…")
def _cluster_input(key: DatasetKey, rules: str) -> ClusterInput:
    from pipeline.cluster import clustering_input

    ds = loaded(key)
    rfm_ = _rfm(key, None, rules) if ds.kind == "transactions" else None
    return clustering_input(ds.kind, ds.transactions, ds.returns, ds.customers, rfm_)


def cluster_input() -> ClusterInput:
    """Per-customer table to cluster (``pipeline.cluster.ClusterInput``) of the current dataset."""
    return _cluster_input(dataset_key(), rules_json())


@st.cache_data(max_entries=8, show_spinner="Comparing k = 2…10…")
def _cluster_sweep(key: DatasetKey, rules: str, s: ClusterSettings) -> KSweep:
    from pipeline.cluster import log_columns, prepare_matrix, select_k

    table = _cluster_input(key, rules).table
    logs = log_columns(table, list(s.features), s.log, list(s.categorical))
    X, _ = prepare_matrix(table, list(s.features), logs, s.scale, list(s.categorical))
    return select_k(X, method=s.method)


def cluster_sweep(settings: ClusterSettings) -> KSweep:
    """k sweep (``pipeline.cluster.KSweep``) of :func:`cluster_input` (``settings.k`` and ``map`` are ignored)."""
    return _cluster_sweep(dataset_key(), rules_json(), settings.for_sweep())


@st.cache_data(max_entries=8, show_spinner="Clustering…")
def _cluster_run(key: DatasetKey, rules: str, s: ClusterSettings) -> ClusterRun:
    from pipeline.cluster import cluster_customers, log_columns

    inp = _cluster_input(key, rules)
    features, categorical = list(s.features), list(s.categorical)
    return cluster_customers(inp.table, features, s.method, s.k, scale=s.scale,
                             log_cols=log_columns(inp.table, features, s.log, categorical),
                             categorical=categorical, revenue_col=inp.revenue_col,
                             segment_col=inp.segment_col, map_method=s.map)


def cluster_run(settings: ClusterSettings) -> ClusterRun:
    """``pipeline.cluster.ClusterRun`` of :func:`cluster_input` with ``settings`` (k and map included)."""
    return _cluster_run(dataset_key(), rules_json(), settings)


_CLUSTER_NAMES = "cluster_names"         # workspace document: {dataset id: {settings signature: {cluster: name}}}


def cluster_names(dataset_id: str, signature: str) -> dict:
    """The names the analyst gave to the clusters of one clustering (``{cluster id as str: name}``)."""
    return (workspace().read_json(_CLUSTER_NAMES, {}) or {}).get(dataset_id, {}).get(signature, {})


def save_cluster_names(dataset_id: str, signature: str, names: dict) -> None:
    """Keep ``{cluster id: name}`` for one clustering in the workspace."""
    ws = workspace()
    all_names = ws.read_json(_CLUSTER_NAMES, {}) or {}
    all_names.setdefault(dataset_id, {})[signature] = {str(c): n for c, n in names.items()}
    ws.write_json(_CLUSTER_NAMES, all_names)


def use_clustering(dataset_id: str, run: ClusterRun, force: bool) -> tuple[dict, bool]:
    """Save ``run`` as the clustering the Customer page uses when asked (``force``), when none is saved yet, or
    when only its names changed. Returns (metadata of the clustering in use, whether it is ``run``'s)."""
    from pipeline.cluster import saved_clustering

    ws = workspace()
    assignments, meta = saved_clustering(run)
    saved = (ws.load_clustering(dataset_id) or (None, None))[1]
    same = saved is not None and all(saved.get(f) == meta[f] for f in ("method", "k", "features", "options", "seed"))
    if force or saved is None or (same and saved.get("names") != meta["names"]):
        ws.save_clustering(dataset_id, assignments, meta)
        saved, same = meta, True
    return saved, same


# ---- customer and campaigns (pages/customer.py, pages/campaigns.py) -----------------------------------------------
def coupon_catalogue() -> tuple[pd.DataFrame, str | None]:
    """The workspace's coupon catalogue (edited on the Campaigns page, else ``assets/coupons.csv``) and a warning."""
    from pipeline.campaign import workspace_catalogue

    return workspace_catalogue(workspace())


def _active_signature(ws: Workspace, dataset_id: str) -> str:
    """Changes whenever another model goes live for the dataset (``pipeline.health.live``, one pointer)."""
    from pipeline.health.live import live_model

    current = live_model(ws, dataset_id)
    return current.signature if current.model_id else ""


def _clustering_signature(ws: Workspace, dataset_id: str) -> str:
    saved = ws.load_clustering(dataset_id) if dataset_id else None
    if saved is None:
        return ""
    assignments, meta = saved
    labels = pd.util.hash_pandas_object(assignments[["customer_id", "cluster"]], index=False).sum()
    return f"{json.dumps(meta, sort_keys=True, default=str)}|{len(assignments)}|{int(labels)}"


@dataclass(frozen=True)
class ScorerKey:
    """All the current dataset's scorer is built from: the dataset, the live model and the saved clustering (as
    signatures), the segment rules (:func:`rules_json`) and the horizon."""

    dataset: DatasetKey
    live: str
    clustering: str
    rules: str
    horizon: int

    @classmethod
    def current(cls, horizon: int = HORIZON_DAYS) -> ScorerKey:
        ws, key = workspace(), dataset_key()
        return cls(key, _active_signature(ws, key.dataset_id), _clustering_signature(ws, key.dataset_id),
                   rules_json(), horizon)


@st.cache_resource(max_entries=4, show_spinner="Scoring every customer: churn model, clusters, customer value…")
def _profile_context(sk: ScorerKey) -> ModelScorer:
    from pipeline.customer import ScoringSettings
    from pipeline.customer.scorer_store import ensure_scorer
    from pipeline.health.live import load_live

    key, ws = sk.dataset, Workspace(sk.dataset.workspace_id)
    notes = []
    try:
        active = load_live(ws, key.dataset_id) if sk.live else None
    except DataError as e:
        active, notes = None, [f"The live model could not be loaded ({e}); using the default model."]
    # fitted once per dataset version and inputs, then read back from the workspace (pipeline.customer.scorer_store)
    ctx = ensure_scorer(ws, key.dataset_id, loaded(key), rules=rules_frame(sk.rules),
                        active=active, clustering=ws.load_clustering(key.dataset_id) if sk.clustering else None,
                        settings=ScoringSettings(horizon_days=sk.horizon))
    return ctx.with_notes([*notes, *ctx.notes]) if notes else ctx      # the scorer is immutable


def profile_context(horizon: int = HORIZON_DAYS) -> ModelScorer:
    """The current dataset's :class:`pipeline.customer.ModelScorer` (shared, read-only: use ``with_coupons``)."""
    return _profile_context(ScorerKey.current(horizon))


@st.cache_resource(max_entries=8, show_spinner="Taking the customers as they were on the send date…")
def _audience(sk: ScorerKey, sent: str) -> CampaignAudience:
    from pipeline.campaign import campaign_audience as audience_of

    return audience_of(_profile_context(sk), sent, rules_frame(sk.rules))


def campaign_audience(sent: str) -> CampaignAudience:
    """The current dataset's customers as they were on the send date ``sent`` (``pipeline.campaign.
    campaign_audience`` of :func:`profile_context`, which coupons do not change; shared, read-only)."""
    return _audience(ScorerKey.current(), sent)


@st.cache_data(max_entries=6, show_spinner="Grading the recommender on an out-of-time split…")
def _hit_rates(key: DatasetKey, horizon: int) -> pd.DataFrame:
    from pipeline.recommend import hit_rate_at_k

    return hit_rate_at_k(loaded(key).transactions, horizon_days=horizon, k=(5, 10))


def recommender_hit_rates(horizon: int = HORIZON_DAYS) -> pd.DataFrame:
    """Hit-rate@5/10 of the next-item recommender vs top sellers and buy-again on the last ``horizon`` days."""
    return _hit_rates(dataset_key(), horizon)


@st.cache_data(max_entries=4, show_spinner="Reading the response history…")
def _response_table(staged: str, name: str) -> pd.DataFrame:
    from pipeline.ingest import build_dataset

    return build_dataset(Path(staged), name, kind="customers").customers.drop(columns=["customer_id"])


def response_table(data: bytes, name: str) -> tuple[str, pd.DataFrame]:
    """(content hash, table) of an uploaded coupon-response file (CSV, Excel or Parquet), read once: the file is
    staged in the workspace under its content hash, so its path stands for its bytes in the cache key."""
    staged = workspace().stage_upload(data, name)
    return staged.stem, _response_table(str(staged), name)


@st.cache_resource(max_entries=4, show_spinner=False, hash_funcs={pd.DataFrame: frame_digest})
def _learned(table: pd.DataFrame, target: str | None, folds: int, model: str | None):
    from pipeline.coupons import evaluate_acceptance_model, fit_learned_policy

    evaluation = evaluate_acceptance_model(table, target, n_splits=folds, model=model)
    return evaluation, fit_learned_policy(table, target, model=model)


def learn_coupon_policy(label: str, table: pd.DataFrame, target: str | None = None, folds: int = 5,
                        model: str | None = None) -> LearnedPolicy:
    """Cross-validate and fit the acceptance model of a response history (cached by the whole table's content and
    the settings); ``label`` says where the history came from."""
    evaluation, fitted = _learned(table, target, folds, model)
    return LearnedPolicy(evaluation, fitted, label, dict(fitted.values_))


def learned_policies() -> dict[str, LearnedPolicy]:
    """This session's learned coupon policies by source key."""
    return st.session_state.setdefault(keys.LEARNED, {})


def active_learned() -> tuple[str | None, LearnedPolicy | None]:
    """(source key, policy) of the learned policy in use, or (None, None)."""
    pick = st.session_state.get(keys.LEARNED_PICK)
    entry = learned_policies().get(pick)
    return (pick, entry) if entry else (None, None)


def keep_learned(source: str, entry: LearnedPolicy) -> None:
    """Store ``entry`` under ``source`` and make it the policy in use."""
    learned_policies()[source] = entry
    st.session_state[keys.LEARNED_PICK] = source
