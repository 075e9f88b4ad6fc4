"""Champion/challenger retraining of a dataset's churn model, and scoring with the model in use.

:func:`retrain` trains a challenger (a zoo model, :class:`pipeline.config.HealthConfig` ``challenger_model``) as the
card's churn model is trained: on stacked past cutoffs whose labels end by ``end - H`` (the newest, customers as of
``end - 2H`` labelled by the next H days, validates and calibrates it; :mod:`pipeline.slices`) - and grades it, the
current champion and the BG/NBD baseline on the same latest window (customers as of ``end - H``, labelled by the
last H days; :func:`pipeline.churn.out_of_time_split`). The challenger is promoted only
if it beats the baseline and the champion by at least ``promote_margin`` (a champion trained on data that included
a customer erased since is no bar: it has to go); either way it is saved as a version and the
decision is recorded with both sets of metrics and the reason (:class:`pipeline.health.registry.HealthStore`).
The version that is promoted is exactly the model that was graded (no refit on unseen labels), so the next
retrain's comparison stays out of time.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import HORIZON_DAYS, HealthConfig
from pipeline.errors import DataError
from pipeline.grading import top_share_precision
from pipeline.health.registry import HealthStore, now_iso
from pipeline.store import Dataset, Workspace

__all__ = ["grade", "retrain", "decide", "score_customers", "with_churn_model"]


def grade(y: np.ndarray, score: np.ndarray, proba: bool, config: HealthConfig = HealthConfig()) -> dict[str, float]:
    """ROC AUC, PR AUC, precision in the riskiest ``top_share`` and (for probabilities) the Brier score."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, score = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    two = 0 < y.sum() < len(y)
    return {"roc_auc": float(roc_auc_score(y, score)) if two else float("nan"),
            "pr_auc": float(average_precision_score(y, score)) if two else float("nan"),
            "top_precision": top_share_precision(y, score, config.top_share),
            "brier": float(np.mean((score - y) ** 2)) if proba else float("nan"), "n": int(len(y)),
            "churn_rate": float(y.mean()) if len(y) else float("nan")}


def decide(challenger: dict, champion: dict | None, baseline: dict,
           config: HealthConfig = HealthConfig()) -> tuple[bool, str]:
    """``(promote, reason)``: the challenger must beat the baseline and the champion by ``promote_margin``."""
    from pipeline.labels import label
    from pipeline.models.metrics import HIGHER_IS_BETTER

    key, margin = config.promote_metric, config.promote_margin
    m = label(key)                                    # "ROC AUC": the reason is read by people
    sign = 1.0 if HIGHER_IS_BETTER.get(key, True) else -1.0
    ch, base = challenger.get(key), baseline.get(key)
    if ch is None or not np.isfinite(ch):
        return False, f"The challenger has no {m} on the latest window (one class only); nothing changes."
    if base is not None and np.isfinite(base) and sign * (ch - base) <= 0:
        return False, (f"Not promoted: the challenger's {m} {ch:.3f} does not beat the BG/NBD baseline "
                       f"({base:.3f}).")
    vs_base = f" (BG/NBD baseline {base:.3f})" if base is not None and np.isfinite(base) else ""
    old = None if champion is None else champion.get(key)
    if old is None or not np.isfinite(old):
        return True, f"Promoted: first model for this dataset with {m} {ch:.3f}{vs_base}."
    gain = sign * (ch - old)
    if gain >= margin:
        return True, (f"Promoted: {m} {ch:.3f} vs the champion's {old:.3f} on the same window (+{gain:.3f}, "
                      f"margin {margin}){vs_base}.")
    worse = "worse than" if gain < 0 else "not better by the margin than"
    return False, (f"Not promoted: {m} {ch:.3f} is {worse} the champion's {old:.3f} on the same window "
                   f"({gain:+.3f}, margin {margin}); the champion stays.")


