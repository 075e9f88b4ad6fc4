"""What if: segment, cluster, churn risk, value and coupon of a hypothetical customer, in a few milliseconds.

Belongs here: the what-if inputs (:func:`what_if_inputs`), the prediction (:func:`what_if`, :class:`WhatIfResult`)
and the input corrections. The rules that turn inputs into a feature row are not here: they belong to their
owners, so a change to a feature cannot drift from the what-if. Features follow from recency, frequency, monetary
and tenure through :func:`pipeline.features.derive_features` (other features are the customer's, or the typical
customer's, made consistent; one order per visit); the BTYD inputs follow :func:`pipeline.clv.summary_from_rfm`;
R/F/M scores use rfm's quantile rule (:func:`pipeline.rfm.population_score`). Inputs equal to the customer's own
values give the card itself: its numbers are read from the card, not recomputed (one owner per figure).

Customer tables (kind ``"customers"``): the inputs are the columns the clustering, the active model and the
learned policy read; the result is the cluster, the model's prediction and the learned coupon.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.churn import FEATURE_DECIMALS
from pipeline.clv import summary_from_rfm
from pipeline.coupons import risk_bands
from pipeline.customer.facts import customer_notes
from pipeline.customer.forecasts import FORECAST_DATES, FORECAST_NUMBERS
from pipeline.customer.scoring import ModelScorer
from pipeline.errors import DataError
from pipeline.features import DERIVATION_INPUTS, derive_features

__all__ = ["RFM_INPUTS", "WhatIfResult", "what_if_inputs", "what_if", "derive_row"]

#: What-if inputs of a transactions dataset (column -> label).
RFM_INPUTS = {"recency_days": "Recency (days since last order)", "frequency": "Frequency (orders)",
              "monetary": "Monetary (total spend)", "tenure_days": "Tenure (days since first order)"}
_VALUE_KEYS = ("p_alive", "expected_orders", "expected_aov", "expected_spend", "days_to_next_order")


@dataclass
class WhatIfResult:
    """Predictions for hypothetical inputs (numbers are None where the dataset has no such model)."""

    inputs: dict
    segment: str = ""
    scores: dict = field(default_factory=dict)
    cluster: int | None = None
    cluster_name: str = ""
    cluster_label: str = ""              # as shown: "Unlike any group (nearest: cluster 3 — ...)" (cluster_label)
    churn_probability: float | None = None
    risk_band: str = ""
    churn_source: str = ""               # model, recency or btyd: the dataset's decision (ModelScorer.decisions)
    churn_basis: str = ""                # a rule's risk: the rule and the number it read
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    value: dict = field(default_factory=dict)
    coupon: dict = field(default_factory=dict)
    prediction: dict = field(default_factory=dict)
    learned_coupon: dict | None = None
    notes: list[str] = field(default_factory=list)


def _base_row(scorer: ModelScorer, customer_id: object) -> pd.Series:
    """The customer's row, or the typical customer's (medians of numbers, most common text values)."""
    return scorer.typical if customer_id is None else scorer.table.loc[scorer.require(customer_id)]


def what_if_inputs(scorer: ModelScorer, customer_id: object = None) -> list[dict]:
    """The what-if inputs: ``name, label, kind ('number'|'choice'), value, min, max, step, options, format``.

    Values start at the customer's own (or the median / most common customer's when ``customer_id`` is None).
    """
    base = _base_row(scorer, customer_id)
    if scorer.kind != "transactions":
        return [_table_input(scorer.table, col, base[col]) for col in _table_input_columns(scorer)]
    specs = []
    for col, label in RFM_INPUTS.items():
        hi = float(scorer.table[col].quantile(0.99) * 2 + 1)
        lo = 1.0 if col in ("frequency", "recency_days", "tenure_days") else 0.01
        specs.append({"name": col, "label": label, "kind": "number", "value": float(base[col]), "min": lo,
                      "max": max(hi, float(base[col])), "step": 1.0 if col != "monetary" else 10.0, "options": None,
                      "format": "%.2f" if col == "monetary" else "%.0f"})
    return specs


def _table_input_columns(scorer: ModelScorer) -> list[str]:
    cols: list[str] = []
    if scorer.clusters is not None and scorer.clusters.transformer is not None:
        cols += list(scorer.clusters.transformer.features_)
    if scorer.model is not None:
        cols += list(scorer.model.features)
    if scorer.learned_applies:
        cols += [c for c in scorer.coupons.learned.feature_columns_ if c in scorer.table.columns]
    return [c for c in dict.fromkeys(cols) if c in scorer.table.columns]


def _table_input(table: pd.DataFrame, col: str, value: object) -> dict:
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


def what_if(scorer: ModelScorer, inputs: Mapping[str, object], customer_id: object = None,
            drivers: int = 5) -> WhatIfResult:
    """Segment, cluster, churn risk, value and coupon for hypothetical inputs (everything in memory, ~10 ms).

    ``inputs`` override the customer's (or the typical customer's) values; see the module docstring for how the
    other features follow. Inconsistent inputs are corrected and the correction is listed in ``notes``.
    """
    base = _base_row(scorer, customer_id)
    if scorer.kind == "customers":
        return _table_what_if(scorer, base, inputs, drivers)
    row, notes = derive_row(scorer, base, inputs)
    if customer_id is not None and _unchanged(base, inputs):
        return _card_what_if(scorer, str(customer_id), row, drivers)
    res = WhatIfResult({k: row[k] for k in RFM_INPUTS}, notes=notes)
    pop = scorer.history.population
    res.scores = pop.scores(row["recency_days"], row["frequency"], row["monetary"])
    res.segment = pop.segment(res.scores["r_score"], res.scores["f_score"])
    if scorer.clusters is not None:
        res.cluster = scorer.clusters.assign(row)
        res.cluster_name = scorer.clusters.name(res.cluster, row)         # what is true of this customer
        res.cluster_label = scorer.clusters.label(res.cluster, res.cluster_name)
    # the dataset's decision: the churn model's risk and drivers, or the rule that beat it and what it read
    risk, facts = scorer.decisions.risk, scorer.decisions.facts
    res.churn_probability, res.drivers, res.churn_basis = risk.score(row, drivers)
    res.churn_source = risk.source
    from pipeline.customer.card import withhold_drivers

    res.drivers = withhold_drivers(res.drivers, facts)
    res.risk_band = str(risk_bands([res.churn_probability], scorer.coupons.policy)[0])
    res.value = row.pop("_value")
    res.value["p_alive"] = float(facts.chance_again(pd.DataFrame([{       # by its graded source
        "btyd_p_alive": res.value["p_alive"], "churn_probability": res.churn_probability}]))[0])
    row |= {"segment": res.segment, "churn_probability": res.churn_probability, "churn_basis": res.churn_basis,
            "expected_spend":
            res.value["expected_spend"], "p_alive": res.value["p_alive"]}
    res.coupon = scorer.coupon(str(customer_id or "what-if"), row, str(base.get("next_item", "") or ""))[0]
    res.learned_coupon = scorer.learned_coupon(row)
    res.notes += customer_notes(facts, row | res.value | {"risk_band": res.risk_band}, res.scores)
    return res


def _unchanged(base: pd.Series, inputs: Mapping[str, object]) -> bool:
    """Whether the inputs are the customer's own values (what the what-if starts from)."""
    return all(math.isclose(float(inputs.get(k, base[k])), float(base[k]), rel_tol=1e-9, abs_tol=1e-9)
               for k in RFM_INPUTS)


