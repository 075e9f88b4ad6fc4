"""One customer on one card, and "what if" for hypothetical inputs.

:func:`build_context` does every expensive step once per dataset and keeps the fitted pieces in a
:class:`ProfileContext`: RFM scores and segments, behavioural features as of the end of the data, a BTYD model
(P(alive), expected orders/spend, next order date), a churn model (the Model lab's active model when it fits
the data, else a default logistic regression trained out of time), a clustering (the one saved on the Clusters
page, else K-Means on log + standardised RFM with the recommended k), the next-category recommender and the
coupon catalogue. :func:`customer_profile` then composes the card of one customer, and :func:`what_if` scores
hypothetical inputs in a few milliseconds (see benchmarks/bench_lookup.py).

Customer tables (kind ``"customers"``) have no purchases: their card holds the table's attributes, the cluster,
the prediction of an active Model-lab model trained on such a table, and a coupon from the learned policy.

What-if rules for transactions (inputs: recency, frequency = orders, monetary = total spend, tenure, all as of
the end of the data). Other features are taken from the customer (or the median customer) and made consistent:
average order value = monetary / frequency; mean and median days between orders = (tenure - recency) /
(frequency - 1), or tenure for one order (the features' convention); a one-order customer has tenure = recency;
windows of the last 30/60/90 days hold no order when recency exceeds them; BTYD inputs are frequency - 1 repeat
purchases, recency tenure - recency, age T = tenure - 1 days. Inputs equal to the customer's own values give
exactly the card's numbers.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import ChurnConfig, ClusterConfig
from pipeline.coupons import CouponPolicyConfig, LearnedCouponPolicy, load_catalogue, recommend_coupon, risk_bands
from pipeline.errors import DataError
from pipeline.store import Dataset
from pipeline.log import logged

__all__ = [
    "RFM_INPUTS", "ModelScorer", "ClusterAssigner", "ProfileContext", "CustomerProfile", "WhatIfResult",
    "saved_model_scorer", "default_churn_scorer", "saved_cluster_assigner", "default_cluster_assigner",
    "build_context", "suggest_ids", "customer_profile", "what_if_inputs", "what_if", "purchase_timeline",
]

#: What-if inputs of a transactions dataset (column -> label).
RFM_INPUTS = {"recency_days": "Recency (days since last order)", "frequency": "Frequency (orders)",
              "monetary": "Monetary (total spend)", "tenure_days": "Tenure (days since first order)"}
_RFM3 = ("recency_days", "frequency", "monetary")
_WINDOWS = (30, 60, 90)


# ----------------------------------------------------------------------------------------------- models

@dataclass
class ModelScorer:
    """A fitted classification pipeline with what is needed to score and explain one customer.

    ``positive_index`` is the class whose probability is reported (churned = 1 for churn models; ``None``: the
    predicted class of each row).
    """

    pipeline: Any
    features: list[str]
    class_labels: list
    target: str
    label: str
    source: str                       # "active" (Model lab) or "default"
    description: str
    reference: dict = field(default_factory=dict)
    positive_index: int | None = 1
    metrics: dict = field(default_factory=dict)
    bounds: dict = field(default_factory=dict)      # numeric column -> (min, max) seen in training: inputs clipped

    def _inputs(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model's columns, numeric ones clipped to ``bounds`` (one vectorised step: this is on the what-if path)."""
        if not self.bounds:
            return X[self.features]
        cols = list(self.bounds)
        lo, hi = (np.array([self.bounds[c][i] for c in cols]) for i in (0, 1))
        values = np.clip(X[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float), lo, hi) \
            if any(X[c].dtype == object for c in cols) else np.clip(X[cols].to_numpy(float), lo, hi)
        data = {f: X[f].to_numpy() for f in self.features} | {c: values[:, j] for j, c in enumerate(cols)}
        return pd.DataFrame(data, index=X.index)[self.features]

    def score(self, X: pd.DataFrame, top: int = 5) -> tuple[float, pd.DataFrame]:
        """Positive-class probability and the top drivers of a one-row frame (inputs prepared once)."""
        from pipeline.models import explain_row

        Xi = self._inputs(X)
        p = float(self.pipeline.predict_proba(Xi)[0, self.positive_index if self.positive_index is not None else 1])
        drivers = explain_row(self.pipeline, Xi, self.reference, class_index=self.positive_index, top=top) \
            if top else pd.DataFrame()
        return p, drivers

    def proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (rows x classes)."""
        return self.pipeline.predict_proba(self._inputs(X))

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for every row."""
        return self.proba(X)[:, self.positive_index if self.positive_index is not None else 1]

    def drivers(self, row: pd.DataFrame, top: int = 5, class_index: int | None = None) -> pd.DataFrame:
        """Top per-customer contributions (``feature, value, contribution``; ``attrs['method']``)."""
        from pipeline.models import explain_row

        idx = self.positive_index if class_index is None else class_index
        return explain_row(self.pipeline, self._inputs(row), self.reference, class_index=idx, top=top)


def _positive_index(labels: Sequence) -> int:
    text = [str(v) for v in labels]
    for yes in ("1", "1.0", "True", "true", "yes", "churned"):
        if yes in text:
            return text.index(yes)
    return len(text) - 1


