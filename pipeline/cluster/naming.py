"""What each cluster is: profiles (size, revenue share, feature means, segment mix) and names in words that are true.

A name is made of words ("recent", "high spend", "mostly Female"), each with a rule that says whether it holds for one
customer (:class:`Word`): a numeric word compares the customer's own value with a threshold taken from the data
(``config.name_quantile`` of the feature over all customers: "high spend" = spend above the median, "low spend" =
at or below it), a category word compares the category. A word enters a cluster's name only when it holds for at
least ``config.name_min_share`` of the cluster's members and for at most ``config.name_max_overall`` of all customers
(a word true of nearly everyone says nothing); its strong form ("very frequent": above the upper quartile) is used
when that holds too. A cluster with no such word is described by its middle words when they are true ("average
income": between ``config.name_mid_quantiles`` of income; "average" when that holds on every feature) and is
otherwise "Group N — mixed". Which words exist for which feature is :data:`NAME_RULES`
(configuration as data, ``assets/cluster_name_rules.csv``: a new feature vocabulary is a new row).

One customer is named by :meth:`ClusterNames.for_customers`: the words of its cluster's name that hold for *that*
customer (a strong word that does not, in its plain form when that does), so a one-order customer is never called
"frequent"; a customer further from its cluster's centre than
``config.far_quantile`` of the members (in the scaled space used for assignment), or for whom no word of the name
holds, is :data:`UNLIKE_NAME`. :func:`apply_names` takes the analyst's own names instead; a typed name is kept as
typed, but the "unlike any group" rule still applies. Everything that describes clusters to a reader belongs here.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.cluster.algorithms import NOISE
from pipeline.cluster.features import CustomerFeatures, as_category
from pipeline.config import ASSETS, ClusterConfig
from pipeline.errors import DataError

__all__ = ["NOISE_NAME", "UNLIKE_NAME", "AVERAGE_NAME", "NAME_RULES", "STRONG_WORDS", "strong_word", "Word",
           "is_generated_name", "ClusterNames",
           "vocabulary", "cluster_words", "name_clusters", "cluster_names", "member_distances", "segment_mix",
           "cluster_profiles", "apply_names"]

NOISE_NAME = "noise"
UNLIKE_NAME = "unlike any group"
MIXED_NAME = "Group {cluster} — mixed"


def _read_name_rules(path: Path) -> tuple[tuple[str, str, str, str], ...]:
    with path.open(newline="", encoding="utf-8") as f:
        return tuple((row["pattern"], row["high"], row["low"], row["middle"]) for row in csv.DictReader(f))


#: Words for a customer whose value of a feature is above / at or below the dataset's threshold / in its middle
#: (pattern matched as whole words in the lower-cased column name, word if high, word if low, word if middle);
#: first match wins. The table is data: ``assets/cluster_name_rules.csv`` (pattern, high, low, middle).
NAME_RULES: tuple[tuple[str, str, str, str], ...] = _read_name_rules(ASSETS / "cluster_name_rules.csv")
AVERAGE_NAME = "average"

#: The stronger form of a word, true beyond ``config.name_strong_quantiles`` ("very frequent": above the upper
#: quartile); words not listed take "very ".
STRONG_WORDS = {"older": "much older", "younger": "much younger", "lapsed": "long lapsed"}


def strong_word(word: str) -> str:
    """The stronger form of ``word`` ("frequent" -> "very frequent", "older" -> "much older")."""
    return STRONG_WORDS.get(word, f"very {word}")


@dataclass(frozen=True)
class Word:
    """One word of a cluster name and the rule that makes it true of a customer.

    ``side`` "high": the feature's value is above ``threshold``; "low": at or below it; "mid": within the
    ``threshold`` pair (both ends included); "is": the category equals ``threshold``; "all": every word in
    ``threshold`` holds (:data:`AVERAGE_NAME`). A missing value satisfies no word.
    """

    text: str
    feature: str
    side: str
    threshold: float | str | tuple
    plain: "Word | None" = None          # a strong word's plain form ("frequent" for "very frequent")

    def said_of(self, table: pd.DataFrame) -> np.ndarray:
        """What this word says of each row of ``table``: its text, its plain form's, or "" (object array)."""
        out = np.where(self.holds_in(table), self.text, "").astype(object)
        if self.plain is not None:
            out[(out == "") & self.plain.holds_in(table)] = self.plain.text
        return out

    def holds_in(self, table: pd.DataFrame) -> np.ndarray:
        """Whether the word is true of each row of ``table`` (boolean array)."""
        if self.side == "all":
            return np.logical_and.reduce([w.holds_in(table) for w in self.threshold] + [np.ones(len(table), bool)])
        return self.holds(table[self.feature])

    def holds(self, values: pd.Series) -> np.ndarray:
        """Whether the word is true of each value (boolean array)."""
        if self.side == "is":
            return (as_category(pd.Series(values)) == str(self.threshold)).to_numpy(bool)
        v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if self.side == "mid":
                return (v >= self.threshold[0]) & (v <= self.threshold[1])
            return v > self.threshold if self.side == "high" else v <= self.threshold


