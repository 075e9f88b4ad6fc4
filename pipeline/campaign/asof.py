"""The customers a campaign chooses from, as they were on its send date.

A campaign sent on a day inside the data must pick its audience (segment, churn band, cluster) from what was known
that day: purchases dated before it. Taking end-of-data segments instead makes "At Risk" mean "did not buy after
the send date", so the measured conversion is 0 by construction. :func:`campaign_audience` recomputes the per-customer
table of a :class:`~pipeline.customer.ModelScorer` as of the send date with the pipeline's own as-of functions
(:func:`pipeline.rfm.rfm_table` with ``snapshot``, :func:`pipeline.churn.feature_table`, the BTYD summary before the
day) and the scorer's fitted clustering; churn risk follows the dataset's decision (``scorer.decisions.risk``): a
withheld churn model is replaced by the simple rule that held up, and said (withheld expected spend and P(alive) are
left out of the coupon policy by ``campaign_list(facts=)``, and said here too).
A send date on or after the end of the data is the scorer's own table (end of data = the latest that is known).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.errors import DataError

if TYPE_CHECKING:
    from pipeline.customer import ModelScorer

__all__ = ["CampaignAudience", "campaign_audience", "churn_rule"]


@dataclass(frozen=True)
class CampaignAudience:
    """The per-customer table a campaign picks from (index ``customer_id``), the day it describes (``as_of``: the
    first day *not* seen; None for a customer table, which has no dates) and plain notes on how it was made."""

    table: pd.DataFrame
    as_of: pd.Timestamp | None
    notes: list[str] = field(default_factory=list)

    @property
    def as_of_text(self) -> str:
        """``as_of`` as YYYY-MM-DD ("" when there is none)."""
        return "" if self.as_of is None else str(self.as_of.date())


def churn_rule(scorer: ModelScorer) -> tuple[Callable[[pd.DataFrame], pd.DataFrame], str]:
    """How a campaign's churn bands are computed on churn features as of a day (the dataset's one decision about
    churn risk, ``scorer.decisions.risk``, through ``scorer.churn_risk``) and a sentence saying which rule is used
    when it is not the churn model."""
    risk = scorer.decisions.risk if scorer.decisions is not None else None
    if risk is None or risk.uses_model:
        return scorer.churn_risk, ""
    withheld = "withheld on this dataset" if risk.withheld else "not available"
    return scorer.churn_risk, f"Churn bands use {risk.label}, not the churn model ({withheld}): {risk.fact.note}"


def _withheld_notes(scorer: ModelScorer, notes: list[str]) -> None:
    """Say which of the policy's inputs are withheld on this dataset (``campaign_list(facts=...)`` given the
    scorer's ``decisions.facts`` then leaves them out, as :meth:`pipeline.customer.facts.CardFacts.usable` says)."""
    if scorer.decisions is None:
        return
    facts = scorer.decisions.facts
    h = scorer.settings.horizon_days
    if not facts.get("expected_spend").visible:
        notes.append(f"Expected spend is withheld on this dataset: the coupons use each customer's spend in the "
                     f"{h} days before the send date instead, the simple rule that did better.")
    if not facts.get("p_alive").visible:
        notes.append("P(alive) is withheld on this dataset: the coupons do not use it.")


def send_day(send_date, who: str = "campaign") -> pd.Timestamp:
    """The send date as a day (midnight); ``DataError`` naming ``who`` when it is not a date."""
    try:
        day = pd.Timestamp(send_date)
    except (TypeError, ValueError):
        day = pd.NaT
    if pd.isna(day):
        raise DataError(f"{who}: send date {send_date!r} is not a date; use YYYY-MM-DD.")
    return day.normalize()