def saved_model_scorer(pipeline, meta, source: str = "active") -> ModelScorer:
    """Wrap a model saved in the Model lab (``pipeline.lab.load_lab_model`` / ``active_model``)."""
    name = meta.extra.get("name", meta.model_key)
    auc = meta.metrics.get("roc_auc")
    what = f"ROC AUC {auc:.3f} on its test set" if isinstance(auc, (int, float)) else "no ROC AUC recorded"
    binary = len(meta.class_labels) == 2
    return ModelScorer(pipeline, list(meta.features), list(meta.class_labels), meta.target, meta.model_label,
                       source, f"Active Model-lab model '{name}' ({meta.model_label}, target {meta.target}; {what}).",
                       dict(meta.reference), _positive_index(meta.class_labels) if binary else None,
                       dict(meta.metrics))


def default_churn_scorer(transactions: pd.DataFrame, returns: pd.DataFrame | None,
                         horizon_days: int = ChurnConfig.horizon_days, seed: int = 42) -> ModelScorer:
    """Logistic regression on the churn features, trained on the latest labelled period.

    Out-of-time check first: trained on customers as of ``end - 2H`` (labels from the next H days) and scored
    on customers as of ``end - H``; its ROC AUC is reported. The model used is then refitted on the ``end - H``
    customers (labels from the last H days) and scores everyone as of the end of the data.

    A linear model extrapolates, so two guards: numeric features that hardly vary in training (standard deviation
    below ``1e-3`` x their mean, e.g. BG/NBD P(alive) when its dropout parameters sit at the boundary, as on UCI
    Online Retail) are left out, and inputs are clipped to the range seen in training.
    """
    from sklearn.metrics import roc_auc_score

    from pipeline.churn import churn_dataset, data_span, out_of_time_split
    from pipeline.models import ZooSettings, build_pipeline, feature_reference, feature_types

    settings = ZooSettings(random_state=seed)
    metrics: dict[str, Any] = {}
    try:
        split = out_of_time_split(transactions, returns, horizon_days)
        X, y = split.X_test, split.y_test
        types = _varying(X, feature_types(X))
        check = build_pipeline("logreg", types, settings).fit(split.X_train[list(types)], split.y_train)
        metrics = {"roc_auc": float(roc_auc_score(y, check.predict_proba(X[list(types)])[:, 1])), "n_test": len(y),
                   "train_cutoff": split.info["train"]["cutoff"], "test_cutoff": split.info["test"]["cutoff"]}
        how = (f"out-of-time ROC AUC {metrics['roc_auc']:.3f} (trained as of {metrics['train_cutoff']}, "
               f"tested on customers as of {metrics['test_cutoff']})")
    except DataError:                       # not enough history for a check: train on the last period only
        end = data_span(transactions)[1]
        X, y, _ = churn_dataset(transactions, returns, end - pd.Timedelta(days=horizon_days), horizon_days)
        types = _varying(X, feature_types(X))
        how = "no out-of-time check: the data are too short for two periods"
    left_out = [c for c in X.columns if c not in types]
    X = X[list(types)]
    pipe = build_pipeline("logreg", types, settings).fit(X, y)
    flat = f" ({', '.join(left_out)} left out: almost constant in training)" if left_out else ""
    desc = (f"Default churn model: logistic regression on {len(types)} behavioural and BTYD features{flat}, trained "
            f"on {len(y):,} customers labelled by their purchases in the last {horizon_days} days; {how}. "
            "Mark a model in the Model lab to use it instead.")
    bounds = {c: (float(X[c].min()), float(X[c].max())) for c, t in types.items() if t == "numeric"}
    return ModelScorer(pipe, list(types), [0, 1], "churned", "Logistic regression (default)", "default", desc,
                       feature_reference(X, types), 1, metrics, bounds)


def _varying(X: pd.DataFrame, types: dict[str, str]) -> dict[str, str]:
    """Feature types without the numeric columns that hardly vary (std below 1e-3 x |mean|, or constant)."""
    def flat(c: str) -> bool:
        v = pd.to_numeric(X[c], errors="coerce")
        return not v.std() > 1e-3 * abs(v.mean())
    return {c: t for c, t in types.items() if t != "numeric" or not flat(c)}


# ----------------------------------------------------------------------------------------------- clusters

@dataclass
class ClusterAssigner:
    """Cluster of every customer and of hypothetical ones (nearest cluster centre in the clustering's space).

    ``transformer`` is None when the saved clustering used inputs this module cannot rebuild (what-if then has
    no cluster). For K-Means the nearest centre is exactly its own assignment rule; for other methods it is an
    approximation, said in ``description``.
    """

    labels: pd.Series                 # cluster id per customer id
    names: dict[int, str]
    transformer: Any
    centroids: np.ndarray
    centroid_ids: np.ndarray
    source: str                       # "saved" or "default"
    description: str

    def name(self, cluster: int | None) -> str:
        return "" if cluster is None else self.names.get(int(cluster), f"cluster {cluster}")

    def assign(self, row: Mapping[str, Any] | pd.DataFrame) -> int | None:
        """Cluster of one customer given as ``{feature: value}`` (or a one-row frame); None if unavailable."""
        if self.transformer is None or not len(self.centroids):
            return None
        frame = row if isinstance(row, pd.DataFrame) else pd.DataFrame([{f: row.get(f) for f in
                                                                          self.transformer.features_}])
        vec = self.transformer.transform(frame)[0]
        return int(self.centroid_ids[np.argmin(((self.centroids - vec) ** 2).sum(axis=1))])