def _words_for(feature: str, rules: Sequence[tuple[str, str, str, str]]) -> tuple[str, str, str]:
    norm = " ".join(re.sub(r"[^a-z0-9]+", " ", feature.lower()).split())
    for pattern, high, low, mid in rules:
        if re.search(rf"\b(?:{pattern})\b", norm):
            return high, low, mid
    return f"high {feature}", f"low {feature}", f"average {feature}"


def vocabulary(df: pd.DataFrame, numeric: Sequence[str], rules: Sequence[tuple[str, str, str, str]] = NAME_RULES,
               config: ClusterConfig = ClusterConfig()) -> list[Word]:
    """The words of every numeric feature, each strong form before the plain one: "very high" (above the upper
    ``config.name_strong_quantiles``, when that differs from the plain threshold), "high" (above
    ``config.name_quantile`` of its values in ``df``), "very low", "low" (at or below); then the middle words
    (between ``config.name_mid_quantiles``)."""
    out: list[Word] = []
    mids: list[Word] = []
    for f in numeric:
        values = pd.to_numeric(df[f], errors="coerce")
        threshold = float(values.quantile(config.name_quantile))
        lo, hi = (float(values.quantile(q)) for q in config.name_strong_quantiles)
        high, low, mid = _words_for(str(f), rules)
        plain_high, plain_low = Word(high, f, "high", threshold), Word(low, f, "low", threshold)
        out += [w for w in (Word(strong_word(high), f, "high", hi, plain_high) if hi > threshold else None, plain_high,
                            Word(strong_word(low), f, "low", lo, plain_low) if lo < threshold else None, plain_low)
                if w is not None]
        mids.append(Word(mid, f, "mid", tuple(float(values.quantile(q)) for q in config.name_mid_quantiles)))
    return out + mids


def is_generated_name(name: str, features: Sequence[str], rules: Sequence[tuple[str, str, str, str]] = NAME_RULES
                      ) -> bool:
    """Whether ``name`` reads like one this module makes for ``features`` (every part a naming word), as opposed
    to one an analyst typed; names saved by older versions count as generated."""
    if re.fullmatch(MIXED_NAME.format(cluster=r"-?\d+"), name) or name in (AVERAGE_NAME, NOISE_NAME):
        return True
    vocab = {w for f in features for w in _words_for(str(f), rules)} | {w for r in rules for w in r[1:]}
    vocab |= {strong_word(w) for w in vocab}
    return all(p in vocab or p.startswith("mostly ") for p in re.sub(r" \(\d+\)$", "", name).split(", "))


def _category_words(df: pd.DataFrame, labels: np.ndarray, tf: CustomerFeatures) -> dict[int, list[Word]]:
    """"mostly X" for the commonest category of each cluster (its share is checked like any other word)."""
    out: dict[int, list[Word]] = {}
    for f in tf.categorical_:
        mix = pd.crosstab(labels, as_category(df[f]).to_numpy())
        for cid, row in mix.iterrows():
            top = str(row.idxmax())
            text = f"{f} {top}" if re.fullmatch(r"-?\d+(\.\d+)?", top) else top
            out.setdefault(int(cid), []).append(Word(f"mostly {text}", f, "is", top))
    return out


