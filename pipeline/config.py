"""Project-wide defaults and the canonical data schema, as data.

Every module reads its defaults from here; nothing else hard-codes them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ROOT", "ASSETS", "TX_COLUMNS", "ROLES", "RFM_COLUMNS",
    "CleaningOptions", "RFMConfig", "ChurnConfig", "workspace_root", "max_upload_bytes",
    "HORIZON_DAYS", "SEED", "DEFAULT_CURRENCY",
]

#: The prediction horizon H (days): churn = no purchase in the next H days; expected spend over H days;
#: "active" = bought in the last H days. The one place this number is written.
HORIZON_DAYS = 90

#: The one random seed every estimator, split and sample defaults to.
SEED = 42

#: Currency of a dataset whose money values carry no symbol and that has no country column (pipeline.currency;
#: the guessing rules are data in assets/currencies.csv and assets/country_currency.csv). Editable per dataset.
DEFAULT_CURRENCY = "USD"

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"

#: Canonical cleaned-transaction columns (one row per purchase line). Every column is always
#: present; optional roles the upload did not have are all-missing.
#: customer_id, invoice_id, product_id, product_name, category, country: string
#: date: datetime64 (naive); quantity, unit_price, amount: float64 (amount = line revenue > 0)
TX_COLUMNS = (
    "customer_id", "invoice_id", "date", "quantity", "unit_price", "amount",
    "product_id", "product_name", "category", "country",
)

#: Column roles an upload can be mapped to (role -> human label).
ROLES = {
    "customer_id": "Customer id",
    "invoice_id": "Invoice / order id",
    "date": "Date-time",
    "quantity": "Quantity",
    "unit_price": "Unit price",
    "amount": "Amount (line revenue)",
    "product_id": "Product id",
    "product_name": "Product name",
    "category": "Category",
    "country": "Country",
}

#: Columns of the per-customer RFM table produced by ``pipeline.rfm.rfm_table``.
RFM_COLUMNS = (
    "customer_id", "recency_days", "frequency", "monetary", "first_purchase", "last_purchase",
    "tenure_days", "r_score", "f_score", "m_score", "segment",
)


@dataclass(frozen=True)
class CleaningOptions:
    """Which rows cleaning drops. Defaults reproduce the reference figures in shared/datasets."""

    drop_missing_customer: bool = True
    drop_cancellations: bool = True        # invoice id = the prefix below + the shape of the other ids, or quantity < 0
    cancellation_prefix: str = "C"
    drop_nonpositive_price: bool = True
    drop_duplicates: bool = True
    dayfirst: bool | None = None           # None: decide from the data
    drop_implausible_dates: bool = True    # dates before 1970 or more than a year ahead
    warn_share: float = 0.10               # a rule dropping more than this share of rows is reported as a warning


@dataclass(frozen=True)
class RFMConfig:
    n_bins: int = 5
    segments_file: Path = field(default=ASSETS / "rfm_segments.csv")


@dataclass(frozen=True)
class ChurnConfig:
    horizon_days: int = HORIZON_DAYS
    random_state: int = SEED


def max_upload_bytes() -> int:
    """Largest file the app reads (``SEGMENTS_MAX_UPLOAD_MB``, default 1024 MB, as ``.streamlit/config.toml``)."""
    return int(float(os.environ.get("SEGMENTS_MAX_UPLOAD_MB", 1024)) * 2**20)


def workspace_root() -> Path:
    """Folder holding every saved workspace (git-ignored). ``SEGMENTS_WORKSPACE`` overrides it."""
    return Path(os.environ.get("SEGMENTS_WORKSPACE", ROOT / "workspace"))


# --- Clustering (pipeline.cluster) and sequence embeddings (pipeline.cluster.sequences) ---
__all__ += ["ClusterConfig", "SequenceConfig", "TableEmbeddingConfig"]


@dataclass(frozen=True)
class ClusterConfig:
    """Defaults for clustering, k selection, maps and cluster names."""

    random_state: int = SEED
    k_min: int = 2
    k_max: int = 10
    kmeans_n_init: int = 4              # restarts below ``large_n`` rows
    large_n: int = 200_000              # from here K-Means seeds on a sample, then one Lloyd run on all rows
    kmeans_init_sample: int = 50_000
    silhouette_sample: int = 10_000
    gmm_sample: int = 200_000
    agglomerative_sample: int = 5_000   # Ward is O(n^2) in memory: fit on a sample, assign the rest to the nearest centroid
    hdbscan_sample: int = 20_000
    tsne_max: int = 20_000
    skew_threshold: float = 1.0         # log_cols="auto": log1p non-negative columns more skewed than this
    max_categories: int = 50            # one-hot refuses text columns with more distinct values
    name_quantile: float = 0.5          # a cluster-name word's threshold: "high X" = X above this quantile of all
                                        # customers' X, "low X" = at or below it (pipeline.cluster.naming)
    name_strong_quantiles: tuple[float, float] = (0.25, 0.75)  # "very low" at or below / "very high" above these
    name_mid_quantiles: tuple[float, float] = (0.25, 0.75)  # "average income": income between these quantiles
    name_min_share: float = 0.8         # a word is in a cluster's name only if it holds for this share of its members
    name_max_overall: float = 0.7       # ...and for at most this share of all customers (else it says nothing)
    name_max_terms: int = 3
    far_quantile: float = 0.95          # a customer further from its centre than this quantile of the members'
                                        # distances (scaled space) is "unlike any group", whatever the name
    silhouette_tolerance: float = 0.01  # silhouettes this close to the best count as a tie (broken by the elbow)
    campaign_k: tuple[int, int] = (3, 8)  # the recommended k lies in this range: groups a marketer can address
    min_cluster_share: float = 0.05     # ...and every cluster of it holds at least this share of the customers
    threads: int | None = 1             # OpenMP/BLAS threads while clustering; on the busy 2-core box 1 thread was
                                        # 6-20x faster than 2 spinning ones (K-Means 1M x 3: 0.4 s vs 4.5 s). None = default


@dataclass(frozen=True)
class SequenceConfig:
    """Defaults for per-customer spend sequences and the recurrent autoencoder."""

    freq: str = "M"                     # "M" 30-day or "W" 7-day periods, counted back from the end of the data
    weeks: int = 26
    months: int = 12
    cell: str = "gru"                   # "gru" or "lstm"
    units: int = 32
    latent_dim: int = 4                 # bottleneck size (embedding dimension)
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 0.01
    k: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)
    churn_days: int = HORIZON_DAYS


@dataclass(frozen=True)
class TableEmbeddingConfig:
    """Defaults for customer-table exploration and table embeddings versus K-Means (pipeline.cluster.explore,
    pipeline.cluster.table_embeddings). Median fill + standardise (``log="none"``) reproduces the CC GENERAL
    reference figures."""

    methods: tuple[str, ...] = ("gru", "dense")  # embeddings compared: "gru", "lstm" (columns read as a sequence),
                                                 # "dense" (dense autoencoder)
    k: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)
    log: str = "none"                   # a LOG_MODES key; "none" = median fill + standardise only
    pca_components: int = 2             # "K-Means on PCA" clusters this many principal components
    kmeans_n_init: int = 4
    latent_dim: int = 4                 # embedding size of every encoder
    units: int = 16                     # GRU/LSTM units
    hidden: int = 32                    # dense layers of the decoders and of the dense autoencoder
    recurrent_epochs: int = 8
    dense_epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 0.01
    ks: tuple[int, ...] = tuple(range(2, 11))   # elbow / silhouette sweep of the exploration
    max_heatmap_columns: int = 40
    stable_ari: float = 0.8             # verdict: mean pairwise adjusted Rand below this = clusters move with the seed
    min_cluster_share: float = 0.02     # verdict: a cluster smaller than this share is too small to target
    tie_silhouette: float = 0.02        # verdict: common-space silhouettes this close count as a tie
    random_state: int = SEED


# --- BTYD / customer value (pipeline.clv) and the churn dataset (pipeline.churn) ---
__all__ += ["BTYDConfig", "ChurnDataConfig"]


@dataclass(frozen=True)
class BTYDConfig:
    """Defaults for the BG/NBD, Pareto/NBD and Gamma-Gamma fits (pipeline.clv)."""

    horizon_days: int = HORIZON_DAYS
    penalizers: tuple[float, ...] = (0.001, 0.01, 0.1)  # tried after the unpenalised fits fail
    log_bound: float = 12.0                   # |log parameter| limit of the bounded fallback fit
    boundary_dropout: float = 1e-3            # a/(a+b) below this: dropout at the boundary
    max_next_order_days: int = 730            # no next order expected within this: NaT
    min_fit_customers: int = 10               # fewer customers with T > 0: empirical-rate model


@dataclass(frozen=True)
class ChurnDataConfig:
    """Rules of the out-of-time churn dataset (pipeline.churn)."""

    min_history_days: int = 30                # history needed before the training cutoff
    min_customers: int = 20                   # per train/test set
    min_class_count: int = 5                  # customers per class (churned / active)
    max_customers: int = 200_000              # larger train/test sets: a seeded random sample (SEED)


# --- Multi-slice training data (pipeline.slices) and the models trained on it ---
__all__ += ["SliceConfig"]


@dataclass(frozen=True)
class SliceConfig:
    """How past cutoffs are stacked into one training set (pipeline.slices) and how the churn model learns from
    them (pipeline.models.sliced)."""

    step_days: int = 30                       # days between stacked cutoffs
    max_slices: int = 12                      # at most this many past cutoffs per model
    max_rows: int = 120_000                   # stacked rows above this: the same random share of every slice
    churn_model: str = "logreg"               # the card's churn model family (a zoo key), trained on the slices
    early_stopping_rounds: int = 30           # boosted trees stop when the validation slice stops improving
    calibration: str = "sigmoid"              # probabilities calibrated on the validation slice (Platt)
    single_slice_valid: float = 0.3           # only one past slice: this random share of it validates instead
    # tree families on stacked slices (many rows, slowly drifting periods): shallower, larger leaves, more trees
    # than the Model lab's defaults; boosted trees stop early on the validation slice
    tree_max_depth: int = 5
    min_leaf_share: float = 0.005             # smallest leaf of a tree / forest: this share of the training rows
    xgb_trees: int = 1000
    xgb_max_depth: int = 4
    xgb_learning_rate: float = 0.03
    xgb_min_child_weight: float = 20.0
    xgb_reg_lambda: float = 5.0
    random_state: int = SEED


# --- Spend and next-order forecasts trained on slices (pipeline.predict) ---
__all__ += ["SpendConfig", "NextOrderConfig"]


@dataclass(frozen=True)
class _BoostedForecastConfig:
    """What the boosted forecasts of pipeline.predict share: the interval, the validation and the gradient boosting."""

    interval: float = 0.80                    # split-conformal interval level, calibrated on the validation slice
    single_slice_valid: float = 0.3           # only one past slice: this random share of it validates instead
    max_rows: int = 120_000                   # training rows at most (each forecast says which rows)
    max_iter: int = 150                       # boosting rounds at most (early-stopped on the validation slice; at
                                              # the test cutoffs it stopped near 80, at the end it crept to 300)
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 100
    l2_regularization: float = 1.0
    early_stopping_rounds: int = 20
    threads: int = 1                          # OpenMP threads of the gradient-boosting models
    random_state: int = SEED


@dataclass(frozen=True)
class SpendConfig(_BoostedForecastConfig):
    """The spend-in-the-next-H-days forecast (pipeline.predict.spend) and its interval. ``max_rows``: stacked
    training rows (SliceSet.stack's seeded sampling)."""

    conformal_share: float = 0.5              # share of the validation slice's customers kept for the interval
    gini_tolerance: float = 0.01              # choice: lowest validation MAE among forecasts ranking this close
                                              # to the best validation Gini
    btyd_blend: float = 0.5                   # weight of BG/NBD x Gamma-Gamma in the blended candidates
    min_buyers: int = 30                      # fewer buyers in training: spend if buying is their average
    learning_rate: float = 0.05
    min_samples_leaf: int = 40


@dataclass(frozen=True)
class NextOrderConfig(_BoostedForecastConfig):
    """The next-order forecast (pipeline.predict.next_order): a discrete-time hazard over weekly periods.
    ``max_rows``: person-period rows of the training slices; above it the same seeded share of every slice's
    customers (300k: 2.5x the time, within 0.4 days of MAE)."""

    period_days: int = 7                      # one hazard period


# --- Model lab orchestration (pipeline.models.lab) ---
__all__ += ["LabConfig"]


@dataclass(frozen=True)
class LabConfig:
    """Defaults of the model lab: the random split of table targets and the importance of the best model."""

    test_size: float = 0.25
    importance_rows: int = 1000               # test rows permuted for the best model's importance
    importance_repeats: int = 3
    random_state: int = SEED
    headline_top: int = 500                   # the plain sentence: "of the 500 customers it ranks riskiest, ..."


# --- Grading the card's value predictions out of time (pipeline.value) ---
__all__ += ["ValueConfig"]


@dataclass(frozen=True)
class ValueConfig:
    """How spend, orders and next-order predictions are graded against naive baselines (``pipeline.value``)."""

    top_share: float = 0.10                   # "share of next-period revenue captured by the top 10%"
    min_graded: int = 20                      # fewer graded customers than this: no verdict (too few to say)
    min_p_alive_auc: float = 0.55             # P(alive) must rank who buys again at least this well
    min_signal_auc: float = 0.55              # churn: no model or rule ranks better than this = no signal; rules shown
    contradiction_gap: float = 0.4            # card numbers this far apart (as probabilities) get a one-line "why"
    regressor_iterations: int = 200           # the spend model (gradient boosting, Poisson loss)
    regressor_learning_rate: float = 0.05
    threads: int = 1                          # OpenMP threads of the regressor (as ClusterConfig.threads)
    random_state: int = SEED


# --- DuckDB connections (pipeline.ingest.db) ---
__all__ += ["DuckDBConfig"]


@dataclass(frozen=True)
class DuckDBConfig:
    """How every DuckDB connection is opened: bounded memory, spilling to a temp folder, a thread count."""

    memory_limit: str = field(default_factory=lambda: os.environ.get("SEGMENTS_DUCKDB_MEMORY", "1500MB"))
    temp_directory: str | None = None          # None: the system temp folder (tempfile.gettempdir())
    threads: int | None = None                 # None: DuckDB's default (one per core)
    preserve_insertion_order: bool = False     # False lets big scans stream; every result that needs order sorts


# --- Model health: backtests, drift, champion/challenger, prediction log (pipeline.health) ---
__all__ += ["HealthConfig"]


@dataclass(frozen=True)
class HealthConfig:
    """Defaults of model monitoring and retraining (pipeline.health)."""

    backtest_every_days: int = 30              # rolling-origin cutoffs this many days apart
    top_share: float = 0.10                    # "precision in the riskiest 10%": the share of customers flagged
    psi_bins: int = 10                         # quantile bins of the training population per numeric feature
    psi_threshold: float = 0.2                 # PSI above this: the feature (or segment mix) has drifted
    challenger_model: str = "forest"           # zoo key of the challenger (the most stable in the Online Retail backtest)
    promote_metric: str = "roc_auc"            # compared on the same latest out-of-time window
    promote_margin: float = 0.01               # the challenger must beat the champion by at least this much
    calibration_bins: int = 10                 # realised calibration of logged predictions
    log_flush_seconds: float = 1.0             # a service's served predictions are written in batches this often


# --- Campaigns: control group and results (pipeline.campaign) ---
__all__ += ["CampaignConfig"]


@dataclass(frozen=True)
class CampaignConfig:
    """Defaults of campaign lists and their measurement (pipeline.campaign)."""

    control_share: float = 0.10                # share of the audience held out at random (no coupon)
    confidence: float = 0.95                   # level of the treated-vs-control intervals
    results_window_days: int = 30              # purchases counted from the send date for this many days