def _centres(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(sorted(int(c) for c in set(labels.tolist()) if c >= 0))
    return np.array([X[labels == c].mean(axis=0) for c in ids]).reshape(len(ids), X.shape[1]), ids


def saved_cluster_assigner(table: pd.DataFrame, assignments: pd.DataFrame, meta: Mapping) -> ClusterAssigner:
    """The clustering saved on the Clusters page (``Workspace.load_clustering``), over the per-customer table.

    Raises DataError when the saved customers are not in ``table``.
    """
    from pipeline.cluster import CustomerFeatures

    name_col = "cluster_name" if "cluster_name" in assignments else "name"
    a = assignments.assign(customer_id=assignments["customer_id"].astype(str)).drop_duplicates("customer_id")
    labels = pd.Series(a["cluster"].astype(int).to_numpy(), index=a["customer_id"])
    known = labels.index.intersection(table.index)
    if len(known) == 0:
        raise DataError("saved clustering: none of its customers is in this dataset; cluster it again on the "
                        "Clusters page.")
    names = {int(k): str(v) for k, v in (meta.get("names") or {}).items()} if isinstance(meta.get("names"), dict) \
        else {}
    if name_col in a:
        names |= {int(c): str(n) for c, n in zip(a["cluster"], a[name_col])}
    method, k = meta.get("method", "?"), meta.get("k", len(set(labels[labels >= 0])))
    desc = f"Clustering saved on the Clusters page ({method}, k={k})"
    features = [f for f in meta.get("features") or [] if f in table.columns]
    opts = meta.get("options") or {}
    if not features or len(features) < len(meta.get("features") or []):
        return ClusterAssigner(labels, names, None, np.empty((0, 0)), np.array([]), "saved",
                               desc + "; its features are not all customer columns, so what-if cannot place a "
                                      "new customer in it.")
    tf = CustomerFeatures(features, log_cols=opts.get("log_cols", "auto"), scale=opts.get("scale", True),
                          categorical=opts.get("categorical", ())).fit(table.loc[known])
    centroids, ids = _centres(tf.transform(table.loc[known]), labels[known].to_numpy())
    note = "" if method == "kmeans" else "; what-if uses the nearest cluster centre"
    return ClusterAssigner(labels, names, tf, centroids, ids, "saved", f"{desc} on {', '.join(features)}{note}.")


def _cluster_features(table: pd.DataFrame, kind: str) -> list[str]:
    """Default clustering features: R, F, M for transactions; the numeric columns of a customer table."""
    if kind == "transactions":
        return list(_RFM3)
    out = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])
           and not pd.api.types.is_bool_dtype(table[c]) and table[c].nunique() > 1]
    if not out:
        raise DataError("clustering: the customer table has no numeric column to cluster on; cluster it on the "
                        "Clusters page with chosen columns.")
    return out


def default_cluster_assigner(table: pd.DataFrame, kind: str, seed: int = 42,
                             config: ClusterConfig = ClusterConfig()) -> ClusterAssigner:
    """K-Means with the recommended k on log + standardised R, F, M (or a customer table's numeric columns)."""
    from pipeline.cluster import cluster_customers

    features = _cluster_features(table, kind)
    log_cols = list(_RFM3) if kind == "transactions" else "auto"
    run = cluster_customers(table, features, "kmeans", None, id_col="__none__", log_cols=log_cols,
                            random_state=seed, map_method="pca", config=config)
    names = dict(zip(run.profiles["cluster"].astype(int), run.profiles["name"].astype(str)))
    labels = pd.Series(run.fit.labels.astype(int), index=table.index.astype(str))
    how = "log + standardised" if kind == "transactions" else "standardised (log where skewed)"
    desc = (f"Default clustering: K-Means on {how} {', '.join(features)} with the recommended "
            f"k={run.fit.n_clusters} ({run.sweep.reason if run.sweep else ''}). Save a clustering on the "
            "Clusters page to use it instead.")
    return ClusterAssigner(labels, names, run.transformer, run.fit.centroids, np.arange(run.fit.n_clusters),
                           "default", desc)


# ----------------------------------------------------------------------------------------------- context

@dataclass
class ProfileContext:
    """Everything the card and the what-if need, built once per dataset by :func:`build_context`.

    ``table`` has one row per customer (index ``customer_id``): for transactions the RFM columns, the churn
    features, BTYD predictions, ``churn_probability``, ``risk_band``, ``cluster``, ``cluster_name`` and
    ``next_item``; for customer tables the attributes, cluster and the active model's prediction. Treat it as
    read-only; change the catalogue, policy or learned policy with :meth:`with_`.
    """

    dataset_name: str
    kind: str
    table: pd.DataFrame
    horizon_days: int
    catalogue: pd.DataFrame
    policy: CouponPolicyConfig = CouponPolicyConfig()
    as_of: pd.Timestamp | None = None
    rules: pd.DataFrame | None = None
    btyd: Any = None
    churn: ModelScorer | None = None
    model: ModelScorer | None = None
    clusters: ClusterAssigner | None = None
    recommender: Any = None
    transactions: pd.DataFrame | None = None
    tx_rows: dict = field(default_factory=dict)
    population: dict = field(default_factory=dict)
    learned: LearnedCouponPolicy | None = None
    notes: list[str] = field(default_factory=list)

    def with_(self, **changes) -> "ProfileContext":
        """A copy with other ``catalogue`` / ``policy`` / ``learned`` (cheap; the fitted parts are shared)."""
        if "catalogue" in changes:
            changes["catalogue"] = load_catalogue(changes["catalogue"])
        return dataclasses.replace(self, **changes)

    @property
    def ids(self) -> pd.Index:
        return self.table.index

    @property
    def learned_applies(self) -> bool:
        """A learned policy is used only when some of its input columns are columns of this dataset's table."""
        return self.learned is not None and any(c in self.table.columns for c in self.learned.feature_columns)


