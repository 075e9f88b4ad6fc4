"""What the customer card may state as a fact, and why two of its numbers may seem to disagree.

Belongs here: the per-dataset decision for each prediction the card shows (:class:`CardFacts`, built once with the
scorer from the out-of-time grades of :func:`pipeline.value.grade_values`, the live BTYD fit and the churn model)
and the per-customer notes that explain apparent contradictions (:func:`customer_notes`). A prediction is
``shown`` when it beats its naive baseline on this dataset on every graded measure, shown with a plain ``caveat``
when it beats it on some (or could not be checked), and ``hidden`` when it beats it on none; P(alive) and the BTYD
next-order date are hidden whenever the BTYD fit is degenerate (dropout at the boundary, or the empirical-rate
fallback). The grading itself is in :mod:`pipeline.value`; the pages only read the statuses. A hidden prediction is
not used either: decisions read :meth:`CardFacts.usable` (the coupon policy's expected spend and P(alive)).

Churn risk is decided once here too (:class:`ChurnRisk`, built by :func:`churn_risk`): the churn model's probability
when it told churners apart better than every simple rule graded on a later period, else the rule that did best
(the recency rule: the share of customers last seen as long ago who placed no order in the next H days; or the
BG/NBD score, exp(-expected orders in H days)). A withheld model's probability reaches nothing: the scorer's
table, the card, its coupon and reasons, the risk bands, the what-if, campaign lists and the service all read the
decision's risk, and say which rule it is (``churn_source``, ``churn_basis``).
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
    from pipeline.grading import RecencyRule
    from pipeline.value import ValueGrades

__all__ = ["STATUSES", "FACT_NAMES", "RULES", "Fact", "CardFacts", "ChurnRisk", "churn_risk",
           "card_facts", "customer_notes"]

STATUSES = ("shown", "caveat", "hidden")
#: The card's predictions that are graded (keys of the card's value / churn fields).
FACT_NAMES = ("churn_probability", "p_alive", "expected_orders", "expected_spend", "next_order_date")
#: Where a churn risk can come from: the churn model, or a simple rule graded against it (source -> name).
RULES = {"model": "the churn model", "recency": "the recency rule", "btyd": "the BG/NBD score"}


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
    churn: ChurnRisk | None = None          # the dataset's decision about churn risk (None: not a transactions set)
    again_source: str = "btyd"              # the chance of buying again: "btyd" (P(alive)) or "churn_model"
    spend_source: str = "btyd"              # expected spend: "btyd" (BG/NBD x Gamma-Gamma) or "forecast"
    next_source: str = "btyd"               # next order: "btyd" (BG/NBD date), "hazard" or "rule" (the last gap)

    def chance_again(self, rows: pd.DataFrame) -> np.ndarray:
        """The card's chance of buying again (``p_alive``) of ``rows`` by the source graded best: BG/NBD P(alive)
        (``btyd_p_alive``, else ``p_alive``) or 1 - the churn model's risk (``churn_probability``)."""
        if self.again_source == "churn_model":
            return 1.0 - pd.to_numeric(rows["churn_probability"], errors="coerce").to_numpy(float)
        col = "btyd_p_alive" if "btyd_p_alive" in rows else "p_alive"
        return pd.to_numeric(rows[col], errors="coerce").to_numpy(float)

    @property
    def churn_label(self) -> str:
        """What the card's churn risk comes from ("the churn model", "the recency rule", ...)."""
        return self.churn.label if self.churn is not None else RULES["model"]

    def get(self, name: str) -> Fact:
        """The fact of one prediction (shown without comment when it was not graded)."""
        return self.facts.get(name, Fact("shown", ""))

    def to_json(self) -> dict[str, dict[str, str]]:
        return {k: {"status": f.status, "note": f.note} for k, f in self.facts.items()}

    def usable(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``expected_spend`` and ``p_alive`` of ``rows`` as a decision (the coupon policy) may use them: a hidden
        expected spend is replaced by the baseline that beat it (the spend of the last H days, ``spend_<H>d``; 0
        when the rows lack it), a hidden P(alive) by 1 (not used). Same index; what is shown is not changed."""
        n = len(rows)
        col = lambda c, default: pd.to_numeric(rows[c], errors="coerce").to_numpy(float) if c in rows \
            else np.full(n, default)  # noqa: E731
        spend, p_alive = col("expected_spend", 0.0), col("p_alive", 1.0)
        if not self.get("expected_spend").visible:
            spend = col(f"spend_{self.horizon_days}d", 0.0)
        if not self.get("p_alive").visible or self.again_source != "btyd":
            p_alive = np.ones(n)            # the policy's P(alive) is BG/NBD's; 1 - churn risk would count it twice
        return pd.DataFrame({"expected_spend": spend, "p_alive": p_alive}, index=rows.index)


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


#: The predictors of expected spend the card may show (source -> graded row, name).
SPEND_SOURCES = {"btyd": ("spend_btyd", "BG/NBD x Gamma-Gamma"), "forecast": ("spend_hybrid", "the spend forecast")}


def _spend_fact(grades: ValueGrades | None, h: int) -> tuple[Fact, str]:
    """Expected spend from the graded predictor that beat "the same as the last H days" on the most measures
    (ties: the smaller average miss): BG/NBD x Gamma-Gamma or the spend forecast learnt on past cutoffs."""
    if grades is None:
        return Fact("caveat", "A rough guide: the data are too short to check this on a later period."), "btyd"
    scored = {}
    for source, (key, _) in SPEND_SOURCES.items():
        if grades.row(key) is not None:
            wins = sum(bool(v) for v in grades.verdict(key).values())
            scored[source] = (wins, -float(grades.row(key)["mae"]))
    source = max(scored, key=lambda k: scored[k]) if scored else "btyd"
    fact = _graded(grades, SPEND_SOURCES[source][0], "spend_last", "spend", h)
    return Fact(fact.status, f"From {SPEND_SOURCES[source][1]}. {fact.note}" if fact.note else fact.note), source


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


@dataclass(frozen=True)
class ChurnRisk:
    """The one decision about churn risk on a dataset, and the only way to a customer's churn risk.

    ``source``: ``"model"`` (the churn model held up) or the rule used instead (``"recency"``, ``"btyd"``; see
    :data:`RULES`); ``fact``: what the card says about it; ``model``: the churn model, set only when it is used
    (a withheld model is not reachable from here); ``recency``: the recency rule's calibration (kept so a swapped
    model can fall back to it); ``aucs``: the graded ROC AUCs (``model``, ``recency``, ``btyd``) behind the choice.
    """

    source: str
    fact: Fact
    horizon_days: int = 90
    model: FittedClassifier | None = field(default=None, repr=False)
    recency: RecencyRule | None = field(default=None, repr=False)
    aucs: dict[str, float] = field(default_factory=dict)
    withheld: str = ""                  # the withheld model's description (its name only: it scores nothing)

    @property
    def uses_model(self) -> bool:
        return self.source == "model"

    @property
    def label(self) -> str:
        """``"the churn model"``, ``"the recency rule"`` or ``"the BG/NBD score"``."""
        return RULES[self.source]

    @property
    def description(self) -> str:
        """One sentence on what the churn risk is (the card's ``churn_model``)."""
        if self.uses_model:
            return self.model.description
        h = self.horizon_days
        off = f" Withheld on this data (no better than {self.label}): {self.withheld}" if self.withheld else ""
        if self.source == "recency":
            return (f"The recency rule: of the customers whose last order was as long ago, the share who placed no "
                    f"order in the next {h} days (measured on the latest {h} days of the data).{off}")
        return (f"The BG/NBD score: the chance of no order in the next {h} days from the orders BG/NBD expects "
                f"(exp(-expected orders)).{off}")

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """The churn risk of every row of ``features`` (the churn features; ``recency_days`` for the recency rule,
        ``btyd_expected_purchases`` or ``expected_orders`` for the BG/NBD score)."""
        if self.uses_model:
            return np.asarray(self.model.probability(features), dtype=float)
        if self.source == "recency":
            return self.recency.probability(features["recency_days"])
        col = "btyd_expected_purchases" if "btyd_expected_purchases" in features else "expected_orders"
        return np.exp(-pd.to_numeric(features[col], errors="coerce").to_numpy(float))

    def basis(self, features: pd.DataFrame) -> np.ndarray:
        """Per row, the rule and the customer's number it read (e.g. "the recency rule: 210 days since the last
        order"); "" when the churn model is used (its drivers explain it)."""
        n = len(features)
        if self.uses_model:
            return np.full(n, "", dtype=object)
        if self.source == "recency":
            days = pd.to_numeric(features["recency_days"], errors="coerce").to_numpy(float)
            return np.array([f"{self.label}: {d:,.0f} day{'s' if round(d) != 1 else ''} since the last order"
                             for d in days], dtype=object)
        col = "btyd_expected_purchases" if "btyd_expected_purchases" in features else "expected_orders"
        orders = pd.to_numeric(features[col], errors="coerce").to_numpy(float)
        return np.array([f"{self.label}: {o:.2f} orders expected in the next {self.horizon_days} days"
                         for o in orders], dtype=object)

    def score(self, row: Mapping[str, Any], drivers: int = 5) -> tuple[float, pd.DataFrame, str]:
        """Risk, drivers (the model's only) and basis of one customer's row (e.g. a what-if)."""
        if self.uses_model:
            p, table = self.model.score(pd.DataFrame([{f: row[f] for f in self.model.features}]), drivers)
            return float(p), table, ""
        frame = pd.DataFrame([dict(row)])
        return float(self.probability(frame)[0]), pd.DataFrame(), str(self.basis(frame)[0])

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "label": self.label, "status": self.fact.status, "note": self.fact.note,
                "roc_auc": {k: round(float(v), 4) for k, v in self.aucs.items()}}


