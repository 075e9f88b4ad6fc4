"""The BTYD estimator: :class:`BTYDModel` (BG/NBD -> Pareto/NBD -> empirical rate, plus Gamma-Gamma) and the
one-call helpers :func:`customer_value` and :func:`btyd_params`.

Fitting never crashes. The BG/NBD ladder is: lifetimes' fit (penalizer 0) -> the same likelihood with a
bounded optimiser (when lifetimes stops on a precision-loss warning, as on Online Retail) -> lifetimes with
growing penalizers -> Pareto/NBD -> an empirical-rate model. ``BTYDModel.fit_note_`` explains in words what
happened, e.g. that the dropout parameters ran to the boundary so P(alive) is not informative. Belongs here: the
fallback policy and predictions; the fitters are in :mod:`pipeline.clv.fitting`.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from pipeline.clv import fitting
from pipeline.clv.summary import btyd_summary, check_summary
from pipeline.config import BTYDConfig
from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.log import logged

__all__ = ["PREDICTION_COLUMNS", "BTYDModel", "customer_value", "btyd_params"]

PREDICTION_COLUMNS = ("p_alive", "expected_purchases", "expected_aov", "expected_spend",
                      "days_to_next_order", "next_order_date")


# ----------------------------------------------------------------------------------------- estimator
class BTYDModel(BaseEstimator):
    """BG/NBD (fallback Pareto/NBD, empirical rate) + Gamma-Gamma, as a scikit-learn style estimator.

    ``fit(summary)`` takes the output of :func:`btyd_summary`; times are in units of ``unit_days`` days.
    ``predict(summary)`` gives expected purchases in the next ``horizon_days`` days;
    :meth:`predict_table` gives every output and :meth:`predict_one` scores one what-if customer in about 1 ms.

    Fitted attributes: ``kind_`` ("bgnbd" | "pareto_nbd" | "empirical"), ``params_``, ``penalizer_``,
    ``log_likelihood_``, ``at_boundary_``, ``gg_params_`` (None: empirical mean spend), ``fit_note_``,
    ``n_customers_``, ``n_fitted_``, ``fit_seconds_``.
    """

    def __init__(self, horizon_days: float = BTYDConfig.horizon_days, unit_days: float = 1.0,
                 penalizers: tuple[float, ...] = BTYDConfig.penalizers,
                 max_next_order_days: float = BTYDConfig.max_next_order_days):
        self.horizon_days = horizon_days
        self.unit_days = unit_days
        self.penalizers = penalizers
        self.max_next_order_days = max_next_order_days

    # ---- fitting
    @logged("btyd_fit")
    def fit(self, X: pd.DataFrame, y=None) -> "BTYDModel":
        """Fit the purchase model by the fallback ladder, then the spend model."""
        t0 = time.perf_counter()
        X = check_summary(X)
        rows = X[X["T"] > 0]
        notes = []
        if len(rows) < len(X):
            k = len(X) - len(rows)
            notes.append(f"{k:,} customer{'s' if k > 1 else ''} whose first purchase was on the last day of the data "
                         "(no time observed yet) left out of the fit and scored with it")
        self.n_customers_, self.n_fitted_ = len(X), len(rows)
        self._fit_purchases(rows, notes)
        self._build()
        if self.at_boundary_:
            share = float(np.mean(self._p_alive(*self._arrays(rows["frequency"], rows["recency"], rows["T"])) >= 0.9))
            notes.append(self._boundary_note(share))
        gg, gg_note = fitting.fit_gamma_gamma(rows)
        self.gg_params_ = gg
        notes.append(gg_note if gg else f"Gamma-Gamma not used ({gg_note}): expected order value = the "
                     "customer's own mean repeat spend, or the mean of all customers for one-time buyers")
        self._pop_spend_ = float(rows.loc[rows["frequency"] > 0, "monetary_value"].mean()) \
            if (rows["frequency"] > 0).any() else float("nan")
        self.fit_note_ = ". ".join(n[0].upper() + n[1:] for n in notes) + "."
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _fit_purchases(self, rows: pd.DataFrame, notes: list[str]) -> None:
        cfg = BTYDConfig()
        self.penalizer_, self.at_boundary_, self.log_likelihood_ = 0.0, False, float("nan")
        if len(rows) < cfg.min_fit_customers or rows["frequency"].sum() == 0:
            why = f"only {len(rows)} customers with T > 0" if len(rows) < cfg.min_fit_customers \
                else "no customer bought twice"
            return self._use_empirical(rows, notes, f"{why}: BG/NBD cannot be fitted")
        w = fitting.compress(rows)
        failures = []
        for label, step in self._ladder(w, cfg):
            try:
                kind, params, penalizer, at_bound, how = step()
                fitting.check_params(params)
            except Exception as exc:  # noqa: BLE001 - the ladder exists to absorb optimiser failures
                failures.append(f"{label} failed ({fitting.why_failed(exc)})")
                continue
            self.kind_, self.params_, self.penalizer_ = kind, params, penalizer
            ll = fitting.bgnbd_loglik(params, w) if kind == "bgnbd" else fitting.pareto_loglik(params, w)
            self.log_likelihood_ = ll
            notes.append("; ".join(failures + [how]) + f" (log-likelihood {ll:,.1f})")
            self.at_boundary_ = bool(at_bound or self._dropout_at_boundary(cfg))
            return None
        return self._use_empirical(rows, notes, "; ".join(failures))

    def _ladder(self, w: pd.DataFrame, cfg: BTYDConfig) -> list[tuple[str, Any]]:
        """(label, step) pairs tried in order; a step returns (kind, params, penalizer, at_bound, note)."""
        n = f"{int(w['w'].sum()):,} customers"

        def bounded():
            params, hit = fitting.fit_bgnbd_bounded(w, cfg.log_bound)
            return "bgnbd", params, 0.0, hit, f"BG/NBD refitted by maximum likelihood with a bounded optimiser on {n}"

        def penalized(pen):
            return ("bgnbd", fitting.fit_bgnbd_lifetimes(w, pen), pen, False,
                    f"BG/NBD fitted with penalizer {pen} on {n} (parameters shrunk towards 0)")

        def standard():
            return ("bgnbd", fitting.fit_bgnbd_lifetimes(w, 0.0), 0.0, False,
                    f"BG/NBD fitted by maximum likelihood on {n}")

        return [
            ("the standard lifetimes BG/NBD fit", standard),
            ("the bounded BG/NBD refit", bounded),
            *((f"BG/NBD with penalizer {pen}", lambda pen=pen: penalized(pen)) for pen in self.penalizers),
            ("Pareto/NBD", lambda: ("pareto_nbd", fitting.fit_pareto(w), 0.0, False,
                                    f"BG/NBD could not be fitted; Pareto/NBD fitted on {n}")),
        ]

    def _dropout_at_boundary(self, cfg: BTYDConfig) -> bool:
        p = self.params_
        if self.kind_ == "bgnbd":
            return p["a"] / (p["a"] + p["b"]) < cfg.boundary_dropout
        return p["s"] < cfg.boundary_dropout

    def _boundary_note(self, share_alive: float) -> str:
        p = self.params_
        if self.kind_ == "bgnbd":
            what = (f"a = {fitting.small_number(p['a'])}, b = {p['b']:.3g}; mean chance of dropping out after a "
                    "purchase "
                    f"a/(a+b) = {fitting.small_number(p['a'] / (p['a'] + p['b']))}")
        else:
            what = f"s = {fitting.small_number(p['s'])}, beta = {p['beta']:.3g}"
        return (f"dropout parameters at the boundary ({what}): the data show almost no sign of customers "
                f"leaving, so P(alive) is not informative (>= 0.9 for {share_alive:.1%} of customers); "
                "expected purchases still rank customers")

    def _use_empirical(self, rows: pd.DataFrame, notes: list[str], why: str) -> None:
        rate = float(rows["frequency"].sum() / rows["T"].sum()) if len(rows) and rows["T"].sum() > 0 else 0.0
        self.kind_, self.params_ = "empirical", {"rate": rate}
        notes.append(f"{why}; using an empirical-rate model (each customer's repeat-purchase rate shrunk to the "
                     f"pooled rate {rate:.4g} per unit); its P(alive) is a rough heuristic")

    def _build(self) -> None:
        self._fitter = fitting.fitter_from_params(self.kind_, self.params_)

    # ---- prediction
    def _arrays(self, frequency, recency, T):
        with np.errstate(all="ignore"):
            x, tx, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return x, tx, T

    def _purchases(self, t, x, tx, T):
        with fitting.quiet():
            out = self._fitter.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
        return np.clip(np.nan_to_num(np.asarray(out, dtype=float), nan=0.0), 0.0, None)

    def _p_alive(self, x, tx, T):
        with fitting.quiet():
            out = self._fitter.conditional_probability_alive(x, tx, T)
        return np.clip(np.nan_to_num(np.asarray(out, dtype=float), nan=1.0), 0.0, 1.0)

    def _aov(self, x, m):
        m = np.asarray(m, dtype=float)
        if self.gg_params_ is not None:
            p, q, v = (self.gg_params_[k] for k in fitting.GG)
            weight = p * x / (p * x + q - 1)
            return (1 - weight) * v * p / (q - 1) + weight * np.where(x > 0, m, 0.0)
        return np.where((x > 0) & (m > 0), m, self._pop_spend_)

    def _days_to_next(self, x, tx, T):
        """Days until the expected cumulative purchases reach 1 (bisection); NaN if not within the maximum."""
        hi_t = self.max_next_order_days / self.unit_days
        lo, hi = np.zeros_like(x), np.full_like(x, hi_t)
        reach = self._purchases(hi, x, tx, T) >= 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            above = self._purchases(mid, x, tx, T) >= 1.0
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        return np.where(reach, hi * self.unit_days, np.nan)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected number of purchases in the next ``horizon_days`` days."""
        x, tx, T = self._arrays(X["frequency"], X["recency"], X["T"])
        return self._purchases(self.horizon_days / self.unit_days, x, tx, T)

    def predict_table(self, X: pd.DataFrame, as_of=None, next_order: bool = True) -> pd.DataFrame:
        """P(alive), expected purchases / order value / spend in the horizon, days to and date of the next order.

        ``as_of`` (default ``X.attrs["cutoff"]``) is the summary's cutoff; next-order dates count from the day
        before it (the last observed day). CLV over the horizon = expected purchases x expected order value.
        ``next_order=False`` leaves out the next-order columns (a bisection, 98 % of the cost; feature tables do
        not read them).
        """
        x, tx, T = self._arrays(X["frequency"], X["recency"], X["T"])
        m = X["monetary_value"] if "monetary_value" in X else np.zeros(len(X))
        out = pd.DataFrame(index=X.index)
        out["p_alive"] = self._p_alive(x, tx, T)
        out["expected_purchases"] = self._purchases(self.horizon_days / self.unit_days, x, tx, T)
        out["expected_aov"] = self._aov(x, m)
        out["expected_spend"] = out["expected_purchases"] * out["expected_aov"]
        if not next_order:
            return out
        out["days_to_next_order"] = self._days_to_next(x, tx, T)
        as_of = as_of if as_of is not None else X.attrs.get("cutoff")
        if as_of is None:
            out["next_order_date"] = pd.NaT
        else:
            last_day = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=1)
            out["next_order_date"] = last_day + pd.to_timedelta(np.ceil(out["days_to_next_order"]), unit="D")
        return out

    def predict_one(self, frequency: float, recency: float, T: float, monetary_value: float = 0.0,
                    horizon_days: float | None = None) -> dict[str, float]:
        """Score one (what-if) customer; inputs in model time units. Returns plain floats (days_to_next may be nan)."""
        if not (0 <= recency <= T) or frequency < 0 or (frequency == 0 and recency != 0):
            raise DataError("BTYD what-if: need frequency >= 0, 0 <= recency <= T, and recency = 0 when "
                            "frequency = 0; adjust the inputs.")
        x, tx, TT = (np.array([float(v)]) for v in (frequency, recency, T))
        h = (self.horizon_days if horizon_days is None else horizon_days) / self.unit_days
        n = float(self._purchases(h, x, tx, TT)[0])
        aov = float(np.asarray(self._aov(x, np.array([float(monetary_value)])))[0])
        return {"p_alive": float(self._p_alive(x, tx, TT)[0]), "expected_purchases": n, "expected_aov": aov,
                "expected_spend": n * aov, "days_to_next_order": float(self._days_to_next(x, tx, TT)[0])}

    # ---- (de)serialisation without pickle
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description of the fitted model (rebuild it with :meth:`from_dict`)."""
        keys = ("kind_", "params_", "penalizer_", "log_likelihood_", "at_boundary_", "gg_params_",
                "fit_note_", "n_customers_", "n_fitted_")
        d = {k.rstrip("_"): getattr(self, k) for k in keys}
        d.update(self.get_params(), pop_spend=self._pop_spend_, penalizers=list(self.penalizers))
        return to_jsonable(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BTYDModel":
        """Rebuild a fitted model from :meth:`to_dict` output."""
        model = cls(horizon_days=d["horizon_days"], unit_days=d["unit_days"],
                    penalizers=tuple(d["penalizers"]), max_next_order_days=d["max_next_order_days"])
        for k in ("kind", "params", "penalizer", "log_likelihood", "at_boundary", "gg_params", "fit_note",
                  "n_customers", "n_fitted"):
            setattr(model, k + "_", d[k])
        model._pop_spend_ = float("nan") if d["pop_spend"] is None else d["pop_spend"]
        model._build()
        return model


# ------------------------------------------------------------------------------------------ helpers
def customer_value(transactions: pd.DataFrame, cutoff=None, horizon_days: float = BTYDConfig.horizon_days,
                   unit_days: float = 1.0) -> tuple[pd.DataFrame, BTYDModel]:
    """Fit on purchases before ``cutoff`` and return (summary + predictions per customer, fitted model)."""
    summary = btyd_summary(transactions, cutoff, unit_days)
    model = BTYDModel(horizon_days=horizon_days, unit_days=unit_days).fit(summary)
    table = summary.join(model.predict_table(summary))
    table.attrs["cutoff"] = summary.attrs["cutoff"]
    return table, model


def btyd_params(transactions: pd.DataFrame, cutoff=None, unit_days: float = 1.0,
                include_pareto: bool = True) -> dict[str, Any]:
    """Fitted parameters as a JSON-safe dict (for ``python -m pipeline btyd FILE --json``).

    Keys: ``cutoff``, ``unit_days``, ``n_customers``, ``n_fitted``, ``model`` (the one used for scoring),
    ``bgnbd`` / ``pareto_nbd`` / ``gamma_gamma`` (parameters + log-likelihood, or an ``error``), ``fit_note``.
    """
    summary = btyd_summary(transactions, cutoff, unit_days)
    model = BTYDModel(unit_days=unit_days).fit(summary)
    out: dict[str, Any] = {
        "cutoff": str(summary.attrs["cutoff"].date()), "unit_days": unit_days,
        "n_customers": model.n_customers_, "n_fitted": model.n_fitted_, "model": model.kind_,
        "at_boundary": model.at_boundary_, "fit_note": model.fit_note_, "fit_seconds": model.fit_seconds_,
        model.kind_: {**model.params_, "penalizer": model.penalizer_, "log_likelihood": model.log_likelihood_},
        "gamma_gamma": model.gg_params_,
    }
    if include_pareto and model.kind_ != "pareto_nbd":
        rows = summary[summary["T"] > 0]
        try:
            w = fitting.compress(rows)
            params = fitting.fit_pareto(w)
            out["pareto_nbd"] = {**params, "log_likelihood": fitting.pareto_loglik(params, w)}
        except Exception as exc:  # noqa: BLE001 - reported, never raised: Pareto/NBD is informative only
            out["pareto_nbd"] = {"error": f"Pareto/NBD fit failed ({type(exc).__name__})"}
    return to_jsonable(out)
