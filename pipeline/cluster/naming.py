"""What each cluster is: profiles (size, revenue share, feature means, segment mix) and names in words.

Names are generated from how far each cluster's feature means lie from the overall mean, with words chosen by
:data:`NAME_RULES` (configuration as data: a new feature vocabulary is a new row); :func:`apply_names` takes the
analyst's own names instead. Everything that describes clusters to a reader belongs here.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pandas as pd

from pipeline.cluster.algorithms import NOISE
from pipeline.cluster.features import CustomerFeatures, as_category
from pipeline.config import ClusterConfig
from pipeline.errors import DataError

__all__ = ["NOISE_NAME", "NAME_RULES", "name_clusters", "segment_mix", "cluster_profiles", "apply_names"]

NOISE_NAME = "noise"

#: Words for a cluster whose mean of a feature is clearly above / below the overall mean.
#: (pattern matched as whole words in the lower-cased column name, word if high, word if low); first match wins.
NAME_RULES: tuple[tuple[str, str, str], ...] = (
    ("trend", "rising", "falling"),
    ("recency|days since", "lapsed", "recent"),
    ("days between", "slow to reorder", "quick to reorder"),
    ("spending score", "high spending score", "low spending score"),
    ("income", "high income", "low income"),
    ("avg order value|aov|order value|basket", "big baskets", "small baskets"),
    ("monetary|spend|revenue|amount|sales", "high spend", "low spend"),
    ("frequency|orders|visits|purchases", "frequent", "infrequent"),
    ("tenure|first purchase", "long-standing", "new"),
    ("return rate|return count|returns", "many returns", "few returns"),
    ("n products|products", "broad range", "narrow range"),
    ("n categories|categories", "many categories", "few categories"),
    ("age", "older", "younger"),
)


def _words_for(feature: str, rules: Sequence[tuple[str, str, str]]) -> tuple[str, str]:
    norm = " ".join(re.sub(r"[^a-z0-9]+", " ", feature.lower()).split())
    for pattern, high, low in rules:
        if re.search(rf"\b(?:{pattern})\b", norm):
            return high, low
    return f"high {feature}", f"low {feature}"


def _cluster_terms(z: pd.Series, cat_terms: list[str], rules, threshold: float, limit: int) -> list[str]:
    """Terms for one cluster, strongest first: numeric features beyond the threshold, then categorical ones."""
    terms: list[str] = []
    for feat in z.abs().sort_values(ascending=False, kind="stable").index:
        if abs(z[feat]) < threshold:
            break
        high, low = _words_for(str(feat), rules)
        word = high if z[feat] > 0 else low
        if word not in terms:
            terms.append(word)
    return (terms + cat_terms)[:limit]


def name_clusters(z_scores: pd.DataFrame, cat_terms: dict[int, list[str]] | None = None,
                  rules: Sequence[tuple[str, str, str]] = NAME_RULES,
                  config: ClusterConfig = ClusterConfig()) -> dict[int, str]:
    """Unique descriptive names from per-cluster z-scores of feature means (rows = cluster ids).

    A feature is mentioned when ``|z| >= config.name_threshold`` (at most ``config.name_max_terms``);
    a cluster close to the mean on everything is "average". Clusters sharing a name get weaker and extra
    terms; any name still shared gets a number.
    """
    cat_terms = cat_terms or {}

    def name(cid: int, threshold: float, limit: int) -> str:
        return ", ".join(_cluster_terms(z_scores.loc[cid], cat_terms.get(cid, []), rules, threshold, limit))

    names = {cid: name(cid, config.name_threshold, config.name_max_terms) or "average" for cid in z_scores.index}
    counts = pd.Series(names).value_counts()
    for cid in z_scores.index:
        if counts[names[cid]] > 1:
            names[cid] = name(cid, 0.1, config.name_max_terms + 2) or names[cid]
    seen: dict[str, int] = {}
    counts = pd.Series(names, dtype=object).value_counts()
    for cid in z_scores.index:
        if counts[names[cid]] > 1:
            base = names[cid]
            seen[base] = seen.get(base, 0) + 1
            names[cid] = f"{base} ({seen[base]})"
    return names


def _categorical_terms(df: pd.DataFrame, labels: np.ndarray, tf: CustomerFeatures) -> dict[int, list[str]]:
    """'mostly X' for categories that make up >= 80% of a cluster but <= 65% overall."""
    out: dict[int, list[str]] = {}
    for f in tf.categorical_:
        cats = as_category(df[f])
        overall = cats.value_counts(normalize=True)
        mix = pd.crosstab(labels, cats, normalize="index")
        for cid, row in mix.iterrows():
            top = row.idxmax()
            if cid != NOISE and row[top] >= 0.8 and overall[top] <= 0.65:
                label = f"{f} {top}" if re.fullmatch(r"-?\d+(\.\d+)?", str(top)) else str(top)
                out.setdefault(int(cid), []).append(f"mostly {label}")
    return out


def segment_mix(df: pd.DataFrame, labels: np.ndarray, segment_col: str) -> pd.DataFrame:
    """Share of each segment (columns) within each cluster (rows); rows sum to 1."""
    if segment_col not in df.columns:
        raise DataError(f"profiles: segment column {segment_col!r} not in the table.")
    return pd.crosstab(pd.Series(labels, name="cluster"), as_category(df[segment_col]).to_numpy(),
                       normalize="index").rename_axis(columns=segment_col)


def cluster_profiles(df: pd.DataFrame, labels: np.ndarray, transformer: CustomerFeatures,
                     revenue_col: str | None = None, segment_col: str | None = None,
                     rules: Sequence[tuple[str, str, str]] = NAME_RULES,
                     config: ClusterConfig = ClusterConfig()) -> pd.DataFrame:
    """One row per cluster (noise last): cluster, name, size, share, revenue_share, feature means, mix.

    Numeric features are averaged in raw units; a categorical feature shows its most common value and share;
    ``top_segments`` lists the three commonest segments. Names compare each cluster's mean in the transformed
    space (log/standardised) with the overall mean.
    """
    labels = np.asarray(labels)
    if len(labels) != len(df):
        raise DataError(f"profiles: {len(labels):,} labels for {len(df):,} customers; they must match.")
    ids = sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c))
    Xdf = pd.DataFrame(transformer.transform(df)[:, : len(transformer.numeric_)], columns=transformer.numeric_)
    std = Xdf.std(ddof=0).replace(0, 1.0)
    z = ((Xdf.groupby(labels).mean() - Xdf.mean()) / std).reindex([c for c in ids if c != NOISE]).fillna(0.0)
    names = name_clusters(z, _categorical_terms(df, labels, transformer), rules, config)
    names[NOISE] = NOISE_NAME
    sizes = pd.Series(labels).value_counts()
    out = pd.DataFrame({"cluster": ids, "name": [names[c] for c in ids], "size": [int(sizes[c]) for c in ids]})
    out["share"] = out["size"] / len(labels)
    if revenue_col is not None:
        if revenue_col not in df.columns:
            raise DataError(f"profiles: revenue column {revenue_col!r} not in the table.")
        rev = pd.to_numeric(df[revenue_col], errors="coerce").fillna(0.0)
        out["revenue_share"] = _by_cluster(rev, labels, ids, "sum") / rev.sum() if rev.sum() else np.nan
    for f in transformer.numeric_:
        out[f] = _by_cluster(pd.to_numeric(df[f], errors="coerce"), labels, ids, "mean")
    for f in transformer.categorical_:
        cats = as_category(df[f]).reset_index(drop=True)
        out[f] = [_top_share(cats[labels == c]) for c in ids]
    if segment_col is not None:
        mix = segment_mix(df, labels, segment_col)
        out["top_segments"] = [", ".join(f"{s} {p:.0%}" for s, p in mix.loc[c].nlargest(3).items() if p > 0)
                               for c in ids]
    return out


def _by_cluster(values: pd.Series, labels: np.ndarray, ids: list[int], how: str) -> np.ndarray:
    return values.reset_index(drop=True).groupby(labels).agg(how).reindex(ids).to_numpy()


def _top_share(values: pd.Series) -> str:
    share = values.value_counts(normalize=True)
    return f"{share.index[0]} ({share.iloc[0]:.0%})" if len(share) else ""


def apply_names(profiles: pd.DataFrame, names: dict) -> pd.DataFrame:
    """Copy of ``profiles`` with the user's cluster names (``{cluster id: name}``; blank names keep the
    generated one). Two clusters may not share a name."""
    given = {int(c): str(n).strip()[:60] for c, n in (names or {}).items() if n is not None and str(n).strip()}
    out = profiles.copy()
    out["name"] = [given.get(int(c), n) for c, n in zip(out["cluster"], out["name"])]
    dup = out["name"][out["name"].duplicated()]
    if len(dup):
        raise DataError(f"cluster names: {dup.iloc[0]!r} is used for more than one cluster; give each cluster "
                        "its own name.")
    return out
