"""The BTYD fitters behind :class:`pipeline.clv.BTYDModel`: lifetimes' BG/NBD, a bounded BG/NBD refit, Pareto/NBD,
Gamma-Gamma and the empirical-rate fallback, with their log-likelihoods.

Belongs here: one function per way of fitting (each raises on failure; the model's fallback ladder catches), the
helpers that rebuild a fitter from parameters, and the wording of failures. No fallback policy: that is the model's.
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

__all__ = ["BG", "PNBD", "GG", "quiet", "compress", "EmpiricalRate", "lifetimes_class", "fitter_from_params",
           "bgnbd_loglik", "pareto_loglik", "fit_bgnbd_lifetimes", "fit_bgnbd_bounded", "fit_pareto",
           "fit_gamma_gamma", "check_params", "why_failed", "small_number"]

#: Parameter names of BG/NBD, Pareto/NBD and Gamma-Gamma.
BG = ("r", "alpha", "a", "b")
PNBD = ("r", "alpha", "s", "beta")
GG = ("p", "q", "v")


@contextlib.contextmanager
def quiet():
    """lifetimes prints the optimiser output on failure and numpy warns on boundary values: silence both."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def compress(X: pd.DataFrame) -> pd.DataFrame:
    """Identical (frequency, recency, T) rows as one row with a weight: same likelihood, faster fit."""
    return X.groupby(["frequency", "recency", "T"]).size().rename("w").reset_index()


class EmpiricalRate:
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


def lifetimes_class(kind: str):
    from lifetimes import BetaGeoFitter, ParetoNBDFitter
    return {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter}[kind]


def fitter_from_params(kind: str, params: dict[str, float]):
    """A lifetimes fitter (or the empirical model) that predicts from given parameters, without refitting."""
    if kind == "empirical":
        return EmpiricalRate(params["rate"])
    names = BG if kind == "bgnbd" else PNBD
    fitter = lifetimes_class(kind)()
    fitter.params_ = pd.Series([float(params[n]) for n in names], index=list(names))
    return fitter


def bgnbd_loglik(params: dict[str, float], w: pd.DataFrame) -> float:
    from lifetimes import BetaGeoFitter
    logp = np.log([params[n] for n in BG])
    with quiet():
        nll = BetaGeoFitter._negative_log_likelihood(logp, w["frequency"].to_numpy(), w["recency"].to_numpy(),
                                                     w["T"].to_numpy(), w["w"].to_numpy(), 0.0)
    return float(-nll * w["w"].sum())


def pareto_loglik(params: dict[str, float], w: pd.DataFrame) -> float:
    from lifetimes import ParetoNBDFitter
    with quiet():
        ll = ParetoNBDFitter._conditional_log_likelihood([params[n] for n in PNBD], w["frequency"].to_numpy(),
                                                         w["recency"].to_numpy(), w["T"].to_numpy())
    return float((ll * w["w"].to_numpy()).sum())


def fit_bgnbd_lifetimes(w: pd.DataFrame, penalizer: float) -> dict[str, float]:
    from lifetimes import BetaGeoFitter
    with quiet():
        f = BetaGeoFitter(penalizer_coef=penalizer).fit(w["frequency"], w["recency"], w["T"], weights=w["w"])
    return {n: float(f.params_[n]) for n in BG}


def fit_bgnbd_bounded(w: pd.DataFrame, bound: float) -> tuple[dict[str, float], bool]:
    """Unpenalised BG/NBD likelihood, L-BFGS-B on log parameters in [-bound, bound] (time scaled to max T = 1)."""
    from autograd import value_and_grad
    from lifetimes import BetaGeoFitter
    from scipy.optimize import minimize
    scale = 1.0 / w["T"].max()
    args = (w["frequency"].to_numpy(), w["recency"].to_numpy() * scale, w["T"].to_numpy() * scale,
            w["w"].to_numpy(), 0.0)
    with quiet():
        out = minimize(value_and_grad(BetaGeoFitter._negative_log_likelihood), x0=0.1 * np.ones(4), jac=True,
                       args=args, method="L-BFGS-B", bounds=[(-bound, bound)] * 4)
    if not out.success or not np.all(np.isfinite(out.x)):
        raise RuntimeError(f"bounded optimiser failed: {out.message}")
    params = dict(zip(BG, np.exp(out.x)))
    params["alpha"] /= scale
    return {k: float(v) for k, v in params.items()}, bool(np.any(np.abs(out.x) >= bound - 1e-3))


def fit_pareto(w: pd.DataFrame) -> dict[str, float]:
    """Pareto/NBD by Nelder-Mead from a fixed start (lifetimes' default start is random), polished once."""
    ParetoNBDFitter = lifetimes_class("pareto_nbd")
    start = np.ones(4)
    with quiet():
        for _ in range(2):
            f = ParetoNBDFitter().fit(w["frequency"], w["recency"], w["T"], weights=w["w"],
                                      initial_params=start, tol=1e-8, maxiter=4000)
            start = f.params_.to_numpy() * np.array([1.0, 1.0 / w["T"].max(), 1.0, 1.0 / w["T"].max()])
    params = {n: float(f.params_[n]) for n in PNBD}
    if not all(np.isfinite(v) and v > 0 for v in params.values()):
        raise RuntimeError("Pareto/NBD returned non-finite parameters")
    return params


#: BFGS stops with "precision loss" at a gradient of ~1e-7 on some last-bit differences of the spend sums; the
#: second tolerance accepts that optimum (the parameters agree to 1e-6), and only then the fit counts as failed.
_GG_TOLERANCES = (1e-7, 1e-6)


def fit_gamma_gamma(X: pd.DataFrame) -> tuple[dict[str, float] | None, str]:
    """Gamma-Gamma on repeat buyers with positive spend (fitted on spend / its mean, ``v`` scaled back); None +
    reason when it cannot be used."""
    from lifetimes import GammaGammaFitter
    rows = X[(X["frequency"] > 0) & (X.get("monetary_value", 0) > 0)]
    if len(rows) < 10:
        return None, f"only {len(rows)} repeat buyers with spend"
    scale = float(rows["monetary_value"].mean())   # fit in units of the mean spend: better conditioned
    for tol in _GG_TOLERANCES:
        try:
            with quiet():
                f = GammaGammaFitter().fit(rows["frequency"], rows["monetary_value"] / scale, tol=tol)
            break
        except Exception as exc:  # noqa: BLE001 - any optimiser failure means: use the empirical fallback
            failure = exc
    else:
        return None, f"the fit failed: {why_failed(failure)}"
    params = {n: float(f.params_[n]) for n in GG}
    params["v"] *= scale                           # spend x c <=> v x c (p and q are unit-free)
    if not params["q"] > 1 or not all(np.isfinite(list(params.values()))):
        return None, f"q = {params['q']:.3g} <= 1 gives no finite mean spend"
    return params, f"Gamma-Gamma fitted on {len(rows):,} repeat buyers"


def check_params(params: dict[str, float]) -> None:
    bad = {k: v for k, v in params.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise FloatingPointError(f"parameters not finite and positive: {bad}")


def why_failed(exc: Exception) -> str:
    """Short reason for a failed fit step."""
    text = " ".join(str(exc).split())
    if type(exc).__name__ == "ConvergenceError":
        return "the optimiser did not converge"
    return f"{type(exc).__name__}: {text[:80]}" if text else type(exc).__name__


def small_number(x: float) -> str:
    return f"{x:.2g}" if x < 0.01 else f"{x:.3f}"
