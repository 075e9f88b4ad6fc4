"""What the customer card may state as a fact, and why two of its numbers may seem to disagree.

Belongs here: the per-dataset decision for each prediction the card shows (:class:`CardFacts`, built once with the
scorer from the out-of-time grades of :func:`pipeline.value.grade_values`, the live BTYD fit and the churn model)
and the per-customer notes that explain apparent contradictions (:func:`customer_notes`). A prediction is
``shown`` when it beats its naive baseline on this dataset on every graded measure, shown with a plain ``caveat``
when it beats it on some (or could not be checked), and ``hidden`` when it beats it on none (churn risk, graded by one measure, is shown or hidden); P(alive) and the BTYD
next-order date are hidden whenever the BTYD fit is degenerate (dropout at the boundary, or the empirical-rate
fallback). The grading itself is in :mod:`pipeline.value`; the pages only read the statuses.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.config import ValueConfig

if TYPE_CHECKING:
    from pipeline.clv import BTYDModel
    from pipeline.customer.classifier import FittedClassifier
    from pipeline.value import ValueGrades

__all__ = ["STATUSES", "FACT_NAMES", "Fact", "CardFacts", "card_facts", "customer_notes"]

STATUSES = ("shown", "caveat", "hidden")
#: The card's predictions that are graded (keys of the card's value / churn fields).
FACT_NAMES = ("churn_probability", "p_alive", "expected_orders", "expected_spend", "next_order_date")


@dataclass(frozen=True)
class Fact:
    """How the card treats one prediction: ``status`` (see :data:`STATUSES`) and the plain sentence saying why."""

    status: str
    note: str

    @property
    def visible(self) -> bool:
        return self.status != "hidden"


@dataclass(frozen=True)
class CardFacts:
    """The statuses of the card's predictions on one dataset, and each segment's median churn probability."""

    facts: dict[str, Fact]
    segment_churn: dict[str, float] = field(default_factory=dict)
    horizon_days: int = 90

    def get(self, name: str) -> Fact:
        """The fact of one prediction (shown without comment when it was not graded)."""
        return self.facts.get(name, Fact("shown", ""))

    def to_json(self) -> dict[str, dict[str, str]]:
        return {k: {"status": f.status, "note": f.note} for k, f in self.facts.items()}


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


def _graded(grades: ValueGrades, key: str, baseline: str, what: str, h: int) -> Fact:
    """Spend or orders: shown / caveat / hidden by how many of MAE, Gini and top-10 % share beat the baseline."""
    verdict = grades.verdict(key)
    mine, base = grades.row(key), grades.row(baseline)
    known = {m: v for m, v in verdict.items() if v is not None}
    if not known:
        return Fact("caveat", f"Not checked: too few customers to grade {what} on a later period.")
    errors = f"average miss {_fmt(mine['mae'])} vs {_fmt(base['mae'])}"
    if all(known.values()):
        return Fact("shown", f"Checked on the {h} days after {grades.info['test_cutoff']}: closer than assuming "
                             f"the same {what} as the previous {h} days ({errors}), and better at ranking customers.")
    if any(known.values()):
        better = "closer on average" if known.get("mae") else "better at ranking customers"
        worse = "misses by more on average" if not known.get("mae") else "ranks customers less well"
        return Fact("caveat", f"A rough guide: checked on the {h} days after {grades.info['test_cutoff']}, it is "
                              f"{better} than assuming the same {what} as the previous {h} days but {worse} "
                              f"({errors}).")
    return Fact("hidden", f"Not shown: on the {h} days after {grades.info['test_cutoff']} it did no better than "
                          f"assuming the same {what} as the previous {h} days ({errors}).")


def _churn_fact(grades: ValueGrades | None, churn: FittedClassifier | None) -> Fact:
    if churn is None:
        return Fact("caveat", "A rough guide: no churn model could be trained, so the risk is the simple BG/NBD "
                              "score (chance of no order from expected orders).")
    auc = churn.metrics.get("roc_auc")
    base = grades.row("churn_btyd") if grades is not None else None
    if not isinstance(auc, (int, float)) or base is None or not np.isfinite(base["roc_auc"]):
        return Fact("caveat", "A rough guide: the churn model could not be checked against the simple BG/NBD score "
                              "on a later period (the data are too short).")
    ranks = f"ROC AUC {auc:.2f} vs {base['roc_auc']:.2f}"
    if auc > base["roc_auc"]:
        return Fact("shown", f"Checked on a later period: the churn model tells churners apart better than the "
                             f"simple BG/NBD score ({ranks}).")
    return Fact("hidden", f"Not shown: on a later period the churn model told churners apart no better than the "
                          f"simple BG/NBD score ({ranks}).")


def _degenerate(btyd: BTYDModel) -> str | None:
    """Why the BTYD fit cannot support P(alive) or a next-order date, or None when it can."""
    if btyd.kind_ == "empirical":
        return "BG/NBD could not be fitted on this data (a rough fallback model is used)"
    if btyd.at_boundary_:
        return "on this data the BG/NBD fit is degenerate (it finds almost no sign of customers leaving)"
    return None


def _p_alive_fact(grades: ValueGrades | None, btyd: BTYDModel, cfg: ValueConfig) -> Fact:
    why = _degenerate(btyd)
    if why:
        return Fact("hidden", f"Not shown: {why}, so it is about the same for everyone.")
    mine, base = (grades.row(k) if grades is not None else None for k in ("p_alive_btyd", "p_alive_recency"))
    if mine is None or base is None or not np.isfinite(mine["roc_auc"]):
        return Fact("caveat", "A rough guide: P(alive) could not be checked on a later period.")
    ranks = f"ROC AUC {mine['roc_auc']:.2f} vs {base['roc_auc']:.2f}"
    if mine["roc_auc"] < cfg.min_p_alive_auc:
        return Fact("hidden", f"Not shown: on a later period it hardly told who bought again "
                              f"(ROC AUC {mine['roc_auc']:.2f}; 0.5 is chance).")
    if mine["roc_auc"] > base["roc_auc"]:
        return Fact("shown", f"Checked on a later period: P(alive) told who bought again better than how recently "
                             f"they bought ({ranks}).")
    return Fact("caveat", f"A rough guide: on a later period P(alive) told who bought again less well than simply "
                          f"how recently they bought ({ranks}).")


def _next_order_fact(grades: ValueGrades | None, btyd: BTYDModel, h: int) -> Fact:
    why = _degenerate(btyd)
    if why:
        return Fact("hidden", f"Not shown: {why}, so its dates are not a forecast.")
    verdict = grades.verdict("next_order_btyd") if grades is not None else {}
    if verdict.get("mae") is None:
        return Fact("caveat", "A rough guide: the expected next order could not be checked on a later period.")
    mine, base = grades.row("next_order_btyd"), grades.row("next_order_last_gap")
    misses = f"{mine['mae']:.0f} days on average vs {base['mae']:.0f}"
    if verdict["mae"]:
        return Fact("shown", f"Checked on the {h} days after {grades.info['test_cutoff']}: closer than assuming the "
                             f"last gap between orders repeats ({misses}).")
    return Fact("hidden", f"Not shown: on the {h} days after {grades.info['test_cutoff']} it "
                          f"missed by more than simply assuming the last gap between orders repeats ({misses}).")


def card_facts(grades: ValueGrades | None, btyd: BTYDModel, churn: FittedClassifier | None, table: pd.DataFrame,
               horizon_days: int, cfg: ValueConfig = ValueConfig()) -> CardFacts:
    """The statuses of the card's predictions (``grades`` None: the data were too short to grade them)."""
    h = horizon_days
    if grades is None:
        unchecked = Fact("caveat", "A rough guide: the data are too short to check this on a later period.")
        spend = orders = unchecked
    else:
        spend = _graded(grades, "spend_btyd", "spend_last", "spend", h)
        orders = _graded(grades, "orders_btyd", "orders_last", "number of orders", h)
    facts = {"churn_probability": _churn_fact(grades, churn), "p_alive": _p_alive_fact(grades, btyd, cfg),
             "expected_orders": orders, "expected_spend": spend,
             "next_order_date": _next_order_fact(grades, btyd, h)}
    segment_churn = table.groupby("segment", observed=True)["churn_probability"].median().to_dict() \
        if {"segment", "churn_probability"} <= set(table.columns) else {}
    return CardFacts(facts, {str(k): float(v) for k, v in segment_churn.items()}, h)