def cluster_words(df: pd.DataFrame, labels: np.ndarray, tf: CustomerFeatures,
                  rules: Sequence[tuple[str, str, str, str]] = NAME_RULES,
                  config: ClusterConfig = ClusterConfig()) -> dict[int, list[Word]]:
    """The words true of each cluster (noise left out), most distinctive first.

    A word qualifies when it holds for at least ``config.name_min_share`` of the cluster's members and at most
    ``config.name_max_overall`` of all customers. Numeric words come first, ordered by how far the cluster's mean
    lies from the overall mean in the clustering's space (|z|), then category words. A cluster with no high or low
    word gets its true middle words instead (one :data:`AVERAGE_NAME` word when they hold on every feature).
    """
    labels = np.asarray(labels)
    frame = df.reset_index(drop=True)
    Xdf = pd.DataFrame(tf.transform(frame)[:, : len(tf.numeric_)], columns=tf.numeric_)
    z = (Xdf.groupby(labels).mean() - Xdf.mean()) / Xdf.std(ddof=0).replace(0, 1.0)
    vocab = vocabulary(frame, tf.numeric_, rules, config)
    candidates = [w for w in vocab if w.side != "mid"]
    mids = [w for w in vocab if w.side == "mid"]
    holds = {w: w.holds(frame[w.feature]) for w in vocab}
    cats = _category_words(frame, labels, tf)
    out: dict[int, list[Word]] = {}
    for cid in sorted(c for c in set(labels.tolist()) if c != NOISE):
        member = labels == cid
        strength = lambda w: abs(float(z.at[cid, w.feature])) if w.feature in z.columns else 0.0  # noqa: E731
        true = [w for w in (*sorted(candidates, key=strength, reverse=True), *cats.get(int(cid), []))
                if (h := holds[w] if w in holds else w.holds(frame[w.feature]))[member].mean() >= config.name_min_share
                and h.mean() <= config.name_max_overall]
        firsts: dict[tuple[str, str], Word] = {}
        for w in true:                                     # the strong form when it holds, else the plain one
            firsts.setdefault((w.feature, w.side if w.side != "is" else w.text), w)
        true = [w for w in true if firsts[(w.feature, w.side if w.side != "is" else w.text)] is w]
        if not any(w.side in ("high", "low") for w in true):
            middle = [w for w in mids if holds[w][member].mean() >= config.name_min_share]
            average = Word(AVERAGE_NAME, "", "all", tuple(middle))
            if middle and len(middle) == len(mids) and average.holds_in(frame)[member].mean() >= config.name_min_share:
                middle = [average]
            true = middle + true
        out[int(cid)] = list(dict.fromkeys(true))
    return out


def name_clusters(words: Mapping[int, Sequence[Word | str]],
                  config: ClusterConfig = ClusterConfig()) -> tuple[dict[int, str], dict[int, list[Word | str]]]:
    """Unique names from each cluster's true words (strongest first): ``(names, words used in each name)``.

    At most ``config.name_max_terms`` words; a cluster without a word is "Group N — mixed". Clusters whose names
    hold the same words (in any order) get up to two more of their true words; names still alike get a number.
    """
    text = lambda w: w.text if isinstance(w, Word) else str(w)           # noqa: E731

    def pick(cid: int, limit: int) -> list:
        return list(words[cid])[:limit]

    def alike(names: dict[int, str]) -> dict[int, str]:
        return {cid: ", ".join(sorted(n.split(", "))) for cid, n in names.items()}

    used = {cid: pick(cid, config.name_max_terms) for cid in words}
    names = {cid: ", ".join(map(text, used[cid])) or MIXED_NAME.format(cluster=cid) for cid in words}
    key = alike(names)
    counts = pd.Series(key, dtype=object).value_counts()
    for cid in words:
        if counts[key[cid]] > 1 and len(words[cid]) > len(used[cid]):
            used[cid] = pick(cid, config.name_max_terms + 2)
            names[cid] = ", ".join(map(text, used[cid]))
    seen: dict[str, int] = {}
    key = alike(names)
    counts = pd.Series(key, dtype=object).value_counts()
    for cid in words:
        if counts[key[cid]] > 1:
            seen[key[cid]] = seen.get(key[cid], 0) + 1
            names[cid] = f"{names[cid]} ({seen[key[cid]]})"
    return names, used


def member_distances(X: np.ndarray, labels: np.ndarray, centroids: np.ndarray,
                     centroid_ids: Sequence[int] | None = None) -> np.ndarray:
    """Distance of every row of ``X`` to the centre of its own cluster (NaN for noise or an unknown cluster)."""
    ids = list(range(len(centroids))) if centroid_ids is None else [int(c) for c in centroid_ids]
    pos = {c: i for i, c in enumerate(ids)}
    out = np.full(len(X), np.nan)
    for c in set(np.asarray(labels).tolist()):
        if c in pos:
            m = np.asarray(labels) == c
            out[m] = np.sqrt(((X[m] - centroids[pos[c]]) ** 2).sum(axis=1))
    return out