def _card_what_if(scorer: ModelScorer, customer_id: str, row: dict, drivers: int) -> WhatIfResult:
    """At the customer's own values the what-if is their card: every prediction read from the card's owner
    (:func:`pipeline.customer.card.customer_profile`), never recomputed another way, so the two cannot differ."""
    from dataclasses import fields

    from pipeline.customer.card import CustomerProfile, customer_profile
    from pipeline.customer.index import TOP

    card = customer_profile(scorer, customer_id, top=drivers or TOP, timeline=False)
    same = {f.name for f in fields(WhatIfResult)} & {f.name for f in fields(CustomerProfile)}
    res = WhatIfResult({k: row[k] for k in RFM_INPUTS},
                       **{k: getattr(card, k) for k in same - {"scores", "value", "drivers", "notes"}})
    res.scores = {k: card.scores[k] for k in ("r_score", "f_score", "m_score")}
    res.value = {k: card.value.get(k) for k in (*_VALUE_KEYS, "next_order_date", *FORECAST_NUMBERS, *FORECAST_DATES)}
    res.drivers = card.drivers if drivers else pd.DataFrame()
    shown = row | res.value | {"churn_probability": res.churn_probability, "risk_band": res.risk_band}
    res.notes = customer_notes(scorer.decisions.facts, shown, res.scores)
    return res