def _aucs(grades: ValueGrades | None, churn: FittedClassifier | None) -> dict[str, float]:
    """The graded ROC AUCs for "no order in the next H days": the model's, the BG/NBD score's and the recency
    rule's (P(alive)'s recency baseline ranks who buys again; the same ranking reversed, the same AUC)."""
    out: dict[str, float] = {}
    auc = churn.metrics.get("roc_auc") if churn is not None else None
    if isinstance(auc, (int, float)) and np.isfinite(auc):
        out["model"] = float(auc)
    for source, key in (("btyd", "churn_btyd"), ("recency", "p_alive_recency")):
        row = grades.row(key) if grades is not None else None
        if row is not None and np.isfinite(row["roc_auc"]):
            out[source] = float(row["roc_auc"])
    return out


def churn_risk(grades: ValueGrades | None, churn: FittedClassifier | None, horizon_days: int = 90,
               recency: RecencyRule | None = None) -> ChurnRisk:
    """Decide, once per dataset, where churn risk comes from (see :class:`ChurnRisk`).

    The churn model is used when its out-of-time ROC AUC beats every graded rule's; it is withheld when it does
    not, and the best rule is used instead (the recency rule needs its calibration ``recency``; the BG/NBD score
    is always available). When nothing ranks better than ``ValueConfig.min_signal_auc`` the data hold no signal:
    the best rule is used and the card says so. Without grades (data too short) the model is used with a caveat.
    """
    aucs, h = _aucs(grades, churn), horizon_days
    rules = {k: v for k, v in aucs.items() if k != "model" and (k != "recency" or recency is not None)}
    best = max(rules, key=lambda k: (rules[k], k == "recency")) if rules else "btyd"
    name = RULES[best]
    if churn is None:
        return ChurnRisk(best, Fact("caveat", f"A rough guide: no churn model could be trained, so the risk is "
                                              f"{name}'s."), h, None, recency, aucs)
    if "model" not in aucs or not rules:
        return ChurnRisk("model", Fact("caveat", f"A rough guide: the churn model could not be checked against "
                                                 f"{name} on a later period (the data are too short)."),
                         h, churn, recency, aucs)
    ranks = f"ROC AUC {aucs['model']:.2f} vs {rules[best]:.2f}"
    top = max(aucs.values())
    if top < ValueConfig().min_signal_auc:             # nothing tells churners apart: the rule, said plainly
        return ChurnRisk(best, Fact("caveat", f"No signal on these data: on a later period neither the churn model "
                                              f"nor a simple rule told churners apart much better than chance (best "
                                              f"ROC AUC {top:.2f}; 0.5 is chance). The risk shown is {name}'s, a "
                                              "rough guide only."), h, None, recency, aucs,
                         str(getattr(churn, "description", "") or ""))
    if aucs["model"] > rules[best]:
        return ChurnRisk("model", Fact("shown", f"Checked on a later period: the churn model tells churners apart "
                                                f"better than {_simple(best)} ({ranks})."), h, churn, recency, aucs)
    return ChurnRisk(best, Fact("caveat", f"The risk shown is {name}'s. The churn model is withheld: on a later "
                                          f"period it told churners apart no better than {_simple(best)} "
                                          f"({ranks}), so nothing uses it."), h, None, recency, aucs,
                     str(getattr(churn, "description", "") or ""))