def _scores_population(rfm: pd.DataFrame, rules: pd.DataFrame | None) -> dict:
    """Sorted 'higher is better' values of R, F, M (hypothetical values are scored against them) and the
    segment of every (R, F) score pair, from the segment rules."""
    from pipeline.rfm import assign_segments

    r, f = np.repeat(np.arange(1, 6), 5), np.tile(np.arange(1, 6), 5)
    names = assign_segments(pd.Series(r), pd.Series(f), rules).to_numpy()
    return {"r": np.sort(-rfm["recency_days"].to_numpy(float)), "f": np.sort(rfm["frequency"].to_numpy(float)),
            "m": np.sort(rfm["monetary"].to_numpy(float)),
            "segments": {(int(a), int(b)): str(n) for a, b, n in zip(r, f, names)}}


def _quantile_score(sorted_values: np.ndarray, value: float, n_bins: int = 5) -> int:
    """The 1..n_bins score ``pipeline.rfm.quantile_scores`` gives a value inside this population (average rank)."""
    n = len(sorted_values)
    less = np.searchsorted(sorted_values, value, "left")
    equal = np.searchsorted(sorted_values, value, "right") - less
    pct = (less + (equal + 1) / 2) / n
    return int(min(max(math.ceil(pct * n_bins), 1), n_bins))


@logged("profile_context")
def build_context(dataset: Dataset, *, rules: pd.DataFrame | None = None, active: tuple | None = None,
                  clustering: tuple[pd.DataFrame, dict] | None = None, catalogue=None,
                  horizon_days: int = ChurnConfig.horizon_days, policy: CouponPolicyConfig = CouponPolicyConfig(),
                  learned: LearnedCouponPolicy | None = None, churn: ModelScorer | None = None,
                  clusters: ClusterAssigner | None = None, seed: int = 42) -> ProfileContext:
    """Fit or load every piece the card needs, once.

    Parameters
    ----------
    dataset : a saved or built dataset (transactions or customer table).
    rules : RFM segment rules (default ``assets/rfm_segments.csv``).
    active : ``(pipeline, metadata)`` of the Model lab's active model, or None.
    clustering : ``(assignments, meta)`` from ``Workspace.load_clustering``, or None.
    catalogue : coupon catalogue (anything :func:`pipeline.coupons.load_catalogue` reads; None = default).
    churn, clusters : pre-built pieces (e.g. cached by the page); built here when None.
    """
    cat = load_catalogue(catalogue)
    if dataset.kind == "customers":
        return _customer_table_context(dataset, active, clustering, cat, policy, learned, clusters, horizon_days, seed)
    if dataset.transactions is None or dataset.transactions.empty:
        raise DataError(f"'{dataset.name}' has no transactions; load a dataset with purchases first.")
    from pipeline.churn import live_features
    from pipeline.clv import btyd_summary
    from pipeline.rfm import rfm_table

    tx = dataset.transactions
    notes: list[str] = []
    rfm = rfm_table(tx, rules=rules).set_index("customer_id")
    rfm.index = rfm.index.astype(str)
    X_live, btyd = live_features(tx, dataset.returns, horizon_days)
    summary = btyd_summary(tx)
    pred = btyd.predict_table(summary)
    table = rfm.join(X_live.drop(columns=[c for c in X_live.columns if c in rfm.columns]), how="left")
    table = table.join(pred.rename(columns={"expected_purchases": "expected_orders"}), how="left")
    churn = churn or _churn_scorer(dataset, active, X_live, horizon_days, seed, notes)
    table["churn_probability"] = churn.probability(X_live.reindex(table.index)) if churn else \
        np.exp(-table["expected_orders"].to_numpy(float))
    if churn is None:
        notes.append("No churn model could be trained on these data; churn probability = exp(-expected orders in "
                     f"{horizon_days} days) from BG/NBD.")
    table["risk_band"] = risk_bands(table["churn_probability"], policy)
    clusters = clusters or _cluster_assigner(table, "transactions", clustering, seed, notes)
    _attach_clusters(table, clusters)
    recommender = _recommender(tx, table, notes)
    return ProfileContext(dataset.name, "transactions", table, horizon_days, cat, policy,
                          as_of=summary.attrs["cutoff"], rules=rules, btyd=btyd, churn=churn, clusters=clusters,
                          recommender=recommender, transactions=tx,
                          tx_rows=tx.groupby(tx["customer_id"].astype(str), sort=False).indices,
                          population=_scores_population(rfm, rules), learned=learned, notes=notes)


def _churn_scorer(dataset: Dataset, active, X_live: pd.DataFrame, horizon: int, seed: int,
                  notes: list[str]) -> ModelScorer | None:
    if active is not None:
        pipe, meta = active
        kind = meta.extra.get("kind")
        missing = [c for c in meta.features if c not in X_live.columns]
        if kind == "churn" and not missing:
            return saved_model_scorer(pipe, meta)
        why = f"it predicts {meta.target!r}" if kind != "churn" else f"it needs columns {missing[:3]}"
        notes.append(f"The active Model-lab model is not used for churn here ({why}); using the default model.")
    try:
        return default_churn_scorer(dataset.transactions, dataset.returns, horizon, seed)
    except DataError as exc:
        notes.append(f"Default churn model not trained: {exc}")
        return None


