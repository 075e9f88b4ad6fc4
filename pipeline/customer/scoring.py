"""Scoring customers: the fitted models a card needs, built once per dataset (:class:`ModelScorer`).

:func:`build_scorer` does every expensive step once: RFM scores and segments, behavioural features as of the end
of the data, a BTYD model (P(alive), expected orders/spend, next order date), a churn model (the Model lab's active
model when it fits the data, else a default logistic regression trained out of time), a clustering (the one saved
on the Clusters page, else K-Means on log + standardised RFM with the recommended k) and the next-category
recommender. The card (:mod:`pipeline.customer.card`) and the what-if (:mod:`pipeline.customer.whatif`) then read
the scorer; churn risk is read only through the dataset's decision (``ModelScorer.decisions.risk``, a
:class:`pipeline.customer.facts.ChurnRisk`: the model's probability, or the simple rule that beat it, with its
source), never from the churn model directly; a service builds one at start-up and rescores a customer when new
purchases arrive (:func:`pipeline.customer.rescoring.rescore`, which reads this module; this module does not read
it). The pieces a scorer is made of are :mod:`pipeline.customer.parts`'; the card index is built with the scorer
(:mod:`pipeline.customer.index`). Belongs here: what is fitted per dataset and the per-customer table it produces;
not the card's layout nor the what-if's input rules.

Customer tables (kind ``"customers"``) have no purchases: their table holds the attributes, the cluster and the
prediction of the dataset's live model (``pipeline.health.live``) trained on such a table.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.coupons import CouponPolicyConfig, CouponRecommendation, recommend_coupon, risk_bands
from pipeline.customer.classifier import (FittedClassifier, ProbabilisticClassifier, default_churn_classifier,
                                          saved_classifier)
from pipeline.customer.clusters import ClusterAssigner, default_cluster_assigner, saved_cluster_assigner
from pipeline.customer.facts import card_facts, churn_risk
from pipeline.customer.forecasts import assign_columns, forecast_columns, live_forecasts
from pipeline.customer.index import CardIndex, card_index, category_of, fit_recommender, next_categories, suggest_ids
from pipeline.customer.parts import (CouponSetup, Decisions, PurchaseHistory, ScorePopulation, ScoringSettings,
                                     positions, read_only)
from pipeline.errors import DataError
from pipeline.log import logged
from pipeline.store import Dataset

if TYPE_CHECKING:
    from pipeline.churn import ChurnSplit
    from pipeline.clv import BTYDModel
    from pipeline.customer.facts import CardFacts, ChurnRisk
    from pipeline.grading import RecencyRule
    from pipeline.models.persist import ModelMetadata
    from pipeline.recommend import ItemRecommender
    from pipeline.slices import SliceSet
    from pipeline.value import ValueGrades

__all__ = ["ModelScorer", "build_scorer", "risk_columns", "attach_churn", "customer_rows", "coupon_fields"]


@dataclass(frozen=True, eq=False)
class ModelScorer:
    """Everything a card, a what-if or a campaign needs of one dataset, fitted once by :func:`build_scorer`.

    ``table`` has one row per customer (index ``customer_id``): for transactions the RFM columns, the churn
    features, BTYD predictions, ``churn_probability``, ``risk_band``, ``cluster``, ``cluster_name`` and
    ``next_item``; for customer tables the attributes, cluster and the active model's prediction. The churn
    columns (``churn_probability``, ``risk_band``, ``churn_source``, ``churn_basis``) are the dataset's decision's
    (``decisions.risk``): a withheld churn model's probability is in no column and no output.

    Immutable: the table's cells are not writeable (:func:`pipeline.customer.parts.read_only`) and every change is a
    copy that shares the fitted parts (:meth:`with_coupons`, :meth:`with_churn`,
    :func:`pipeline.customer.rescoring.rescore`). The pieces, by who reads them: ``settings`` and ``coupons`` (the
    policy every coupon follows); ``clusters`` and ``recommender`` (where a customer sits and what they may buy
    next: card, what-if, rescoring, campaigns); for transactions ``history`` (lines and BG/NBD fit), ``decisions``
    (what the card may state, where churn risk comes from) and ``index`` (every customer's card parts, built with
    the scorer); for customer tables ``model`` (the dataset's live model); ``notes`` for the people reading it.
    """

    dataset_name: str
    table: pd.DataFrame
    typical: pd.Series                            # medians of numbers, most common text values (what-if start)
    settings: ScoringSettings = ScoringSettings()
    coupons: CouponSetup = field(default_factory=CouponSetup.load)
    clusters: ClusterAssigner | None = None
    recommender: ItemRecommender | None = None
    history: PurchaseHistory | None = None        # transactions only
    decisions: Decisions | None = None            # transactions only
    index: CardIndex | None = None                # transactions only
    model: FittedClassifier | None = None         # customer tables only: the dataset's live model
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        read_only(self.table)
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def kind(self) -> str:
        """``"transactions"`` (a scorer with purchases) or ``"customers"`` (a customer table)."""
        return "transactions" if self.history is not None else "customers"

    @property
    def ids(self) -> pd.Index:
        """Every customer id."""
        return self.table.index

    @property
    def learned_applies(self) -> bool:
        """A learned policy is used only when some of its input columns are columns of this dataset's table."""
        learned = self.coupons.learned
        return learned is not None and any(c in self.table.columns for c in learned.feature_columns_)

    def churn_risk(self, features: pd.DataFrame) -> pd.DataFrame:
        """The churn risk of every row of ``features`` by this dataset's decision (``decisions.risk``), same index:
        ``churn_probability``, ``risk_band``, ``churn_source`` (model, recency or btyd) and ``churn_basis`` (the
        rule and the number it read, "" for the model). What campaigns, as-of tables and exports should call."""
        if self.decisions is None:
            raise DataError(f"churn risk: '{self.dataset_name}' is a customer table without purchases; this needs "
                            "a transactions dataset.")
        return risk_columns(self.decisions.risk, features, self.coupons.policy)

    def with_churn(self, churn: FittedClassifier | None, features: pd.DataFrame) -> ModelScorer:
        """A copy whose trained churn model is ``churn`` (e.g. a promoted champion; ``features``: the live churn
        features, per customer id): the decision (with the grades and rules it had), the churn columns, the card
        facts and the card index recomputed; everything else shared."""
        h, old = self._history("with_churn"), self.decisions
        table = self.table.copy()
        risk, facts = _decide(table, old.grades, churn, h.btyd, old.risk.recency, features.reindex(table.index),
                              self.coupons.policy, self.settings.horizon_days)
        decisions = Decisions(risk, facts, old.forecasts, old.grades, churn)
        index = None
        if self.index is not None:          # the card index's drivers and coupons depend on the churn risk
            index = dataclasses.replace(card_index(table, h.transactions, self.coupons, decisions, self.recommender),
                                        stale=self.index.stale)
        return dataclasses.replace(self, table=table, decisions=decisions, index=index)

    def with_coupons(self, coupons: CouponSetup) -> ModelScorer:
        """A copy with other coupon rules (cheap: the fitted parts are shared). The policy keeps this dataset's
        unit (``CouponPolicyConfig.currency``, set by :func:`build_scorer`): other rules do not change what the
        data are counted in."""
        return dataclasses.replace(self, coupons=coupons.in_unit(self.coupons.policy.currency))

    def with_notes(self, notes: Sequence[str]) -> ModelScorer:
        """A copy with other notes (e.g. saying which churn model was picked up when)."""
        return dataclasses.replace(self, notes=tuple(notes))

    def require(self, customer_id: object) -> str:
        """The id as stored; DataError naming similar ids when it is unknown."""
        cid = str(customer_id).strip()
        if cid in self.table.index:
            return cid
        close = suggest_ids(self.table.index, cid, 5) if cid else []
        hint = f"; similar ids: {', '.join(close)}" if close else f"; ids look like {', '.join(self.table.index[:3])}"
        raise DataError(f"customer id {cid!r} is not in '{self.dataset_name}' ({len(self.table):,} customers){hint}. "
                        "Check the id or pick one from the list.")

    def coupon(self, customer_id: str, row: Mapping, next_item: str) -> tuple[dict, pd.DataFrame]:
        """The expected-value coupon of one scored row (``segment, churn_probability, avg_order_value, ...``);
        ``next_item``: the recommender's next item, whose category the policy's category coupons read. Withheld
        predictions are not used (:meth:`pipeline.customer.facts.CardFacts.usable`)."""
        next_category = str(category_of(self.recommender, pd.Series([next_item])).iloc[0])
        facts = self.decisions.facts if self.decisions is not None else None
        value = facts.usable(pd.DataFrame([dict(row)])).iloc[0] if facts is not None else \
            {"expected_spend": float(row.get("expected_spend") or 0.0), "p_alive": float(row.get("p_alive", 1.0))}
        rec = recommend_coupon({"customer_id": customer_id, "segment": row["segment"],
                                "churn_probability": float(row["churn_probability"]),
                                "churn_basis": str(row.get("churn_basis") or ""),
                                "order_value": float(row["avg_order_value"]),
                                "expected_spend": float(value["expected_spend"]),
                                "p_alive": float(value["p_alive"]), "next_category": next_category},
                               self.coupons.prepared, self.coupons.policy)
        return coupon_fields(rec), rec.candidates

    def next_categories(self) -> pd.Series:
        """Every customer's likely next category (per customer id), what the coupon policy's category rules read
        (:func:`pipeline.customer.index.next_categories`)."""
        return next_categories(self.table, self.recommender)

    def learned_coupon(self, row: Mapping) -> dict | None:
        """The learned policy's coupon for a row, or None when no learned policy applies to this dataset."""
        return self.coupons.learned.recommend(dict(row)) if self.learned_applies else None

    def _history(self, what: str) -> PurchaseHistory:
        if self.history is None:
            raise DataError(f"{what}: '{self.dataset_name}' is a customer table without purchases; this needs a "
                            "transactions dataset.")
        return self.history


# ----------------------------------------------------------------------------------------------- building

ActiveModel = tuple[ProbabilisticClassifier, "ModelMetadata"]
SavedClustering = tuple[pd.DataFrame, Mapping]


@logged("scorer")
def build_scorer(dataset: Dataset, *, settings: ScoringSettings = ScoringSettings(),
                 coupons: CouponSetup | None = None, rules: pd.DataFrame | None = None,
                 active: ActiveModel | None = None, clustering: SavedClustering | None = None,
                 churn: FittedClassifier | None = None, clusters: ClusterAssigner | None = None) -> ModelScorer:
    """Fit or load every piece the card needs, once.

    Parameters
    ----------
    dataset : a saved or built dataset (transactions or customer table).
    settings : horizon and seed.
    coupons : coupon catalogue and policies (default: ``assets/coupons.csv``, default policy, no learned policy).
    rules : RFM segment rules (default ``assets/rfm_segments.csv``).
    active : ``(pipeline, metadata)`` of the dataset's live model (``pipeline.health.live.load_live``), or None.
    clustering : ``(assignments, meta)`` from ``Workspace.load_clustering``, or None.
    churn, clusters : pre-built pieces (e.g. cached by the page); built here when None.

    The coupon policy's figures are put in the dataset's unit (``CouponPolicyConfig.currency``: its currency, or
    None when spend is counted in items), whatever ``coupons`` said.
    """
    coupons = coupons or CouponSetup.load()
    if dataset.kind == "customers":
        return _customer_table_scorer(dataset, settings, coupons, active, clustering, clusters)
    if dataset.transactions is None or dataset.transactions.empty:
        raise DataError(f"'{dataset.name}' has no transactions; load a dataset with purchases first.")
    from pipeline.currency import dataset_currency

    tx = dataset.transactions
    coupons = coupons.in_unit(dataset_currency(dataset.kind, dataset.report, dataset.extra,
                                               tx["country"] if "country" in tx.columns else None))
    from pipeline.churn import live_features
    from pipeline.clv import btyd_summary
    from pipeline.grading import recency_rule
    from pipeline.rfm import rfm_table

    tx, notes = dataset.transactions, []
    rfm = rfm_table(tx, rules=rules).set_index("customer_id")
    rfm.index = rfm.index.astype(str)
    from pipeline.slices import SliceSet

    slices = SliceSet(tx, dataset.returns, settings.horizon_days)     # past cutoffs the churn model learns from
    split = _split(dataset, settings, slices)
    X_live, btyd = (split.X_live, split.btyd_live) if split is not None else \
        live_features(tx, dataset.returns, settings.horizon_days)
    summary = btyd_summary(tx)
    table = customer_rows(rfm, X_live, btyd.predict_table(summary))
    churn = churn or _churn_classifier(dataset, active, X_live, settings, notes, slices)
    grades = _grades(dataset, settings, split, slices)
    recency = recency_rule(split.X_test["recency_days"], split.y_test) if split is not None else None
    risk, facts = _decide(table, grades, churn, btyd, recency, X_live.reindex(table.index), coupons.policy,
                          settings.horizon_days)
    if churn is None:
        how = f" (exp(-expected orders in {settings.horizon_days} days) from BG/NBD)" if risk.source == "btyd" else ""
        notes.append(f"No churn model could be trained on these data; churn risk is {risk.label}'s{how}.")
    forecasts = live_forecasts(facts, slices)
    assign_columns(table, forecast_columns(facts, forecasts, X_live.reindex(table.index), tx, slices.end))
    clusters = clusters or _cluster_assigner(table, "transactions", clustering, settings.seed, notes)
    _attach_clusters(table, clusters)
    recommender, next_items = fit_recommender(tx, table, notes)
    history = PurchaseHistory(tx, dataset.returns, positions(tx), summary.attrs["cutoff"], btyd,
                              ScorePopulation.of(rfm, rules), positions(dataset.returns))
    decisions = Decisions(risk, facts, forecasts, grades, churn)
    index = card_index(table, tx, coupons, decisions, recommender, next_items)
    return ModelScorer(dataset.name, table, _typical(table), settings, coupons, clusters, recommender, history,
                       decisions, index, notes=notes)


def _decide(table: pd.DataFrame, grades: ValueGrades | None, churn: FittedClassifier | None, btyd: BTYDModel,
            recency: RecencyRule | None, features: pd.DataFrame, policy: CouponPolicyConfig,
            horizon_days: int) -> tuple[ChurnRisk, CardFacts]:
    """The dataset's churn decision and card facts (:func:`pipeline.customer.facts.churn_risk`, ``card_facts``),
    with the churn columns and the chance of buying again they give written into ``table`` (in place;
    ``features``: the live churn features, same index)."""
    risk = churn_risk(grades, churn, horizon_days, recency)
    attach_churn(table, risk, features, policy)
    facts = card_facts(grades, btyd, churn, table, horizon_days, risk=risk)
    table["p_alive"] = facts.chance_again(table)
    return risk, facts


def coupon_fields(rec: CouponRecommendation) -> dict:
    """The card's ``coupon`` entry of a recommendation."""
    return {"coupon_id": rec.coupon_id, "coupon_name": rec.coupon_name, "expected_value": rec.expected_value,
            "reason": rec.reason, "risk_band": rec.risk_band}


def _split(dataset: Dataset, settings: ScoringSettings, slices: SliceSet) -> ChurnSplit | None:
    """The out-of-time split the churn model and the grades share (None: the data are too short for one); its
    feature tables are the slices'."""
    from pipeline.churn import out_of_time_split

    try:
        return out_of_time_split(dataset.transactions, dataset.returns, settings.horizon_days, slices=slices)
    except DataError:
        return None


def _grades(dataset: Dataset, settings: ScoringSettings, split: ChurnSplit | None,
            slices: SliceSet) -> ValueGrades | None:
    """The card's predictions graded on the split (None without a split: the card then says they are unchecked)."""
    from pipeline.value import grade_values

    return None if split is None else grade_values(dataset.transactions, dataset.returns, settings.horizon_days,
                                                   split=split, slices=slices)


def customer_rows(rfm: pd.DataFrame, features: pd.DataFrame, btyd: pd.DataFrame) -> pd.DataFrame:
    """The per-customer table of a transactions dataset before churn/cluster columns: RFM, churn features (the
    RFM table's columns win) and the BTYD predictions (``expected_purchases`` named ``expected_orders``)."""
    table = rfm.join(features.drop(columns=[c for c in features.columns if c in rfm.columns]), how="left")
    return table.join(btyd.rename(columns={"expected_purchases": "expected_orders"}), how="left")


def risk_columns(risk: ChurnRisk, features: pd.DataFrame, policy: CouponPolicyConfig) -> pd.DataFrame:
    """``churn_probability, risk_band, churn_source, churn_basis`` of every row of ``features`` by the decision
    ``risk`` (same index)."""
    p = risk.probability(features)
    return pd.DataFrame({"churn_probability": p, "risk_band": risk_bands(p, policy), "churn_source": risk.source,
                         "churn_basis": risk.basis(features)}, index=features.index)


def attach_churn(table: pd.DataFrame, risk: ChurnRisk, features: pd.DataFrame, policy: CouponPolicyConfig) -> None:
    """Write the churn columns of :func:`risk_columns` into ``table`` (in place; ``features`` share its index).
    ``risk`` is the dataset's decision (``ModelScorer.decisions.risk``): there is no way to attach a model's probability
    that the decision did not choose."""
    cols = risk_columns(risk, features, policy)
    for col in cols.columns:
        table[col] = cols[col].to_numpy()


def _typical(table: pd.DataFrame) -> pd.Series:
    """A typical customer: medians of numbers, most common text values."""
    def typical(s: pd.Series) -> object:
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s.median()
        return s.mode().iloc[0] if s.notna().any() else None
    return pd.Series({c: typical(table[c]) for c in table.columns}, name="typical customer")


def _churn_classifier(dataset: Dataset, active: ActiveModel | None, X_live: pd.DataFrame,
                      settings: ScoringSettings, notes: list[str],
                      slices: SliceSet | None = None) -> FittedClassifier | None:
    if active is not None:
        pipe, meta = active
        kind = meta.extra.get("kind")
        missing = [c for c in meta.features if c not in X_live.columns]
        if kind == "churn" and not missing:
            return saved_classifier(pipe, meta)
        why = f"it predicts {meta.target!r}" if kind != "churn" else f"it needs columns {missing[:3]}"
        notes.append(f"The live model is not used for churn here ({why}); using the default model.")
    try:
        return default_churn_classifier(dataset.transactions, dataset.returns, settings.horizon_days, settings.seed,
                                        slices=slices)
    except DataError as exc:
        notes.append(f"Default churn model not trained: {exc}")
        return None


def _cluster_assigner(table: pd.DataFrame, kind: str, clustering: SavedClustering | None, seed: int,
                      notes: list[str]) -> ClusterAssigner | None:
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
    else:
        clusters.attach(table)


def _customer_table_scorer(dataset: Dataset, settings: ScoringSettings, coupons: CouponSetup,
                           active: ActiveModel | None, clustering: SavedClustering | None,
                           clusters: ClusterAssigner | None) -> ModelScorer:
    notes: list[str] = []
    table = dataset.customers.copy()
    table["customer_id"] = table["customer_id"].astype(str)
    table = table.drop_duplicates("customer_id").set_index("customer_id")
    model = None
    if active is not None:
        pipe, meta = active
        missing = [c for c in meta.features if c not in table.columns]
        if meta.extra.get("kind") == "column" and not missing:
            model = saved_classifier(pipe, meta)
            proba = model.proba(table)
            table["predicted"] = np.asarray(model.class_labels, dtype=object)[proba.argmax(axis=1)]
            table["predicted_probability"] = proba.max(axis=1)
        else:
            notes.append(f"The live model ({meta.model_label}, target {meta.target!r}) does not fit "
                         "this table's columns; no prediction is shown.")
    clusters = clusters or _cluster_assigner(table, "customers", clustering, settings.seed, notes)
    _attach_clusters(table, clusters)
    return ModelScorer(dataset.name, table, _typical(table), settings, coupons, clusters, model=model, notes=notes)