def _corrected_inputs(new: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Inputs made possible: whole orders, one order means tenure = recency, tenure at least the recency."""
    R, F, M, T = (new[k] for k in DERIVATION_INPUTS)
    if F < 1 or M <= 0 or R < 1:
        raise DataError("what-if: frequency must be at least 1 order, monetary above 0 and recency at least 1 day.")
    F, notes = float(round(F)), []
    if F == 1 and T != R:
        notes.append(f"One order: tenure set to the recency ({R:g} days), first and last order are the same.")
        T = R
    elif T < R:
        notes.append(f"Tenure raised to the recency ({R:g} days): the first order cannot be after the last.")
        T = R
    return {"recency_days": R, "frequency": F, "monetary": M, "tenure_days": T}, notes


def derive_row(scorer: ModelScorer, base: pd.Series, inputs: Mapping[str, object]) -> tuple[dict, list[str]]:
    """The feature row for the inputs (features by ``derive_features``, BTYD by ``summary_from_rfm``), with the
    BTYD value under ``"_value"``, and notes on corrected inputs. Unchanged inputs keep the customer's row."""
    row = base.to_dict()
    new = {k: float(inputs.get(k, base[k])) for k in RFM_INPUTS}
    if _unchanged(base, new):
        row["_value"] = {k: row.get(k) for k in (*_VALUE_KEYS, "next_order_date", *FORECAST_NUMBERS,
                                                 *FORECAST_DATES)}
        return row, []
    new, notes = _corrected_inputs(new)
    row.update({k: round(float(v), FEATURE_DECIMALS) for k, v in derive_features(new, row).items()})
    h = scorer.history
    btyd = h.btyd.predict_one(**summary_from_rfm(**new), horizon_days=scorer.settings.horizon_days)
    row.update({f"btyd_{k}": round(float(btyd[k]), FEATURE_DECIMALS)       # as every feature table holds them
                for k in ("p_alive", "expected_purchases", "expected_aov", "expected_spend")})
    days = btyd["days_to_next_order"]
    nxt = None if not np.isfinite(days) else h.as_of - pd.Timedelta(days=1) + pd.Timedelta(days=math.ceil(days))
    row["_value"] = {"p_alive": btyd["p_alive"], "expected_orders": btyd["expected_purchases"],
                     "expected_aov": btyd["expected_aov"], "expected_spend": btyd["expected_spend"],
                     "days_to_next_order": None if not np.isfinite(days) else days, "next_order_date": nxt}
    row["_value"] |= _forecast_value(scorer, row, new)
    return row, notes


def _forecast_value(scorer: ModelScorer, row: dict, new: dict[str, float]) -> dict:
    """Spend and next order of a hypothetical customer by the sources the card's facts chose: the spend forecast
    reads the derived features; the next-order hazard and the rule read gaps taken as even (the last gap = the
    mean gap, tenure / (orders - 1)); with one order there is no gap and no date."""
    facts, fc, out = scorer.decisions.facts, scorer.decisions.forecasts, {}
    frame = pd.DataFrame([row])
    if facts.spend_source == "forecast" and fc.spend is not None:
        out |= {k: float(v) for k, v in fc.spend.predict(frame).iloc[0].items()}
    F, T, R = new["frequency"], new["tenure_days"], new["recency_days"]
    gap = (T - R) / (F - 1) if F > 1 and T > R else float("nan")
    out["usual_gap_days"] = gap if np.isfinite(gap) else None
    if facts.next_source not in ("hazard", "rule"):
        return out
    due = gap - R if np.isfinite(gap) else float("nan")
    last = scorer.history.as_of - pd.Timedelta(days=1)
    out |= {"days_to_next_order": None, "next_order_date": None, "next_order_low": None, "next_order_high": None}
    if facts.next_source == "rule" and np.isfinite(due):
        out |= {"days_to_next_order": due, "next_order_date": last + pd.Timedelta(days=due)}
    elif facts.next_source == "hazard" and fc.next_order is not None:
        gaps = frame.assign(visits=F, last_gap_days=gap, gap_due_days=due)
        pred = fc.next_order.predict(gaps, as_of=scorer.history.as_of).iloc[0]
        out |= {"days_to_next_order": float(pred["next_days"]), "next_order_date": pred["next_date"],
                "next_order_low": pred["next_date_low"], "next_order_high": pred["next_date_high"]}
    return out


def _table_what_if(scorer: ModelScorer, base: pd.Series, inputs: Mapping[str, object],
                   drivers: int) -> WhatIfResult:
    row = base.to_dict() | {k: v for k, v in inputs.items() if k in scorer.table.columns}
    res = WhatIfResult({k: row[k] for k in _table_input_columns(scorer)})
    frame = pd.DataFrame([row])
    if scorer.clusters is not None:
        res.cluster = scorer.clusters.assign(frame)
        res.cluster_name = scorer.clusters.name(res.cluster, frame)
        res.cluster_label = scorer.clusters.label(res.cluster, res.cluster_name)
    if scorer.model is not None:
        res.prediction = scorer.model.prediction(frame)
        res.drivers = scorer.model.drivers(frame, drivers, class_index=res.prediction["class_index"]) if drivers \
            else pd.DataFrame()
    res.learned_coupon = scorer.learned_coupon(row)
    return res