def _simple(source: str) -> str:
    return {"btyd": "the simple BG/NBD score", "recency": "the simple recency rule"}[source]


def _degenerate(btyd: BTYDModel) -> str | None:
    """Why the BTYD fit cannot support P(alive) or a next-order date, or None when it can."""
    if btyd.kind_ == "empirical":
        return "BG/NBD could not be fitted on this data (a rough fallback model is used)"
    if btyd.at_boundary_:
        return "on this data the BG/NBD fit is degenerate (it finds almost no sign of customers leaving)"
    return None


def _p_alive_fact(grades: ValueGrades | None, btyd: BTYDModel, cfg: ValueConfig,
                  risk: ChurnRisk | None = None) -> tuple[Fact, str]:
    """The chance of buying again and where it comes from: of BG/NBD P(alive) (unless its fit is degenerate) and
    1 - the churn model's risk (only when churn risk comes from the model), the one that told who bought again
    best on a later period, shown when it beat "more recent = more alive"."""
    base = grades.row("p_alive_recency") if grades is not None else None
    why = _degenerate(btyd)
    candidates = {}
    for source, key in (("btyd", "p_alive_btyd"), ("churn_model", "p_alive_churn_model")):
        row = grades.row(key) if grades is not None else None
        usable = (source == "btyd" and not why) or (source == "churn_model" and risk is not None
                                                     and risk.uses_model)
        if usable and row is not None and np.isfinite(row["roc_auc"]):
            candidates[source] = float(row["roc_auc"])
    if not candidates:
        if why:
            return Fact("hidden", f"Not shown: {why}, so it is about the same for everyone."), "btyd"
        return Fact("caveat", "A rough guide: P(alive) could not be checked on a later period."), "btyd"
    source = max(candidates, key=lambda k: (candidates[k], k == "churn_model"))
    auc = candidates[source]
    what = {"btyd": "BG/NBD's P(alive)", "churn_model": "1 - the churn model's risk"}[source]
    if base is None or not np.isfinite(base["roc_auc"]):
        return Fact("caveat", f"A rough guide ({what}): it could not be compared with how recently they bought."), \
            source
    ranks = f"ROC AUC {auc:.2f} vs {base['roc_auc']:.2f}"
    if auc < cfg.min_p_alive_auc:
        return Fact("hidden", f"Not shown: on a later period it hardly told who bought again "
                              f"(ROC AUC {auc:.2f}; 0.5 is chance)."), source
    if auc > base["roc_auc"]:
        return Fact("shown", f"Checked on a later period: {what} told who bought again in the next "
                             f"{grades.info.get('horizon_days', 90)} days better than how recently they bought "
                             f"({ranks})."), source
    return Fact("caveat", f"A rough guide: on a later period {what} told who bought again less well than simply "
                          f"how recently they bought ({ranks})."), source