def _cluster_assigner(table: pd.DataFrame, kind: str, clustering, seed: int, notes: list[str]) -> ClusterAssigner | None:
    if clustering is not None:
        try:
            return saved_cluster_assigner(table, *clustering)
        except DataError as exc:
            notes.append(f"The saved clustering is not used: {exc}")
    try:
        return default_cluster_assigner(table, kind, seed)
    except DataError as exc:
        notes.append(f"No clustering: {exc}")
        return None


def _attach_clusters(table: pd.DataFrame, clusters: ClusterAssigner | None) -> None:
    if clusters is None:
        table["cluster"], table["cluster_name"] = pd.NA, ""
        return
    table["cluster"] = clusters.labels.reindex(table.index).astype("Int64")
    table["cluster_name"] = [clusters.name(c) if pd.notna(c) else "" for c in table["cluster"]]


def _recommender(tx: pd.DataFrame, table: pd.DataFrame, notes: list[str]):
    from pipeline.recommend import ItemRecommender

    try:
        rec = ItemRecommender().fit(tx)
    except DataError as exc:
        notes.append(f"No next-purchase recommendations: {exc}")
        table["next_item"] = ""
        return None
    table["next_item"] = rec.next_item(table.index).reindex(table.index).fillna("").astype(str)
    return rec


def _customer_table_context(dataset: Dataset, active, clustering, cat, policy, learned, clusters, horizon, seed):
    notes: list[str] = []
    table = dataset.customers.copy()
    table["customer_id"] = table["customer_id"].astype(str)
    table = table.drop_duplicates("customer_id").set_index("customer_id")
    model = None
    if active is not None:
        pipe, meta = active
        missing = [c for c in meta.features if c not in table.columns]
        if meta.extra.get("kind") == "column" and not missing:
            model = saved_model_scorer(pipe, meta)
            proba = model.proba(table)
            table["predicted"] = np.asarray(model.class_labels, dtype=object)[proba.argmax(axis=1)]
            table["predicted_probability"] = proba.max(axis=1)
        else:
            notes.append(f"The active Model-lab model ({meta.model_label}, target {meta.target!r}) does not fit "
                         "this table's columns; no prediction is shown.")
    clusters = clusters or _cluster_assigner(table, "customers", clustering, seed, notes)
    _attach_clusters(table, clusters)
    return ProfileContext(dataset.name, "customers", table, horizon, cat, policy, model=model, clusters=clusters,
                          learned=learned, notes=notes)


# ----------------------------------------------------------------------------------------------- lookup

def suggest_ids(ctx: ProfileContext, text: str, limit: int = 10) -> list[str]:
    """Ids starting with ``text`` first, then ids containing it (case-insensitive), at most ``limit``."""
    text = str(text or "").strip().lower()
    ids = ctx.table.index.to_series().astype(str)
    if not text:
        return ids.head(limit).tolist()
    low = ids.str.lower()
    starts = ids[low.str.startswith(text)]
    contains = ids[low.str.contains(text, regex=False) & ~low.str.startswith(text)]
    return pd.concat([starts, contains]).head(limit).tolist()


def _require(ctx: ProfileContext, customer_id) -> str:
    cid = str(customer_id).strip()
    if cid in ctx.table.index:
        return cid
    close = suggest_ids(ctx, cid, 5) if cid else []
    hint = f"; similar ids: {', '.join(close)}" if close else f"; ids look like {', '.join(ctx.table.index[:3])}"
    raise DataError(f"customer id {cid!r} is not in '{ctx.dataset_name}' ({len(ctx.table):,} customers){hint}. "
                    "Check the id or pick one from the list.")


def purchase_timeline(ctx: ProfileContext, customer_id) -> pd.DataFrame:
    """One row per order of a customer: ``invoice_id, date, amount, lines, quantity, top_category``."""
    cid = _require(ctx, customer_id)
    if ctx.transactions is None:
        return pd.DataFrame(columns=["invoice_id", "date", "amount", "lines", "quantity", "top_category"])
    lines = ctx.transactions.iloc[ctx.tx_rows.get(cid, [])]
    g = lines.groupby("invoice_id", sort=False)
    out = g.agg(date=("date", "min"), amount=("amount", "sum"), lines=("amount", "size"),
                quantity=("quantity", "sum"))
    label = _item_label_column(lines)
    out["top_category"] = g[label].agg(lambda s: s.mode().iloc[0] if s.notna().any() else "") if label else ""
    return out.sort_values("date").reset_index()


def _item_label_column(lines: pd.DataFrame) -> str | None:
    for col in ("category", "product_name", "product_id"):
        if col in lines and lines[col].notna().any():
            return col
    return None


def _top_items(lines: pd.DataFrame, column: str, n: int = 5) -> pd.DataFrame:
    if column not in lines or lines[column].isna().all():
        return pd.DataFrame(columns=[column, "spend", "lines", "orders"])
    g = lines.dropna(subset=[column]).groupby(column, observed=True)
    out = g.agg(spend=("amount", "sum"), lines=("amount", "size"), orders=("invoice_id", "nunique"))
    return out.sort_values(["spend", "lines"], ascending=False).head(n).reset_index()