def retrain(ws: Workspace, dataset: Dataset, *, model: str | None = None, horizon_days: int = HORIZON_DAYS,
            config: HealthConfig = HealthConfig(), split=None) -> dict[str, Any]:
    """Train a challenger, compare it with the champion on the latest out-of-time window, promote or not.

    ``split``: the dataset's :func:`pipeline.churn.out_of_time_split` when the caller has it already (refresh).
    Returns the decision entry (also appended to the dataset's decision history).
    """
    from pipeline.churn import out_of_time_split

    if dataset.kind != "transactions" or dataset.transactions is None:
        raise DataError(f"retrain: '{dataset.name}' is a customer table; churn models need transactions.")
    store = HealthStore(ws, dataset.id)
    split = split or out_of_time_split(dataset.transactions, dataset.returns, horizon_days)
    key = model or config.challenger_model
    fitted, types, training, slices, metrics, baseline = _challenger(dataset, split, key, config)
    champ_version = store.champion()
    champion = _grade_champion(store, champ_version, split, config)
    erased = store.trained_on_erased(store.champion_id())       # set aside: it saw a customer erased since
    promote, reason = decide(metrics, None if erased else champion, baseline, config)
    if erased:
        reason += (f" The live model {champ_version} was trained on data that included an erased customer, so "
                   "it was not a bar to pass.")
    meta = _metadata(dataset, split, key, fitted, types, metrics, baseline, training, slices)
    version = store.save_version(fitted, meta)
    if promote:
        store.set_champion(version)
    entry = {"time": now_iso(), "action": "retrain", "dataset_id": dataset.id, "challenger": version,
             "challenger_model": key, "champion": champ_version, "promoted": promote, "reason": reason,
             "in_use": version if promote else champ_version, "metric": config.promote_metric,
             "margin": config.promote_margin, "window": split.info["test"]["label_window"],
             "train_cutoff": split.info["train"]["cutoff"], "metrics": {"challenger": metrics, "champion": champion,
                                                                         "baseline": baseline}}
    store.record_decision(entry)
    return entry


def _challenger(dataset: Dataset, split, key: str, config: HealthConfig):
    """Fit the challenger as the card's churn model is fitted (:func:`pipeline.customer.classifier.fit_on_slices`:
    stacked past cutoffs whose labels end by the latest window, early-stopped and calibrated on the newest); its
    metrics and the BG/NBD baseline's on the latest window. Returns the fitted pipeline, its feature types, the
    training ``(X, y)``, the slices, its metrics and the baseline's."""
    from pipeline.churn import baseline_churn_score
    from pipeline.customer.classifier import fit_on_slices
    from pipeline.models import REGISTRY, ZooSettings
    from pipeline.config import SliceConfig
    from pipeline.slices import SliceSet

    if key not in REGISTRY or REGISTRY[key].baseline:
        raise DataError(f"retrain: unknown challenger model {key!r}; choose one of "
                        f"{[k for k, s in REGISTRY.items() if not s.baseline]}.")
    h = int(split.info["horizon_days"])
    slices = SliceSet(dataset.transactions, dataset.returns, h)
    cutoff = pd.Timestamp(split.info["test"]["cutoff"])
    pipe, X, y_train = fit_on_slices(slices, cutoff, key, ZooSettings(), SliceConfig())
    types = {c: ("numeric" if pd.api.types.is_numeric_dtype(X[c]) else "categorical") for c in X.columns}
    y = split.y_test.to_numpy(dtype=int)
    metrics = grade(y, pipe.predict_proba(split.X_test[list(types)])[:, 1], True, config)
    baseline = grade(y, baseline_churn_score(split.X_test), False, config)
    return pipe, types, (X, y_train), slices, metrics, baseline


def _grade_champion(store: HealthStore, version: str | None, split, config: HealthConfig) -> dict | None:
    """The champion's metrics on the latest window; None without a champion. A champion that cannot score
    these features is graded as missing (the challenger then only has to beat the baseline)."""
    if version is None:
        return None
    pipe, meta = store.load_version(version)
    missing = [c for c in meta.features if c not in split.X_test.columns]
    if missing:
        return {"version": version, "error": f"cannot score these data (missing {missing[:3]})"}
    proba = pipe.predict_proba(split.X_test[list(meta.features)])
    labels = [str(v) for v in meta.class_labels]
    col = labels.index("1") if "1" in labels else len(labels) - 1
    return grade(split.y_test.to_numpy(dtype=int), proba[:, col], True, config) | {"version": version}