def _clusters(scorer: ModelScorer, table: pd.DataFrame, notes: list[str]) -> None:
    """``cluster`` / ``cluster_name`` of each as-of row: the nearest centre of the scorer's clustering (in place)."""
    assigner = scorer.clusters
    if assigner is None or assigner.transformer is None or not len(assigner.centroids):
        table["cluster"], table["cluster_name"] = pd.Series(pd.NA, index=table.index, dtype="Int64"), ""
        if assigner is not None:
            notes.append("Clusters are not given as of the send date: the saved clustering's inputs cannot be "
                         "recomputed for an earlier day.")
        return
    vec = assigner.transformer.transform(table[list(assigner.transformer.features_)])
    nearest = ((vec[:, None, :] - assigner.centroids[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    labels = pd.Series(assigner.centroid_ids[nearest].astype(int), index=table.index.astype(str))
    dataclasses.replace(assigner, labels=labels).attach(table)       # named as the card names its customers


def _next_items(lines: pd.DataFrame, table: pd.DataFrame, notes: list[str]) -> pd.Series:
    """Each customer's likely next category from a recommender fitted on the lines before the send date."""
    from pipeline.recommend import ItemRecommender

    try:
        rec = ItemRecommender().fit(lines)
    except DataError as exc:
        notes.append(f"No next-purchase recommendations as of the send date: {exc}")
        table["next_item"] = ""
        return pd.Series("", index=table.index, dtype=object)
    items = rec.next_item(table.index).reindex(table.index).fillna("").astype(str)
    table["next_item"] = items
    cats = rec.category_of(items).to_numpy()
    return pd.Series(np.where(items.to_numpy() == "", "", cats), index=table.index, dtype=object)


def campaign_audience(scorer: ModelScorer, send_date=None, rules: pd.DataFrame | None = None) -> CampaignAudience:
    """The table :func:`pipeline.campaign.campaign_list` chooses a campaign's customers from, as of ``send_date``.

    Parameters
    ----------
    scorer : the dataset's fitted :class:`~pipeline.customer.ModelScorer`.
    send_date : the day the campaign is (or was) sent; None = the day after the last purchase.
    rules : RFM segment rules (default ``assets/rfm_segments.csv``), as the scorer used.

    Returns
    -------
    :class:`CampaignAudience`: customers who bought before ``send_date``, with their segment, churn probability
    and band, expected spend, P(alive), average order value, cluster and next category as of that day (columns of
    ``scorer.table``, plus ``next_category``).
    """
    if scorer.kind != "transactions" or scorer.history is None:
        return CampaignAudience(scorer.table, None, [])
    end = scorer.history.as_of
    churn, why = churn_rule(scorer)
    day = end if send_date is None else send_day(send_date)
    notes = [why] if why else []
    if day >= end:                             # the scorer's table holds the decision's churn columns already
        table = scorer.table.assign(next_category=scorer.next_categories())
    else:
        table = _as_of(scorer, day, churn, notes, rules)
    _withheld_notes(scorer, notes)
    return CampaignAudience(table, min(day, end), notes)


def _assign(table: pd.DataFrame, columns: pd.DataFrame) -> None:
    for col in columns.columns:
        table[col] = columns[col].reindex(table.index).to_numpy()


def _as_of(scorer: ModelScorer, day: pd.Timestamp, churn: Callable[[pd.DataFrame], pd.DataFrame],
           notes: list[str], rules: pd.DataFrame | None) -> pd.DataFrame:
    from pipeline.churn import as_history, feature_table
    from pipeline.customer.scoring import customer_rows
    from pipeline.rfm import rfm_table

    tx, returns = scorer.history.transactions, scorer.history.returns
    lines = tx[pd.to_datetime(tx["date"]) < day]
    if lines.empty:
        raise DataError(f"campaign: no purchases before the send date {day.date()} (the data start on "
                        f"{pd.to_datetime(tx['date']).min().date()}); choose a later send date.")
    rfm = rfm_table(lines, snapshot=day, rules=rules).set_index("customer_id")
    rfm.index = rfm.index.astype(str)
    h = scorer.settings.horizon_days
    features, btyd = feature_table(tx, returns, day, h)
    summary = as_history(tx, returns).btyd_summary(day)
    table = customer_rows(rfm, features, btyd.predict_table(summary))
    _assign(table, churn(features.reindex(table.index)))
    _clusters(scorer, table, notes)
    table["next_category"] = _next_items(lines, table, notes)
    return table
