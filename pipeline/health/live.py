"""The live model of a dataset: which model it is, how every page names it, and the check before putting one live.

One pointer decides which model serves a dataset - the Customer page's cards, the Campaigns page's risk bands and
the scoring service (whose :class:`~pipeline.health.registry.ChampionWatcher` polls the same pointer): the
dataset's ``champion.json`` (:class:`~pipeline.health.registry.HealthStore`). *Retrain now* moves it when a
challenger wins; the Model lab moves it by hand with :func:`put_live`. Every page names the model with
:func:`live_model` (``LiveModel.title``), so the Model lab, Model health and the card say the same thing.

Putting live a model that does not beat its simple rule on the same out-of-time window (BG/NBD expected purchases
or the majority class; :func:`baseline_check`), or one that *Retrain now* refused, needs ``confirmed=True``:
:func:`put_live` raises :class:`NeedsConfirmation` with the loss in words otherwise, and nothing changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import DataError
from pipeline.health.registry import HealthStore
from pipeline.models.lab import RULE_NAMES
from pipeline.models.saved import model_title
from pipeline.store import Dataset, Workspace

__all__ = ["LiveModel", "BaselineCheck", "NeedsConfirmation", "live_model", "load_live", "model_title",
           "baseline_check", "put_live", "refused_ids", "DEFAULT_CHURN_TITLE", "ERASED_NOTE"]

#: How a page names the default churn model (trained by the Customer page when no model was put live).
DEFAULT_CHURN_TITLE = "Default churn model (logistic regression)"
#: What every page says of a live model trained on data that included a customer erased since.
ERASED_NOTE = "Trained on data that included an erased customer — retrain."
#: Which kind of saved model may serve which kind of dataset.
_SERVES = {"transactions": "churn", "customers": "column"}


@dataclass(frozen=True)
class LiveModel:
    """Which model serves a dataset (``model_id`` None: the default) and how to say so."""

    dataset_id: str
    kind: str                              # the dataset's kind: transactions or customers
    model_id: str | None = None
    ref: str | None = None                 # v<N> for a retrain version, else the saved id
    title: str = DEFAULT_CHURN_TITLE
    serial: int = 0
    created: str = ""
    trained_on_erased: bool = False        # trained on data that included a customer erased since: retrain

    @property
    def is_default(self) -> bool:
        return self.model_id is None

    @property
    def signature(self) -> str:
        """Changes whenever another model goes live (a cache key for the pages' scorer)."""
        return f"{self.model_id}|{self.serial}|{self.created}"

    def sentence(self) -> str:
        """``Live model (Customer page, Campaigns, scoring service): ...`` - the same words on every page."""
        if self.model_id is None:
            what = DEFAULT_CHURN_TITLE if self.kind == "transactions" else "none (no prediction is shown)"
            return f"Live model (Customer page, Campaigns, scoring service): {what}."
        erased = (f" {ERASED_NOTE}" if self.trained_on_erased else "")
        return f"Live model (Customer page, Campaigns, scoring service): {self.title} ({self.ref}).{erased}"


def live_model(ws: Workspace, dataset_id: str, kind: str = "transactions") -> LiveModel:
    """The live model of a dataset, read from its pointer (the default when none is live or it was deleted)."""
    store = HealthStore(ws, dataset_id)
    mid = store.champion_id()
    serial = int(store.pointer().get("serial", 0))
    if mid is None:
        return LiveModel(dataset_id, kind, serial=serial)
    try:
        meta = store.version_metadata(mid)
    except DataError:
        return LiveModel(dataset_id, kind, serial=serial)
    return LiveModel(dataset_id, kind, mid, store.ref(mid), model_title(meta), serial, meta.created,
                     store.trained_on_erased(mid))


def load_live(ws: Workspace, dataset_id: str):
    """``(pipeline, metadata)`` of the live model, or None for the default (DataError if it cannot be loaded)."""
    return HealthStore(ws, dataset_id).load_champion()


@dataclass(frozen=True)
class BaselineCheck:
    """A model against its simple rule on one out-of-time window: ``metric`` (``roc_auc`` or
    ``balanced_accuracy``), the model's ``value``, the best rule's name and value, where the numbers come from and,
    when *Retrain now* refused the model, that decision's reason."""

    metric: str
    value: float | None
    rule: str | None = None
    rule_value: float | None = None
    source: str = ""
    refused: str | None = None

    @property
    def known(self) -> bool:
        return _finite(self.value) and _finite(self.rule_value)

    @property
    def loses(self) -> bool:
        """True when the model does not beat its simple rule (ties lose: the rule is simpler)."""
        return self.known and self.value <= self.rule_value

    @property
    def needs_confirmation(self) -> bool:
        return self.loses or self.refused is not None

    def loss(self) -> str:
        """``ROC AUC 0.896 is below BG/NBD's 0.903`` (or ``... is no better than ...`` for a tie)."""
        from pipeline.labels import label

        what = "is below" if self.value < self.rule_value else "is no better than"
        return f"{label(self.metric)} {self.value:.3f} {what} {self.rule}'s {self.rule_value:.3f}"

    def question(self) -> str:
        """The confirmation the Model lab shows before putting this model live."""
        parts = []
        if self.loses:
            parts.append(f"{self.loss()} ({self.source}) — put it live anyway? The cards would then not use its "
                         "churn risk: they would show the simple rule's and say which.")
        if self.refused:
            parts.append(f"Retrain now refused this model: {self.refused}")
        if not self.loses:
            parts.append("Put it live anyway?")
        return " ".join(parts)


class NeedsConfirmation(DataError):
    """Putting a model live was not done: it loses to its simple rule or was refused; ``check`` says how."""

    def __init__(self, check: BaselineCheck):
        super().__init__(check.question())
        self.check = check


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and bool(np.isfinite(x))


def baseline_check(ws: Workspace, dataset: Dataset, model_id: str, grade_now: bool = True) -> BaselineCheck:
    """How saved model ``model_id`` compares with its simple rule on an out-of-time window of ``dataset``.

    The numbers recorded when it was trained on this dataset are used (a retrain version: its BG/NBD baseline on the
    latest window; a Model-lab model: the baseline rows of its comparison). A model trained elsewhere, or saved
    without its baselines, is graded now on this dataset's latest out-of-time window with BG/NBD beside it (unless
    ``grade_now`` is False: the check then says it is unknown).
    """
    store = HealthStore(ws, dataset.id)
    meta = store.version_metadata(model_id)
    _check_kind(meta, dataset)
    refused = _refusal(store, model_id)
    same = (meta.extra.get("dataset") or {}).get("id") == dataset.id
    metric = "roc_auc" if meta.extra.get("kind") == "churn" else "balanced_accuracy"
    rules = _recorded_rules(meta, metric) if same else {}
    value = meta.metrics.get(metric) if same else None
    if rules and _finite(value):
        name, best = max(rules.items(), key=lambda kv: kv[1])
        cut = (meta.extra.get("settings") or {}).get("cutoff")
        where = f"on customers as of {cut}, the window it was tested on" if cut else "on its test rows"
        return BaselineCheck(metric, float(value), name, float(best), where, refused)
    if meta.extra.get("kind") != "churn" or not grade_now:
        return BaselineCheck(metric, value if _finite(value) else None, None, None,
                             "no simple rule was recorded with it on this dataset", refused)
    return _graded_now(store, model_id, dataset, refused)


def _check_kind(meta, dataset: Dataset) -> None:
    wanted = _SERVES.get(dataset.kind)
    kind = meta.extra.get("kind")
    if kind != wanted:
        what = {"churn": "churn risk", "column": "a customer-table column", "segment": "the RFM segment"}
        raise DataError(f"'{meta.extra.get('name', meta.model_key)}' predicts {what.get(kind, kind)}; the live "
                        f"model of '{dataset.name}' must predict {what[wanted]}. Train one in the Model lab.")
    if kind == "column":
        missing = [c for c in meta.features if c not in dataset.customers.columns]
        if missing:
            raise DataError(f"'{meta.extra.get('name')}' needs columns {missing[:3]} that '{dataset.name}' does not "
                            "have; it cannot serve this dataset.")


def _recorded_rules(meta, metric: str) -> dict[str, float]:
    """``{rule name: value}`` of the simple rules recorded with a model (retrain versions: BG/NBD)."""
    out = {}
    for key, row in (meta.extra.get("baselines") or {}).items():
        if _finite((row or {}).get(metric)):
            out[RULE_NAMES.get(key, key)] = float(row[metric])
    health = (meta.extra.get("health") or {}).get("baseline") or {}
    if _finite(health.get(metric)):
        out["BG/NBD"] = float(health[metric])
    return out


def refused_ids(ws: Workspace, dataset_id: str) -> dict[str, str]:
    """``{model id: reason}`` of the challengers *Retrain now* refused on this dataset (and never promoted)."""
    store, out = HealthStore(ws, dataset_id), {}
    for d in store.decisions():
        if d.get("action") == "retrain" and d.get("challenger"):
            mid = store.folder_id(d["challenger"])
            if d.get("promoted"):
                out.pop(mid, None)
            else:
                out[mid] = str(d.get("reason") or "not promoted")
    return out


def _refusal(store: HealthStore, model_id: str) -> str | None:
    """The reason *Retrain now* gave for not promoting this model, if it did."""
    ref = store.ref(model_id)
    for d in reversed(store.decisions()):
        if d.get("action") == "retrain" and d.get("challenger") == ref:
            return None if d.get("promoted") else str(d.get("reason") or "not promoted")
    return None


def _graded_now(store: HealthStore, model_id: str, dataset: Dataset, refused: str | None) -> BaselineCheck:
    """Grade a churn model and BG/NBD on the dataset's latest out-of-time window (customers as of end - H)."""
    from sklearn.metrics import roc_auc_score

    from pipeline.churn import baseline_churn_score, out_of_time_split

    pipe, meta = store.load_version(model_id)
    horizon = int((meta.extra.get("settings") or {}).get("horizon") or 90)
    split = out_of_time_split(dataset.transactions, dataset.returns, horizon)
    missing = [c for c in meta.features if c not in split.X_test.columns]
    if missing:
        raise DataError(f"'{meta.extra.get('name')}' needs columns {missing[:3]} that '{dataset.name}' does not "
                        "have; it cannot serve this dataset.")
    y = split.y_test.to_numpy(dtype=int)
    if not 0 < y.sum() < len(y):
        return BaselineCheck("roc_auc", None, None, None, "the latest window has one class only", refused)
    labels = [str(v) for v in meta.class_labels]
    col = labels.index("1") if "1" in labels else len(labels) - 1
    value = float(roc_auc_score(y, pipe.predict_proba(split.X_test[list(meta.features)])[:, col]))
    rule = float(roc_auc_score(y, baseline_churn_score(split.X_test)))
    return BaselineCheck("roc_auc", value, "BG/NBD", rule,
                         f"graded now on customers as of {split.info['test']['cutoff']}", refused)


def put_live(ws: Workspace, dataset: Dataset, model_id: str, *, confirmed: bool = False) -> dict[str, Any]:
    """Make saved model ``model_id`` the live model of ``dataset`` (Customer page, Campaigns, the service).

    Raises :class:`NeedsConfirmation` (nothing changes) when the model loses to its simple rule or *Retrain now*
    refused it, unless ``confirmed``; DataError when it cannot serve this dataset. Returns the recorded decision.
    """
    check = baseline_check(ws, dataset, model_id)
    if check.needs_confirmation and not confirmed:
        raise NeedsConfirmation(check)
    store = HealthStore(ws, dataset.id)
    title = model_title(store.version_metadata(model_id))
    how = check.loss() if check.loses else (
        f"{_label(check.metric)} {check.value:.3f} vs {check.rule}'s {check.rule_value:.3f}" if check.known
        else "not checked against a simple rule")
    reason = f"Put live by hand in the Model lab: {title} ({how}{'; confirmed' if check.needs_confirmation else ''})."
    return store.put_live(model_id, reason, check={"metric": check.metric, "value": check.value,
                                                   "rule": check.rule, "rule_value": check.rule_value,
                                                   "confirmed": bool(check.needs_confirmation)})


def _label(metric: str) -> str:
    from pipeline.labels import label

    return label(metric)
