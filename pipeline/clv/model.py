"""Customer value with BTYD models: BG/NBD, Pareto/NBD and Gamma-Gamma (``lifetimes``), with robust fallbacks.

The repeat-purchase summary is built here (lifetimes' ``calibration_and_holdout_data`` fails on pandas 3):
purchases on the same day are one transaction; ``frequency`` = repeat purchase days, ``recency`` = first to
last purchase day, ``T`` = first purchase day to the last observed day (the day before the cutoff), all in
units of ``unit_days`` days; ``monetary_value`` = mean spend of the repeat purchase days (0 without repeats).

Fitting never crashes. The BG/NBD ladder is: lifetimes' fit (penalizer 0) -> the same likelihood with a
bounded optimiser (when lifetimes stops on a precision-loss warning, as on Online Retail) -> lifetimes with
growing penalizers -> Pareto/NBD -> an empirical-rate model. ``BTYDModel.fit_note_`` explains in words what
happened, e.g. that the dropout parameters ran to the boundary so P(alive) is not informative.
"""
from __future__ import annotations

import contextlib
import io
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from pipeline.config import BTYDConfig
from pipeline.errors import DataError
from pipeline.exports import to_jsonable
from pipeline.features import resolve_as_of
from pipeline.log import logged

__all__ = [
    "SUMMARY_COLUMNS", "PREDICTION_COLUMNS", "btyd_summary", "calibration_holdout",
    "BTYDModel", "customer_value", "btyd_params",
]

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
PREDICTION_COLUMNS = ("p_alive", "expected_purchases", "expected_aov", "expected_spend",
                      "days_to_next_order", "next_order_date")
_BG = ("r", "alpha", "a", "b")
_PNBD = ("r", "alpha", "s", "beta")
_GG = ("p", "q", "v")


