"""Every ``st.session_state`` key and URL query parameter the app uses, named once.

Pages and app modules refer to these constants, never to string literals. A key belongs here when code reads,
writes or pops it through ``st.session_state`` (including widget keys whose value code sets or resets); a widget
key that only gives a widget its identity stays at the widget. What is stored under a key is described on the
right; the stored types live in :mod:`app.state`.
"""
from __future__ import annotations

__all__ = [
    "WORKSPACE", "DATASET", "DATASET_IN_ADDRESS", "DATASET_WIDGETS", "AUTHED", "UPLOAD_DONE", "STAGED",
    "upload_field", "LAST_MESSAGE", "SIDEBAR_DATASET", "SELECTION", "MODEL",
    "LAB_RESULTS", "SEQUENCE_RESULTS", "TABLE_EMBEDDING_RESULTS", "CLUSTER_K", "CLUSTER_K_FOR",
    "cluster_names_editor", "CUSTOMER_ID", "CUSTOMER_DATASET", "LINK_NOTE", "ERASE_CONFIRM", "ERASE_RECEIPT",
    "CAMPAIGN_RESULT", "CAMPAIGN_MEASURE", "CATALOGUE_UPLOAD_ID", "CATALOGUE_UPLOAD_MESSAGE", "LEARNED", "LEARNED_PICK",
    "WORKSPACE_PARAM", "DATASET_PARAM", "CUSTOMER_PARAM", "WORKSPACE_COOKIE", "COOKIE_WRITTEN", "PERIOD",
    "period_widget",
]

# ---- workspace, dataset, login (app/state.py, app/ui.py) ---------------------------------------------------------
WORKSPACE = "workspace_id"              # str: this browser's workspace id (mirrored in the URL as ?ws=)
DATASET = "dataset_id"                  # str | None: id of the dataset picked in the sidebar
DATASET_IN_ADDRESS = "dataset_in_address"  # str | None: the dataset this session last showed, as written to ?ds=
#: widget keys (by prefix) of the pages' inputs: their values are picked for one dataset (a date inside its range,
#: its columns, customers, clusters, a chart selection), so they are cleared when another dataset becomes current;
#: keys that carry the dataset id (``rfm_snapshot_<id>``, ``period_*_<id>``) and the session data below stay
DATASET_WIDGETS = ("camp_", "clu_", "lab_", "learn_", "lookup_", "wi_", "tex_", "tem_", "coh_", "mv_", "health_")
AUTHED = "authenticated"                # bool: the password of the optional login was given

# ---- upload (pages/upload.py) --------------------------------------------------------------------------------------
UPLOAD_DONE = "upload_done"             # str: file_id of the last processed upload, so reruns don't redo it
STAGED = "staged_upload"                # state.UploadTarget | None: a failed upload waiting for a mapping fix
LAST_MESSAGE = "last_message"           # state.Message: the outcome of the last load, shown once
SIDEBAR_DATASET = "sidebar_dataset"     # str: the sidebar's dataset picker (a widget), set to the current dataset


def upload_field(file: str, field: str) -> str:
    """Key of one field of the Upload page's mapping form (a widget) for one staged file (its content-addressed
    name, and the sheet for the fields that depend on it): nothing picked or guessed for one file reaches another."""
    return f"upload_{field}@{file}"


# ---- analysis period (app/period_ui.py; read by Overview, RFM, Cohorts & movement) ----------------------------------
PERIOD = "analysis_period"              # {dataset id: pipeline.period.AnalysisPeriod}: the sidebar's period (resolved)


def period_widget(dataset_id: str, side: str) -> str:
    """Key of the sidebar's start or end date input (a widget) for one dataset; set back by "All dates"."""
    return f"period_{side}_{dataset_id}"


# ---- clusters (pages/clusters.py) ----------------------------------------------------------------------------------
SELECTION = "cluster_selection"         # list[str]: customer ids picked on the cluster map
SEQUENCE_RESULTS = "sequence_results"   # {(dataset key, settings): state.SequenceRun}: this session's autoencoders
TABLE_EMBEDDING_RESULTS = "table_embedding_results"  # {(dataset key, settings): (TableComparison, maps)}:
                                                    # this session's customer-table embedding comparisons
CLUSTER_K = "clu_k"                     # int: the k input (a widget), reset to the sweep's recommendation
CLUSTER_K_FOR = "clu_k_for"             # (dataset key, settings json, recommended k) CLUSTER_K was last reset for


def cluster_names_editor(signature: str) -> str:
    """Key of the cluster-profile editor of one clustering (a widget), popped after names are saved."""
    return f"clu_profiles_{signature}"


# ---- model lab (pages/model_lab.py) --------------------------------------------------------------------------------
LAB_RESULTS = "lab_results"             # {dataset key: state.LabRun}: this session's model comparisons
MODEL = "active_model"                  # (dataset id, model id, "confirm" | "done", text): putting a model live
#                                         waits for its confirmation, or its outcome is shown once (app/lab_ui.py)

# ---- customer (pages/customer.py) ----------------------------------------------------------------------------------
CUSTOMER_ID = "lookup_customer"         # str | None: the customer id picker (a widget)
CUSTOMER_DATASET = "lookup_customer_ds"  # str: the dataset id CUSTOMER_ID's value belongs to (reset on a switch)
LINK_NOTE = "link_note"                 # str: "switched to the dataset that holds the linked customer", shown once
ERASE_CONFIRM = "lookup_erase_confirm"   # str: the id typed to confirm *Erase this customer* (a widget)
ERASE_RECEIPT = "erase_receipt"         # dict: the receipt of the last erasure (pipeline.privacy.erase), shown once

# ---- campaigns (pages/campaigns.py) --------------------------------------------------------------------------------
CAMPAIGN_RESULT = "camp_result"         # state.CampaignResult: the last campaign list built, with its dataset key
CAMPAIGN_MEASURE = "camp_measured"      # (campaign id, source dataset key, days, pipeline.campaign.CampaignResults)
CATALOGUE_UPLOAD_ID = "cat_upload_id"   # str: file_id of the last catalogue upload handled
CATALOGUE_UPLOAD_MESSAGE = "cat_upload_msg"  # state.Message: the outcome of that catalogue upload
LEARNED = "learned_policy"              # {source key: state.LearnedPolicy}: this session's learned coupon policies
LEARNED_PICK = "learned_pick"           # str: source key of the learned policy in use (Customer and Campaigns)

# ---- URL query parameters --------------------------------------------------------------------------------------------
WORKSPACE_PARAM = "ws"                  # ?ws=<workspace id>: a bookmark finds the workspace again
DATASET_PARAM = "ds"                    # ?ds=<dataset id>: a reload, bookmark or card link opens that dataset

# ---- browser cookie (app/state.py) -----------------------------------------------------------------------------------
WORKSPACE_COOKIE = "segments_ws"        # cookie name: the plain address in the same browser opens its last workspace
COOKIE_WRITTEN = "workspace_cookie"     # str: the workspace id this session already wrote to the cookie
CUSTOMER_PARAM = "customer"             # ?customer=<id>: a link to one customer's card on the Customer page