def _next_order_fact(grades: ValueGrades | None, btyd: BTYDModel, h: int) -> tuple[Fact, str]:
    """The next order: of the BG/NBD date (unless its fit is degenerate) and the weekly hazard's median date
    given an order within H, the one that missed by least on a later period when it beat "the last gap between
    orders repeats"; when neither did, the card shows that rule itself, labelled as the rule (source "rule")."""
    base = grades.row("next_order_last_gap") if grades is not None else None
    if base is None or grades.verdict("next_order_btyd").get("mae") is None:
        why = _degenerate(btyd)
        if why:
            return Fact("hidden", f"Not shown: {why}, so its dates are not a forecast."), "btyd"
        return Fact("caveat", "A rough guide: the expected next order could not be checked on a later period."), \
            "btyd"
    candidates = {}
    for source, key in (("btyd", "next_order_btyd"), ("hazard", "next_order_hazard")):
        row = grades.row(key)
        if row is not None and grades.verdict(key).get("mae") and not (source == "btyd" and _degenerate(btyd)):
            candidates[source] = float(row["mae"])
    when = f"the {h} days after {grades.info['test_cutoff']}"
    if not candidates:
        return Fact("caveat", f"The usual gap between their orders, not a forecast: on {when} no model dated the "
                              f"next order better than assuming the last gap repeats ({base['mae']:.0f} days "
                              "off on average)."), "rule"
    source = min(candidates, key=candidates.get)
    misses = f"{candidates[source]:.0f} days on average vs {base['mae']:.0f}"
    if source == "hazard":
        cov = grades.row("next_order_hazard")["coverage"]
        inside = f"; {cov:.0%} of next orders fell inside its 80% range" if np.isfinite(cov) else ""
        return Fact("shown", f"Checked on {when}: for customers who ordered again within {h} days, closer than "
                             f"assuming the last gap between orders repeats ({misses}{inside})."), source
    return Fact("shown", f"Checked on {when}: closer than assuming the last gap between orders repeats "
                         f"({misses})."), source