# ----------------------------------------------------------------------------------------------- summary
def _visits(transactions: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Per (customer, purchase day) spend for rows with start <= date < end."""
    dates = pd.to_datetime(transactions["date"])
    keep = np.ones(len(transactions), dtype=bool)
    if start is not None:
        keep &= (dates >= start).to_numpy()
    if end is not None:
        keep &= (dates < end).to_numpy()
    tx = transactions.loc[keep, ["customer_id", "amount"]].assign(day=dates[keep].dt.normalize())
    tx["customer_id"] = tx["customer_id"].astype(str)
    return tx.groupby(["customer_id", "day"], sort=True)["amount"].sum().reset_index()


def btyd_summary(transactions: pd.DataFrame, cutoff=None, unit_days: float = 1.0) -> pd.DataFrame:
    """Frequency / recency / T / monetary_value of every customer with a purchase before ``cutoff``.

    Parameters
    ----------
    transactions : canonical transactions (customer_id, date, amount).
    cutoff : first day *not* observed; default the day after the last transaction.
    unit_days : length of the time unit in days (7 for weeks).

    Returns
    -------
    DataFrame indexed by customer_id with ``SUMMARY_COLUMNS``; ``attrs["cutoff"]`` holds the cutoff.
    """
    cutoff = resolve_as_of(transactions, cutoff)
    visits = _visits(transactions, end=cutoff)
    if visits.empty:
        raise DataError(f"BTYD: no purchases before {cutoff.date()}; choose a later cutoff date.")
    g = visits.groupby("customer_id", sort=True)["day"]
    first, last = g.min(), g.max()
    repeat = visits[visits["day"] > visits["customer_id"].map(first)]
    end_day = cutoff - pd.Timedelta(days=1)
    out = pd.DataFrame({
        "frequency": (g.size() - 1).astype(float),
        "recency": (last - first).dt.days / unit_days,
        "T": (end_day - first).dt.days / unit_days,
        "monetary_value": repeat.groupby("customer_id")["amount"].mean().reindex(first.index).fillna(0.0),
    })
    out.index.name = "customer_id"
    out.attrs["cutoff"] = cutoff
    return out


def calibration_holdout(transactions: pd.DataFrame, calibration_end, holdout_end=None,
                        unit_days: float = 1.0) -> pd.DataFrame:
    """Summary before ``calibration_end`` plus what each of those customers did in [calibration_end, holdout_end).

    Adds ``frequency_holdout`` (purchase days), ``monetary_holdout`` (mean spend per purchase day, 0 if none)
    and ``duration_holdout`` (holdout length in units). ``holdout_end`` defaults to the day after the last row.
    """
    cal = btyd_summary(transactions, calibration_end, unit_days)
    cutoff = cal.attrs["cutoff"]
    holdout_end = resolve_as_of(transactions, holdout_end)
    if holdout_end <= cutoff:
        raise DataError("BTYD: the holdout end must be after the calibration end; pick an earlier calibration end.")
    hold = _visits(transactions, start=cutoff, end=holdout_end).groupby("customer_id")["amount"]
    cal["frequency_holdout"] = hold.size().reindex(cal.index).fillna(0).astype(float)
    cal["monetary_holdout"] = hold.mean().reindex(cal.index).fillna(0.0)
    cal["duration_holdout"] = (holdout_end - cutoff).days / unit_days
    return cal


def _check_summary(X: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in SUMMARY_COLUMNS[:3] if c not in X.columns]
    if missing:
        raise DataError(f"BTYD: summary lacks column(s) {missing}; build it with pipeline.clv.btyd_summary.")
    if len(X) == 0:
        raise DataError("BTYD: no customers to fit; the data has no purchases before the cutoff.")
    bad = (X["recency"] > X["T"]) | (X["recency"] < 0) | (X["frequency"] < 0)
    if bad.any():
        raise DataError(f"BTYD: {int(bad.sum())} customers break 0 <= recency <= T or frequency >= 0; "
                        "rebuild the summary with pipeline.clv.btyd_summary.")
    return X


# ------------------------------------------------------------------------------------------ fitters
@contextlib.contextmanager
def _quiet():
    """lifetimes prints the optimiser output on failure and numpy warns on boundary values: silence both."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _compress(X: pd.DataFrame) -> pd.DataFrame:
    """Identical (frequency, recency, T) rows as one row with a weight: same likelihood, faster fit."""
    return X.groupby(["frequency", "recency", "T"]).size().rename("w").reset_index()


class _EmpiricalRate:
    """Last-resort model: each customer's own purchase rate shrunk to the pooled rate with one pseudo purchase.

    P(alive) is a heuristic: the chance of the observed silence since the last purchase under that rate.
    """

    def __init__(self, rate: float):
        self.params_ = pd.Series({"rate": float(rate)})

    def _rate(self, x, T):
        pooled = self.params_["rate"]
        return (np.asarray(x) + 1.0) / (np.asarray(T) + 1.0 / pooled) if pooled > 0 else np.zeros_like(T * 1.0)

    def conditional_probability_alive(self, x, t_x, T):
        return np.exp(-self._rate(x, T) * (np.asarray(T) - np.asarray(t_x)))

    def conditional_expected_number_of_purchases_up_to_time(self, t, x, t_x, T):
        return self.conditional_probability_alive(x, t_x, T) * self._rate(x, T) * t


def _lifetimes_class(kind: str):
    from lifetimes import BetaGeoFitter, ParetoNBDFitter
    return {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter}[kind]


def _fitter_from_params(kind: str, params: dict[str, float]):
    """A lifetimes fitter (or the empirical model) that predicts from given parameters, without refitting."""
    if kind == "empirical":
        return _EmpiricalRate(params["rate"])
    names = _BG if kind == "bgnbd" else _PNBD
    fitter = _lifetimes_class(kind)()
    fitter.params_ = pd.Series([float(params[n]) for n in names], index=list(names))
    return fitter


def _bgnbd_loglik(params: dict[str, float], w: pd.DataFrame) -> float:
    from lifetimes import BetaGeoFitter
    logp = np.log([params[n] for n in _BG])
    with _quiet():
        nll = BetaGeoFitter._negative_log_likelihood(logp, w["frequency"].to_numpy(), w["recency"].to_numpy(),
                                                     w["T"].to_numpy(), w["w"].to_numpy(), 0.0)
    return float(-nll * w["w"].sum())


def _pareto_loglik(params: dict[str, float], w: pd.DataFrame) -> float:
    from lifetimes import ParetoNBDFitter
    with _quiet():
        ll = ParetoNBDFitter._conditional_log_likelihood([params[n] for n in _PNBD], w["frequency"].to_numpy(),
                                                         w["recency"].to_numpy(), w["T"].to_numpy())
    return float((ll * w["w"].to_numpy()).sum())


def _fit_bgnbd_lifetimes(w: pd.DataFrame, penalizer: float) -> dict[str, float]:
    from lifetimes import BetaGeoFitter
    with _quiet():
        f = BetaGeoFitter(penalizer_coef=penalizer).fit(w["frequency"], w["recency"], w["T"], weights=w["w"])
    return {n: float(f.params_[n]) for n in _BG}


def _fit_bgnbd_bounded(w: pd.DataFrame, bound: float) -> tuple[dict[str, float], bool]:
    """Unpenalised BG/NBD likelihood, L-BFGS-B on log parameters in [-bound, bound] (time scaled to max T = 1)."""
    from autograd import value_and_grad
    from lifetimes import BetaGeoFitter
    from scipy.optimize import minimize
    scale = 1.0 / w["T"].max()
    args = (w["frequency"].to_numpy(), w["recency"].to_numpy() * scale, w["T"].to_numpy() * scale,
            w["w"].to_numpy(), 0.0)
    with _quiet():
        out = minimize(value_and_grad(BetaGeoFitter._negative_log_likelihood), x0=0.1 * np.ones(4), jac=True,
                       args=args, method="L-BFGS-B", bounds=[(-bound, bound)] * 4)
    if not out.success or not np.all(np.isfinite(out.x)):
        raise RuntimeError(f"bounded optimiser failed: {out.message}")
    params = dict(zip(_BG, np.exp(out.x)))
    params["alpha"] /= scale
    return {k: float(v) for k, v in params.items()}, bool(np.any(np.abs(out.x) >= bound - 1e-3))


def _fit_pareto(w: pd.DataFrame) -> dict[str, float]:
    """Pareto/NBD by Nelder-Mead from a fixed start (lifetimes' default start is random), polished once."""
    ParetoNBDFitter = _lifetimes_class("pareto_nbd")
    start = np.ones(4)
    with _quiet():
        for _ in range(2):
            f = ParetoNBDFitter().fit(w["frequency"], w["recency"], w["T"], weights=w["w"],
                                      initial_params=start, tol=1e-8, maxiter=4000)
            start = f.params_.to_numpy() * np.array([1.0, 1.0 / w["T"].max(), 1.0, 1.0 / w["T"].max()])
    params = {n: float(f.params_[n]) for n in _PNBD}
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        raise RuntimeError("Pareto/NBD returned non-finite parameters")
    return params


def _fit_gamma_gamma(X: pd.DataFrame) -> tuple[dict[str, float] | None, str]:
    """Gamma-Gamma on repeat buyers with positive spend; None + reason when it cannot be used."""
    from lifetimes import GammaGammaFitter
    rows = X[(X["frequency"] > 0) & (X.get("monetary_value", 0) > 0)]
    if len(rows) < 10:
        return None, f"only {len(rows)} repeat buyers with spend"
    try:
        with _quiet():
            f = GammaGammaFitter().fit(rows["frequency"], rows["monetary_value"])
    except Exception as exc:  # noqa: BLE001 - any optimiser failure means: use the empirical fallback
        return None, f"the fit failed: {_why(exc)}"
    params = {n: float(f.params_[n]) for n in _GG}
    if not params["q"] > 1 or not all(np.isfinite(list(params.values()))):
        return None, f"q = {params['q']:.3g} <= 1 gives no finite mean spend"
    return params, f"Gamma-Gamma fitted on {len(rows):,} repeat buyers"


def _check_params(params: dict[str, float]) -> None:
    bad = {k: v for k, v in params.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise FloatingPointError(f"parameters not finite and positive: {bad}")


def _why(exc: Exception) -> str:
    """Short reason for a failed fit step."""
    text = " ".join(str(exc).split())
    if type(exc).__name__ == "ConvergenceError":
        return "the optimiser did not converge"
    return f"{type(exc).__name__}: {text[:80]}" if text else type(exc).__name__


def _pct(x: float) -> str:
    return f"{x:.2g}" if x < 0.01 else f"{x:.3f}"


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
        X = _check_summary(X)
        rows = X[X["T"] > 0]
        notes = []
        if len(rows) < len(X):
            k = len(X) - len(rows)
            notes.append(f"{k:,} customer{'s' if k > 1 else ''} with T = 0 (first purchase on the last observed "
                         "day) left out of the fit and scored with it")
        self.n_customers_, self.n_fitted_ = len(X), len(rows)
        self._fit_purchases(rows, notes)
        self._build()
        if self.at_boundary_:
            share = float(np.mean(self._p_alive(*self._arrays(rows["frequency"], rows["recency"], rows["T"])) >= 0.9))
            notes.append(self._boundary_note(share))
        gg, gg_note = _fit_gamma_gamma(rows)
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
        w = _compress(rows)
        failures = []
        for label, step in self._ladder(w, cfg):
            try:
                kind, params, penalizer, at_bound, how = step()
                _check_params(params)
            except Exception as exc:  # noqa: BLE001 - the ladder exists to absorb optimiser failures
                failures.append(f"{label} failed ({_why(exc)})")
                continue
            self.kind_, self.params_, self.penalizer_ = kind, params, penalizer
            ll = _bgnbd_loglik(params, w) if kind == "bgnbd" else _pareto_loglik(params, w)
            self.log_likelihood_ = ll
            notes.append("; ".join(failures + [how]) + f" (log-likelihood {ll:,.1f})")
            self.at_boundary_ = bool(at_bound or self._dropout_at_boundary(cfg))
            return None
        return self._use_empirical(rows, notes, "; ".join(failures))

    def _ladder(self, w: pd.DataFrame, cfg: BTYDConfig) -> list[tuple[str, Any]]:
        """(label, step) pairs tried in order; a step returns (kind, params, penalizer, at_bound, note)."""
        n = f"{int(w['w'].sum()):,} customers"

        def bounded():
            params, hit = _fit_bgnbd_bounded(w, cfg.log_bound)
            return "bgnbd", params, 0.0, hit, f"BG/NBD refitted by maximum likelihood with a bounded optimiser on {n}"

        def penalized(pen):
            return ("bgnbd", _fit_bgnbd_lifetimes(w, pen), pen, False,
                    f"BG/NBD fitted with penalizer {pen} on {n} (parameters shrunk towards 0)")

        def standard():
            return "bgnbd", _fit_bgnbd_lifetimes(w, 0.0), 0.0, False, f"BG/NBD fitted by maximum likelihood on {n}"

        return [
            ("the standard lifetimes BG/NBD fit", standard),
            ("the bounded BG/NBD refit", bounded),
            *((f"BG/NBD with penalizer {pen}", lambda pen=pen: penalized(pen)) for pen in self.penalizers),
            ("Pareto/NBD", lambda: ("pareto_nbd", _fit_pareto(w), 0.0, False,
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
            what = (f"a = {_pct(p['a'])}, b = {p['b']:.3g}; mean chance of dropping out after a purchase "
                    f"a/(a+b) = {_pct(p['a'] / (p['a'] + p['b']))}")
        else:
            what = f"s = {_pct(p['s'])}, beta = {p['beta']:.3g}"
        return (f"dropout parameters at the boundary ({what}): the data show almost no sign of customers "
                f"leaving, so P(alive) is not informative (>= 0.9 for {share_alive:.1%} of customers); "
                "expected purchases still rank customers")

    def _use_empirical(self, rows: pd.DataFrame, notes: list[str], why: str) -> None:
        rate = float(rows["frequency"].sum() / rows["T"].sum()) if len(rows) and rows["T"].sum() > 0 else 0.0
        self.kind_, self.params_ = "empirical", {"rate": rate}
        notes.append(f"{why}; using an empirical-rate model (each customer's repeat-purchase rate shrunk to the "
                     f"pooled rate {rate:.4g} per unit); its P(alive) is a rough heuristic")

    def _build(self) -> None:
        self._fitter = _fitter_from_params(self.kind_, self.params_)

    # ---- prediction
    def _arrays(self, frequency, recency, T):
        with np.errstate(all="ignore"):
            x, tx, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return x, tx, T

    def _purchases(self, t, x, tx, T):
        with _quiet():
            out = self._fitter.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
        return np.clip(np.nan_to_num(np.asarray(out, dtype=float), nan=0.0), 0.0, None)

    def _p_alive(self, x, tx, T):
        with _quiet():
            out = self._fitter.conditional_probability_alive(x, tx, T)
        return np.clip(np.nan_to_num(np.asarray(out, dtype=float), nan=1.0), 0.0, 1.0)

    def _aov(self, x, m):
        m = np.asarray(m, dtype=float)
        if self.gg_params_ is not None:
            p, q, v = (self.gg_params_[k] for k in _GG)
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

    def predict_table(self, X: pd.DataFrame, as_of=None) -> pd.DataFrame:
        """P(alive), expected purchases / order value / spend in the horizon, days to and date of the next order.

        ``as_of`` (default ``X.attrs["cutoff"]``) is the summary's cutoff; next-order dates count from the day
        before it (the last observed day). CLV over the horizon = expected purchases x expected order value.
        """
        x, tx, T = self._arrays(X["frequency"], X["recency"], X["T"])
        m = X["monetary_value"] if "monetary_value" in X else np.zeros(len(X))
        out = pd.DataFrame(index=X.index)
        out["p_alive"] = self._p_alive(x, tx, T)
        out["expected_purchases"] = self._purchases(self.horizon_days / self.unit_days, x, tx, T)
        out["expected_aov"] = self._aov(x, m)
        out["expected_spend"] = out["expected_purchases"] * out["expected_aov"]
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
            w = _compress(rows)
            params = _fit_pareto(w)
            out["pareto_nbd"] = {**params, "log_likelihood": _pareto_loglik(params, w)}
        except Exception as exc:  # noqa: BLE001 - reported, never raised: Pareto/NBD is informative only
            out["pareto_nbd"] = {"error": f"Pareto/NBD fit failed ({type(exc).__name__})"}
    return to_jsonable(out)