@dataclass
class CustomerProfile:
    """The card of one customer. Money in the data's currency; days are whole days as of ``as_of``."""

    customer_id: str
    kind: str
    segment: str = ""
    scores: dict = field(default_factory=dict)          # recency_days, frequency, monetary, tenure_days, r/f/m
    cluster: int | None = None
    cluster_name: str = ""
    churn_probability: float | None = None
    risk_band: str = ""
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    churn_model: str = ""
    value: dict = field(default_factory=dict)           # p_alive, expected_orders/spend/aov, next order
    habits: dict = field(default_factory=dict)          # avg_order_value, mean_days_between, first/last purchase
    top_categories: pd.DataFrame = field(default_factory=pd.DataFrame)
    top_products: pd.DataFrame = field(default_factory=pd.DataFrame)
    next_items: pd.DataFrame = field(default_factory=pd.DataFrame)
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)
    coupon: dict = field(default_factory=dict)          # coupon_id, coupon_name, expected_value, reason, risk_band
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame)
    attributes: dict = field(default_factory=dict)      # customer tables: the row
    prediction: dict = field(default_factory=dict)      # customer tables: the active model's prediction
    learned_coupon: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The card as plain JSON values (what ``python -m pipeline profile --json`` prints); the ``value``
        entries (p_alive, expected_orders, expected_spend, next_order_date, ...) are top-level keys."""
        from pipeline.exports import to_jsonable

        out = {k: getattr(self, k) for k in ("customer_id", "kind", "segment", "scores", "cluster", "cluster_name",
                                             "churn_probability", "risk_band", "churn_model")}
        out |= self.value
        out |= {k: getattr(self, k) for k in ("habits", "coupon", "attributes", "prediction", "notes")}
        out["drivers"] = self.drivers.to_dict(orient="records")
        out["top_categories"] = self.top_categories.to_dict(orient="records")
        out["next_items"] = self.next_items.to_dict(orient="records")
        if self.learned_coupon:
            out["learned_coupon"] = {k: v for k, v in self.learned_coupon.items() if k != "table"}
        return to_jsonable(_dates_to_text(out))


def _dates_to_text(obj):
    if isinstance(obj, dict):
        return {k: _dates_to_text(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_dates_to_text(v) for v in obj]
    if isinstance(obj, pd.Timestamp):
        return None if pd.isna(obj) else str(obj.date())
    return None if obj is pd.NaT else obj


def _f(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _coupon(ctx: ProfileContext, cid: str, row: Mapping, next_item: str) -> tuple[dict, pd.DataFrame]:
    rec = recommend_coupon({"customer_id": cid, "segment": row["segment"],
                            "churn_probability": float(row["churn_probability"]),
                            "order_value": float(row["avg_order_value"]),
                            "expected_spend": float(row.get("expected_spend") or 0.0),
                            "p_alive": float(row.get("p_alive", 1.0)), "next_category": next_item},
                           ctx.catalogue, ctx.policy)
    return ({"coupon_id": rec.coupon_id, "coupon_name": rec.coupon_name, "expected_value": rec.expected_value,
             "reason": rec.reason, "risk_band": rec.risk_band}, rec.candidates)


def customer_profile(ctx: ProfileContext, customer_id, top: int = 5) -> CustomerProfile:
    """Compose the card of one customer (DataError naming similar ids when the id is unknown)."""
    cid = _require(ctx, customer_id)
    if ctx.kind == "customers":
        return _table_profile(ctx, cid, top)
    row = ctx.table.loc[cid]
    prof = CustomerProfile(cid, "transactions", segment=str(row["segment"]))
    prof.scores = {k: (int(row[k]) if k.endswith("_score") else float(row[k])) for k in
                   ("recency_days", "frequency", "monetary", "tenure_days", "r_score", "f_score", "m_score")}
    prof.cluster = None if pd.isna(row["cluster"]) else int(row["cluster"])
    prof.cluster_name = str(row["cluster_name"])
    prof.churn_probability, prof.risk_band = float(row["churn_probability"]), str(row["risk_band"])
    if ctx.churn is not None:
        prof.drivers = ctx.churn.drivers(ctx.table.loc[[cid]], top)
        prof.churn_model = ctx.churn.description
    else:
        prof.churn_model = "BG/NBD: probability of no order in the horizon (no per-feature drivers)."
    prof.value = {"p_alive": _f(row["p_alive"]), "expected_orders": _f(row["expected_orders"]),
                  "expected_spend": _f(row["expected_spend"]), "expected_aov": _f(row["expected_aov"]),
                  "days_to_next_order": _f(row["days_to_next_order"]), "next_order_date": row["next_order_date"],
                  "horizon_days": ctx.horizon_days, "btyd_model": getattr(ctx.btyd, "kind_", "")}
    one = row["frequency"] <= 1
    prof.habits = {"avg_order_value": float(row["avg_order_value"]),
                   "mean_days_between": None if one else float(row["mean_days_between"]),
                   "first_purchase": row["first_purchase"], "last_purchase": row["last_purchase"],
                   "country": row.get("country")}
    lines = ctx.transactions.iloc[ctx.tx_rows.get(cid, [])]
    prof.top_categories = _top_items(lines, "category", top)
    prof.top_products = _top_items(lines, "product_name" if lines["product_name"].notna().any() else "product_id", top)
    prof.timeline = purchase_timeline(ctx, cid)
    if ctx.recommender is not None:
        prof.next_items = ctx.recommender.top_k(cid, 3)
    prof.coupon, prof.candidates = _coupon(ctx, cid, row, str(row.get("next_item", "")))
    if ctx.learned_applies:
        prof.learned_coupon = ctx.learned.recommend(row.to_dict())
    if one:
        prof.notes.append("One purchase so far: there are no gaps between orders yet, and the BTYD estimates "
                          "(P(alive), expected orders, next order date) lean on the behaviour of similar customers.")
    if pd.isna(row["next_order_date"]):
        prof.notes.append(f"No next order is expected within {ctx.btyd.max_next_order_days:.0f} days.")
    return prof


def _table_profile(ctx: ProfileContext, cid: str, top: int) -> CustomerProfile:
    row = ctx.table.loc[cid]
    extra = {"cluster", "cluster_name", "predicted", "predicted_probability"}
    prof = CustomerProfile(cid, "customers", attributes={k: v for k, v in row.items() if k not in extra})
    prof.cluster = None if pd.isna(row["cluster"]) else int(row["cluster"])
    prof.cluster_name = str(row["cluster_name"])
    if ctx.model is not None:
        prof.prediction = _table_prediction(ctx.model, ctx.table.loc[[cid]])
        prof.drivers = ctx.model.drivers(ctx.table.loc[[cid]], top, class_index=prof.prediction["class_index"])
        prof.churn_model = ctx.model.description
    if ctx.learned_applies:
        prof.learned_coupon = ctx.learned.recommend(prof.attributes)
    else:
        prof.notes.append("A customer table has no purchases, so the expected-value coupon rules do not apply; "
                          "train the learned policy on a coupon-response history with this table's columns to "
                          "recommend a coupon.")
    return prof


def _table_prediction(model: ModelScorer, frame: pd.DataFrame) -> dict:
    proba = model.proba(frame)[0]
    idx = int(proba.argmax())
    return {"target": model.target, "predicted": model.class_labels[idx], "probability": float(proba[idx]),
            "class_index": idx, "model": model.label}


# ----------------------------------------------------------------------------------------------- what-if

def what_if_inputs(ctx: ProfileContext, customer_id=None) -> list[dict]:
    """The what-if inputs: ``name, label, kind ('number'|'choice'), value, min, max, step, options, format``.

    Values start at the customer's own (or the median / most common customer's when ``customer_id`` is None).
    """
    base = _base_row(ctx, customer_id)
    if ctx.kind == "transactions":
        t = ctx.table
        specs = []
        for col, label in RFM_INPUTS.items():
            hi = float(t[col].quantile(0.99) * 2 + 1)
            step = 1.0 if col != "monetary" else 10.0
            lo = 1.0 if col in ("frequency", "recency_days", "tenure_days") else 0.01
            specs.append({"name": col, "label": label, "kind": "number", "value": float(base[col]), "min": lo,
                          "max": max(hi, float(base[col])), "step": step, "options": None,
                          "format": "%.2f" if col == "monetary" else "%.0f"})
        return specs
    return [_table_input(ctx.table, col, base[col]) for col in _table_input_columns(ctx)]


def _table_input_columns(ctx: ProfileContext) -> list[str]:
    cols: list[str] = []
    if ctx.clusters is not None and ctx.clusters.transformer is not None:
        cols += list(ctx.clusters.transformer.features_)
    if ctx.model is not None:
        cols += list(ctx.model.features)
    if ctx.learned_applies:
        cols += [c for c in ctx.learned.feature_columns if c in ctx.table.columns]
    return [c for c in dict.fromkeys(cols) if c in ctx.table.columns]


def _table_input(table: pd.DataFrame, col: str, value) -> dict:
    s = table[col]
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        lo, hi = float(s.min()), float(s.max())
        integer = bool((s.dropna() % 1 == 0).all())
        return {"name": col, "label": col, "kind": "number", "value": float(value) if pd.notna(value) else lo,
                "min": lo - (hi - lo), "max": hi + (hi - lo), "step": 1.0 if integer else (hi - lo) / 100 or 1.0,
                "options": None, "format": "%.0f" if integer else "%.2f"}
    options = sorted(s.dropna().astype(str).unique().tolist())[:200]
    return {"name": col, "label": col, "kind": "choice", "value": str(value) if pd.notna(value) else options[0],
            "min": None, "max": None, "step": None, "options": options, "format": None}


def _base_row(ctx: ProfileContext, customer_id) -> pd.Series:
    """The customer's row, or a typical customer: medians of numbers, most common text values."""
    if customer_id is not None:
        return ctx.table.loc[_require(ctx, customer_id)]
    if "typical" not in ctx.population:
        t = ctx.table
        vals = {c: (t[c].median() if pd.api.types.is_numeric_dtype(t[c]) and not pd.api.types.is_bool_dtype(t[c])
                    else (t[c].mode().iloc[0] if t[c].notna().any() else None)) for c in t.columns}
        ctx.population["typical"] = pd.Series(vals, name="typical customer")
    return ctx.population["typical"]