def card_facts(grades: ValueGrades | None, btyd: BTYDModel, churn: FittedClassifier | None, table: pd.DataFrame,
               horizon_days: int, cfg: ValueConfig = ValueConfig(), risk: ChurnRisk | None = None) -> CardFacts:
    """The statuses of the card's predictions (``grades`` None: the data were too short to grade them); ``risk``:
    the dataset's churn decision (:func:`churn_risk`; decided here from ``grades`` and ``churn`` when None)."""
    h = horizon_days
    risk = risk if risk is not None else churn_risk(grades, churn, h)
    if grades is None:
        orders = Fact("caveat", "A rough guide: the data are too short to check this on a later period.")
    else:
        orders = _graded(grades, "orders_btyd", "orders_last", "number of orders", h)
    spend, spend_source = _spend_fact(grades, h)
    again, again_source = _p_alive_fact(grades, btyd, cfg, risk)
    next_fact, next_source = _next_order_fact(grades, btyd, h)
    facts = {"churn_probability": risk.fact, "p_alive": again,
             "expected_orders": orders, "expected_spend": spend,
             "next_order_date": next_fact}
    segment_churn = table.groupby("segment", observed=True)["churn_probability"].median().to_dict() \
        if {"segment", "churn_probability"} <= set(table.columns) else {}
    return CardFacts(facts, {str(k): float(v) for k, v in segment_churn.items()}, h, risk, again_source,
                     spend_source, next_source)


def customer_notes(facts: CardFacts, row: Mapping[str, Any], scores: Mapping[str, Any] | None = None,
                   cfg: ValueConfig = ValueConfig()) -> list[str]:
    """One line for each pair of the card's numbers that seem to disagree, saying why (``row``: segment,
    churn_probability, risk_band, p_alive, expected_spend, frequency, monetary; ``scores``: r_score, f_score)."""
    notes, h = [], facts.horizon_days
    risk, p_alive = row.get("churn_probability"), row.get("p_alive")
    source = facts.churn_label
    if not facts.get("churn_probability").visible:
        risk = None                     # no note compares a hidden risk with the segment or P(alive)
    if facts.get("p_alive").visible and risk is not None and p_alive is not None \
            and abs((1 - float(p_alive)) - float(risk)) >= cfg.contradiction_gap:
        notes.append(f"Churn risk and P(alive) answer different questions: churn risk ({float(risk):.0%}, from "
                     f"{source}) is the chance of no order in the next {h} days; P(alive) ({float(p_alive):.0%}, "
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
        reads = {"model": ", which reads more than R and F", "recency": ", which reads the days since the last "
                 "order only", "btyd": ", which reads the rhythm of all their orders"}
        how = reads.get(facts.churn.source if facts.churn is not None else "model", "")
        notes.append(f"The segment '{row['segment']}' comes from the recency and frequency score rules{rf}; the churn "
                     f"risk ({float(risk):.0%}) comes from {source}{how}{typical}.")
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