def _metadata(dataset: Dataset, split, key: str, fitted, types: dict, metrics: dict, baseline: dict,
              training: tuple[pd.DataFrame, pd.Series], slices):
    from pipeline.churn import LABEL
    from pipeline.exports import to_jsonable
    from pipeline.health.drift import population_profile
    from pipeline.models import REGISTRY, feature_reference
    from pipeline.models.persist import build_metadata
    from pipeline.rfm import rfm_table

    info = split.info
    train_cut = pd.Timestamp(info["train"]["cutoff"])
    newest = slices.at(train_cut)                    # the newest training period: the drift reference
    seg = rfm_table(dataset.transactions, snapshot=train_cut).set_index("customer_id")["segment"]
    X, y = training[0][list(types)], training[1]
    extra = {"name": f"Churn model of {dataset.name}", "kind": "churn",
             "settings": {"horizon": int(info["horizon_days"]), "cutoff": info["test"]["cutoff"],
                          "train_cutoff": info["train"]["cutoff"], "models": [key],
                          "training_slices": int(X.attrs.get("slices", 1))},
             "dataset": {"id": dataset.id, "name": dataset.name},
             "health": {"trained": now_iso(), "baseline": baseline, "data_end": info["data_end"],
                        "population": population_profile(newest.X[list(types)], seg)}}
    return build_metadata(key, REGISTRY[key].label, LABEL, X, y.to_numpy(), types, [0, 1],
                          {k: v for k, v in metrics.items() if k != "n"}, reference=feature_reference(X, types),
                          extra=to_jsonable(extra))


def score_customers(store: HealthStore, dataset: Dataset, horizon_days: int = HORIZON_DAYS,
                    X_live: pd.DataFrame | None = None) -> pd.DataFrame:
    """Churn score and risk band of every customer as of the end of the data, by the champion (else the default
    logistic regression of the Customer page): ``customer_id, score, band, churn_source, model_version, as_of``.
    These are the model's own scores (``churn_source`` "model"), also while the dataset withholds the model: the
    prediction log grades the model on them; no card or decision reads them. ``X_live``: the live features when
    the caller has them (:func:`pipeline.churn.live_features`)."""
    from pipeline.churn import data_span, live_features
    from pipeline.coupons import risk_bands
    from pipeline.customer.classifier import default_churn_classifier, saved_classifier

    loaded, version = store.load_champion(), store.champion()
    clf = saved_classifier(*loaded, source="champion") if loaded else \
        default_churn_classifier(dataset.transactions, dataset.returns, horizon_days)
    X = X_live if X_live is not None else live_features(dataset.transactions, dataset.returns, horizon_days)[0]
    p = clf.probability(X)
    return pd.DataFrame({"customer_id": X.index.astype(str), "score": p, "band": risk_bands(p),
                         "churn_source": "model", "model_version": f"{dataset.id}/{version or 'default'}",
                         "as_of": data_span(dataset.transactions)[1]})


def with_churn_model(scorer, pipeline, meta):
    """A copy of a fitted :class:`pipeline.customer.scoring.ModelScorer` whose churn model is ``pipeline`` (e.g. a
    promoted champion): churn probabilities, risk bands, the card facts and the card index (drivers and coupons
    depend on the churn score) recomputed, everything else shared. This is how a running service swaps models
    without a restart (``service.main``: a background task polls
    :class:`pipeline.health.registry.ChampionWatcher`)."""
    from pipeline.churn import live_features
    from pipeline.customer.classifier import saved_classifier

    if scorer.history is None:
        raise DataError("Only a transactions dataset's scorer has a churn model to swap.")
    churn = saved_classifier(pipeline, meta, source="champion")
    X, _ = live_features(scorer.history.transactions, scorer.history.returns, scorer.settings.horizon_days)
    swapped = scorer.with_churn(churn, X)     # the churn decision, risk columns, card facts and index recomputed
    note = f"Churn model {meta.extra.get('version', meta.model_key)} ({meta.model_label}) picked up at {now_iso()}."
    notes = [n for n in scorer.notes if not (n.startswith("Churn model ") and " picked up at " in n)]
    return swapped.with_notes([*notes, note])