@dataclass
class WhatIfResult:
    """Predictions for hypothetical inputs (numbers are None where the dataset has no such model)."""

    inputs: dict
    segment: str = ""
    scores: dict = field(default_factory=dict)
    cluster: int | None = None
    cluster_name: str = ""
    churn_probability: float | None = None
    risk_band: str = ""
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    value: dict = field(default_factory=dict)
    coupon: dict = field(default_factory=dict)
    prediction: dict = field(default_factory=dict)
    learned_coupon: dict | None = None
    notes: list[str] = field(default_factory=list)


def what_if(ctx: ProfileContext, inputs: Mapping[str, Any], customer_id=None, drivers: int = 5) -> WhatIfResult:
    """Segment, cluster, churn risk, value and coupon for hypothetical inputs (everything in memory, ~10 ms).

    ``inputs`` override the customer's (or the typical customer's) values; see the module docstring for how the
    other features follow. Inconsistent inputs are corrected and the correction is listed in ``notes``.
    """
    base = _base_row(ctx, customer_id)
    if ctx.kind == "customers":
        return _table_what_if(ctx, base, inputs, drivers)
    row, notes = _derive_row(ctx, base, inputs)
    res = WhatIfResult({k: row[k] for k in RFM_INPUTS}, notes=notes)
    pop = ctx.population
    r, f, m = (_quantile_score(pop["r"], -row["recency_days"]), _quantile_score(pop["f"], row["frequency"]),
               _quantile_score(pop["m"], row["monetary"]))
    res.segment = pop["segments"].get((r, f), "Unassigned")
    res.scores = {"r_score": r, "f_score": f, "m_score": m}
    if ctx.clusters is not None:
        res.cluster = ctx.clusters.assign(row)
        res.cluster_name = ctx.clusters.name(res.cluster)
    if ctx.churn is not None:
        frame = pd.DataFrame([{f: row[f] for f in ctx.churn.features}])
        res.churn_probability, res.drivers = ctx.churn.score(frame, drivers)
    else:
        res.churn_probability = float(np.exp(-row["btyd_expected_purchases"]))
    res.risk_band = str(risk_bands([res.churn_probability], ctx.policy)[0])
    res.value = row["_value"]
    row |= {"segment": res.segment, "churn_probability": res.churn_probability, "expected_spend":
            res.value["expected_spend"], "p_alive": res.value["p_alive"]}
    res.coupon = _coupon(ctx, str(customer_id or "what-if"), row, str(base.get("next_item", "") or ""))[0]
    if ctx.learned_applies:
        res.learned_coupon = ctx.learned.recommend(row)
    return res