@dataclass
class ClusterNames:
    """Every cluster's name and how a single customer is named.

    ``names``: the name of each cluster as shown (generated or the analyst's); ``words``: the words of each
    generated name (None for a name the analyst typed, kept as typed); ``radius``: ``config.far_quantile`` of the
    members' distances to their centre, beyond which a customer is :data:`UNLIKE_NAME`; ``generated``: the names
    as generated, before any renaming.
    """

    names: dict[int, str]
    words: dict[int, list[Word] | None]
    radius: dict[int, float]
    generated: dict[int, str]

    def renamed(self, names: Mapping[int, str] | None) -> "ClusterNames":
        """These names with the analyst's (blank names keep the generated one); a typed name keeps no words."""
        given = {int(c): str(n).strip() for c, n in (names or {}).items() if n is not None and str(n).strip()}
        shown = {c: given.get(c, n) for c, n in self.names.items()}
        words = {c: (w if shown[c] == self.generated.get(c) else None) for c, w in self.words.items()}
        return replace(self, names=shown, words=words)

    def for_customers(self, table: pd.DataFrame, clusters: Sequence, distances: Sequence[float]) -> list[str]:
        """The name of each customer (row of ``table``) in ``clusters`` at ``distances`` from that centre.

        Far (beyond the cluster's radius) -> "unlike any group"; a typed or word-less name as it is; otherwise
        the words of the cluster's name that hold for this customer (all of them: the cluster's name), and
        "unlike any group" when none does. No cluster (None/NA) -> "".
        """
        frame = table.reset_index(drop=True)
        clusters = pd.Series(list(clusters), dtype="object")
        dist = np.asarray(distances, dtype=float)
        out = np.array([""] * len(frame), dtype=object)
        for c in clusters.dropna().unique():
            c = int(c)
            m = (clusters == c).fillna(False).to_numpy(bool)
            if c == NOISE:
                out[m] = NOISE_NAME
                continue
            name, words = self.names.get(c, f"cluster {c}"), self.words.get(c)
            if not words:
                out[m] = name
            else:
                said = np.column_stack([w.said_of(frame.loc[m]) for w in words])
                full = np.array([w.text for w in words], dtype=object)
                out[m] = [name if (row == full).all() else ", ".join(t for t in row if t) or UNLIKE_NAME
                          for row in said]
            far = m & (dist > self.radius.get(c, np.inf))
            out[far] = UNLIKE_NAME
        return out.tolist()


def cluster_names(df: pd.DataFrame, labels: np.ndarray, tf: CustomerFeatures, X: np.ndarray,
                  centroids: np.ndarray, centroid_ids: Sequence[int] | None = None,
                  rules: Sequence[tuple[str, str, str, str]] = NAME_RULES,
                  config: ClusterConfig = ClusterConfig()) -> ClusterNames:
    """Names, their words and radii of a clustering of ``df`` (rows of ``X``, the scaled assignment space)."""
    labels = np.asarray(labels)
    names, used = name_clusters(cluster_words(df, labels, tf, rules, config), config)
    dist = member_distances(X, labels, centroids, centroid_ids)
    radius = {c: float(np.quantile(dist[labels == c], config.far_quantile, method="higher"))
              for c in names if (labels == c).any() and np.isfinite(dist[labels == c]).all()}
    names[NOISE] = NOISE_NAME
    return ClusterNames(names, {c: list(w) for c, w in used.items()}, radius, dict(names))


def segment_mix(df: pd.DataFrame, labels: np.ndarray, segment_col: str) -> pd.DataFrame:
    """Share of each segment (columns) within each cluster (rows); rows sum to 1."""
    if segment_col not in df.columns:
        raise DataError(f"profiles: segment column {segment_col!r} not in the table.")
    return pd.crosstab(pd.Series(labels, name="cluster"), as_category(df[segment_col]).to_numpy(),
                       normalize="index").rename_axis(columns=segment_col)


def cluster_profiles(df: pd.DataFrame, labels: np.ndarray, transformer: CustomerFeatures,
                     revenue_col: str | None = None, segment_col: str | None = None,
                     rules: Sequence[tuple[str, str, str, str]] = NAME_RULES,
                     config: ClusterConfig = ClusterConfig(), names: Mapping[int, str] | None = None) -> pd.DataFrame:
    """One row per cluster (noise last): cluster, name, size, share, revenue_share, feature means, mix.

    Numeric features are averaged in raw units; a categorical feature shows its most common value and share;
    ``top_segments`` lists the three commonest segments. Names are :func:`name_clusters` of :func:`cluster_words`
    unless ``names`` gives them.
    """
    labels = np.asarray(labels)
    if len(labels) != len(df):
        raise DataError(f"profiles: {len(labels):,} labels for {len(df):,} customers; they must match.")
    ids = sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c))
    if names is None:
        names = name_clusters(cluster_words(df, labels, transformer, rules, config), config)[0]
    names = {**names, NOISE: NOISE_NAME}
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