def customer_notes(facts: CardFacts, row: Mapping[str, Any], scores: Mapping[str, Any] | None = None,
                   cfg: ValueConfig = ValueConfig()) -> list[str]:
    """One line for each pair of the card's numbers that seem to disagree, saying why (``row``: segment,
    churn_probability, risk_band, p_alive, expected_spend, frequency, monetary; ``scores``: r_score, f_score)."""
    notes, h = [], facts.horizon_days
    risk, p_alive = row.get("churn_probability"), row.get("p_alive")
    if not facts.get("churn_probability").visible:
        notes.append("The coupon is still chosen with the churn model's risk, which is not shown because it did no "
                     "better than the simple BG/NBD score on this data: treat the coupon's reason as a rough guide.")
        risk = None                     # no note compares a hidden risk with the segment or P(alive)
    if facts.get("p_alive").visible and risk is not None and p_alive is not None \
            and abs((1 - float(p_alive)) - float(risk)) >= cfg.contradiction_gap:
        notes.append(f"Churn risk and P(alive) answer different questions: churn risk ({float(risk):.0%}, from the "
                     f"churn model) is the chance of no order in the next {h} days; P(alive) ({float(p_alive):.0%}, "
                     "from BG/NBD) is the chance they have not left for good.")
    spend, monetary = row.get("expected_spend"), row.get("monetary")
    if facts.get("expected_spend").visible and row.get("frequency", 2) <= 1 and spend is not None \
            and monetary is not None and float(spend) > float(monetary):
        notes.append(f"Expected spend ({_fmt(float(spend))}) is above the {_fmt(float(monetary))} of this customer's "
                     "only order: with one order it is mostly the average of similar customers, not their own habit.")
    if risk is not None and _segment_disagrees(facts, row, scores, cfg):
        usual = facts.segment_churn.get(str(row.get("segment", "")))
        rf = f" (R{scores['r_score']}, F{scores['f_score']})" if scores else ""
        typical = f"; the segment's typical risk is {usual:.0%}" if usual is not None else ""
        notes.append(f"The segment '{row['segment']}' comes from the recency and frequency score rules{rf}; the churn "
                     f"risk ({float(risk):.0%}) comes from the churn model, which reads more than R and F{typical}.")
    return notes


def _segment_disagrees(facts: CardFacts, row: Mapping[str, Any], scores: Mapping[str, Any] | None,
                       cfg: ValueConfig) -> bool:
    """The risk is far from the segment's typical risk, or the R score calls the customer recent (3-5) while the
    risk band is High, or lapsed (1-2) while it is Low."""
    usual = facts.segment_churn.get(str(row.get("segment", "")))
    if usual is not None and abs(float(row["churn_probability"]) - usual) >= cfg.contradiction_gap:
        return True
    r, band = (scores or {}).get("r_score"), row.get("risk_band")
    return r is not None and ((r >= 3 and band == "High") or (r <= 2 and band == "Low"))