def _derive_row(ctx: ProfileContext, base: pd.Series, inputs: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """The feature row for the inputs (the module docstring lists the rules) and notes on corrections."""
    row = base.to_dict()
    notes: list[str] = []
    new = {k: float(inputs.get(k, base[k])) for k in RFM_INPUTS}
    changed = any(not math.isclose(new[k], float(base[k]), rel_tol=1e-9, abs_tol=1e-9) for k in RFM_INPUTS)
    value = {k: row.get(k) for k in ("p_alive", "expected_orders", "expected_aov", "expected_spend",
                                     "days_to_next_order")}
    if not changed:
        row["_value"] = value | {"next_order_date": row.get("next_order_date")}
        return row, notes
    R, F, M, T = (new[k] for k in ("recency_days", "frequency", "monetary", "tenure_days"))
    if F < 1 or M <= 0 or R < 1:
        raise DataError("what-if: frequency must be at least 1 order, monetary above 0 and recency at least 1 day.")
    F = float(round(F))
    if F == 1 and T != R:
        notes.append(f"One order: tenure set to the recency ({R:g} days), first and last order are the same.")
        T = R
    elif T < R:
        notes.append(f"Tenure raised to the recency ({R:g} days): the first order cannot be after the last.")
        T = R
    aov = M / F
    gap = (T - R) / (F - 1) if F > 1 else T
    row.update(recency_days=R, frequency=F, monetary=M, tenure_days=T, avg_order_value=aov,
               mean_days_between=gap, median_days_between=gap,
               std_days_between=row.get("std_days_between", 0.0) if F > 2 else 0.0)
    for w in _WINDOWS:
        if R > w:
            row[f"orders_{w}d"], row[f"spend_{w}d"] = 0.0, 0.0
        else:
            orders = min(F, max(1.0, float(row.get(f"orders_{w}d") or 0.0)))
            row[f"orders_{w}d"], row[f"spend_{w}d"] = orders, min(M, max(float(row.get(f"spend_{w}d") or 0), orders * aov))
    if R > 90:
        for kind in ("orders", "spend"):
            row[f"{kind}_trend_90d"] = -1.0 if R <= 180 else 0.0
    btyd = ctx.btyd.predict_one(F - 1, T - R, max(T - 1, T - R), aov if F > 1 else 0.0, ctx.horizon_days)
    row.update({f"btyd_{k}": btyd[k] for k in ("p_alive", "expected_purchases", "expected_aov", "expected_spend")})
    days = btyd["days_to_next_order"]
    nxt = None if not np.isfinite(days) or ctx.as_of is None else \
        ctx.as_of - pd.Timedelta(days=1) + pd.Timedelta(days=math.ceil(days))
    row["_value"] = {"p_alive": btyd["p_alive"], "expected_orders": btyd["expected_purchases"],
                     "expected_aov": btyd["expected_aov"], "expected_spend": btyd["expected_spend"],
                     "days_to_next_order": None if not np.isfinite(days) else days, "next_order_date": nxt}
    return row, notes


def _table_what_if(ctx: ProfileContext, base: pd.Series, inputs: Mapping[str, Any], drivers: int) -> WhatIfResult:
    row = base.to_dict() | {k: v for k, v in inputs.items() if k in ctx.table.columns}
    res = WhatIfResult({k: row[k] for k in _table_input_columns(ctx)})
    frame = pd.DataFrame([row])
    if ctx.clusters is not None:
        res.cluster = ctx.clusters.assign(frame)
        res.cluster_name = ctx.clusters.name(res.cluster)
    if ctx.model is not None:
        res.prediction = _table_prediction(ctx.model, frame)
        res.drivers = ctx.model.drivers(frame, drivers, class_index=res.prediction["class_index"]) if drivers \
            else pd.DataFrame()
    if ctx.learned_applies:
        res.learned_coupon = ctx.learned.recommend(row)
    return res
