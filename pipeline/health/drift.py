"""Drift: is today's customer base still the population the churn model learned from?

The population a model was trained on is kept as a small profile (:func:`population_profile`: quantile bin edges and
shares of every numeric feature, shares of each category, the RFM segment mix, medians) stored with the model, so no
training rows need to be kept. :func:`drift_table` compares today's customers with it by the population stability
index, PSI = sum over bins of (today - training) x ln(today / training), per feature and for the segment shares;
above the threshold (0.2 by default, :class:`pipeline.config.HealthConfig`) the row is flagged and explained in plain
words ("recent customers order less often than the model learned from").
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.config import HealthConfig
from pipeline.errors import DataError
from pipeline.labels import label

__all__ = ["FEATURE_WORDS", "CUMULATIVE", "DRIFT_COLUMNS", "psi", "population_profile", "current_population",
           "drift_table"]

#: Plain words per feature: (what "higher than in training" means, what "lower" means), said of recent customers.
FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("have gone longer since their last order", "ordered more recently"),
    "frequency": ("order more often", "order less often"),
    "monetary": ("spend more in total", "spend less in total"),
    "avg_order_value": ("spend more per order", "spend less per order"),
    "tenure_days": ("have been customers for longer", "are newer customers"),
    "mean_days_between": ("leave longer gaps between orders", "leave shorter gaps between orders"),
    "median_days_between": ("leave longer gaps between orders", "leave shorter gaps between orders"),
    "orders_30d": ("ordered more in their last 30 days", "ordered less in their last 30 days"),
    "orders_60d": ("ordered more in their last 60 days", "ordered less in their last 60 days"),
    "orders_90d": ("ordered more in their last 90 days", "ordered less in their last 90 days"),
    "spend_30d": ("spent more in their last 30 days", "spent less in their last 30 days"),
    "spend_90d": ("spent more in their last 90 days", "spent less in their last 90 days"),
    "n_products": ("buy a wider range of products", "buy a narrower range of products"),
    "return_rate": ("return more of what they buy", "return less of what they buy"),
    "btyd_expected_purchases": ("are expected to buy more", "are expected to buy less"),
    "btyd_p_alive": ("look more likely to be still active", "look less likely to be still active"),
}

#: Features that grow as the customer base ages: their drift is expected when the model is old, not a change in
#: behaviour (the message says so).
CUMULATIVE = frozenset({"tenure_days", "frequency", "monetary", "n_products", "n_categories", "return_count"})

#: Columns of :func:`drift_table`.
DRIFT_COLUMNS = ("feature", "kind", "psi", "drifted", "training", "today", "message")

_EPS = 1e-4


def psi(expected: Sequence, actual: Sequence) -> float:
    """Population stability index of two share vectors over the same bins (shares clipped at 1e-4)."""
    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _bin_shares(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    idx = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
    return np.bincount(idx, minlength=len(edges) + 1) / max(len(values), 1)


def population_profile(X: pd.DataFrame, segments: pd.Series | None = None,
                       bins: int = HealthConfig.psi_bins) -> dict[str, Any]:
    """JSON-ready profile of a population: per numeric column the interior quantile edges, the bin shares and the
    median; per text column the category shares (top 20, the rest as "(other)"); the segment shares."""
    if X.empty:
        raise DataError("drift: the population is empty; it needs at least one customer.")
    numeric, categorical = {}, {}
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if len(v) == 0:
                continue
            edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1])).tolist()
            numeric[str(col)] = {"edges": edges, "shares": _bin_shares(v, edges).tolist(),
                                 "median": float(np.median(v))}
        else:
            categorical[str(col)] = _category_shares(s.astype("string").fillna("(missing)"))
    seg = {} if segments is None else {str(k): float(v) for k, v in segments.value_counts(normalize=True).items()}
    return {"n": int(len(X)), "numeric": numeric, "categorical": categorical, "segments": seg}


def _category_shares(s: pd.Series, top: int = 20) -> dict[str, float]:
    shares = s.value_counts(normalize=True)
    out = {str(k): float(v) for k, v in shares.head(top).items()}
    if len(shares) > top:
        out["(other)"] = float(shares.iloc[top:].sum())
    return out


def current_population(transactions: pd.DataFrame, returns: pd.DataFrame | None,
                       horizon_days: int) -> tuple[pd.DataFrame, pd.Series]:
    """Today's customers: churn features as of the end of the data and their RFM segments."""
    from pipeline.churn import live_features
    from pipeline.rfm import rfm_table

    X, _ = live_features(transactions, returns, horizon_days)
    seg = rfm_table(transactions).set_index("customer_id")["segment"]
    seg.index = seg.index.astype(str)
    return X, seg


def drift_table(profile: Mapping[str, Any], X: pd.DataFrame, segments: pd.Series | None = None,
                config: HealthConfig = HealthConfig()) -> pd.DataFrame:
    """PSI of every profiled feature and of the segment mix, today (``X``, ``segments``) against ``profile``;
    sorted by PSI, drifted rows first. ``message`` says in plain words what moved."""
    rows = []
    for col, ref in profile.get("numeric", {}).items():
        if col in X.columns:
            v = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            rows.append(_numeric_row(col, ref, v, config.psi_threshold))
    for col, ref in profile.get("categorical", {}).items():
        if col in X.columns:
            rows.append(_share_row(col, "category mix", ref, X[col].astype("string").fillna("(missing)"),
                                   config.psi_threshold))
    if segments is not None and profile.get("segments"):
        rows.append(_share_row("segment", "segment mix", profile["segments"], segments.astype(str),
                               config.psi_threshold))
    table = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
    return table.sort_values(["drifted", "psi"], ascending=False, ignore_index=True)


def _numeric_row(col: str, ref: Mapping[str, Any], v: np.ndarray, threshold: float) -> dict[str, Any]:
    value = psi(ref["shares"], _bin_shares(v, ref["edges"])) if len(v) else float("nan")
    before, now = float(ref["median"]), float(np.median(v)) if len(v) else float("nan")
    drifted = bool(value > threshold)
    if not drifted:
        message = "stable"
    elif now != before:
        name = label(col)
        higher, lower = FEATURE_WORDS.get(col, (f"have a higher {name.lower()}", f"have a lower {name.lower()}"))
        message = (f"Recent customers {higher if now > before else lower} than the model learned from "
                   f"({name}: median {now:,.4g} today vs {before:,.4g} in training)."
                   + (" This grows as customers age: expected for an older model." if col in CUMULATIVE else ""))
    else:
        message = f"Recent customers' {label(col).lower()} is spread differently from what the model learned from " \
                  f"(same median {now:,.4g})."
    return {"feature": col, "kind": "feature", "psi": value, "drifted": drifted, "training": before, "today": now,
            "message": message}


def _share_row(col: str, kind: str, ref: Mapping[str, float], s: pd.Series, threshold: float) -> dict[str, Any]:
    today = s.value_counts(normalize=True)
    names = sorted(set(ref) | {str(k) for k in today.index})
    before = np.array([ref.get(n, 0.0) for n in names])
    now = np.array([float(today.get(n, 0.0)) for n in names])
    value = psi(before, now)
    drifted = bool(value > threshold)
    j = int(np.argmax(np.abs(now - before)))
    biggest = f"'{names[j]}' {before[j]:.0%} -> {now[j]:.0%}"
    message = (f"The {kind} has shifted since training (largest change: {biggest})." if drifted else "stable")
    return {"feature": col, "kind": kind, "psi": value, "drifted": drifted, "training": float(before[j]),
            "today": float(now[j]), "message": message}
