"""Spend in the next H days: chance of buying x spend if buying, learnt on stacked past cutoffs, with an 80 % interval.

Most customers spend nothing in a given H days, and the few who do spend very different amounts, so the forecast
is built in two parts (a "hurdle" model) from the rows of :mod:`pipeline.slices` (one per customer x past cutoff,
features as of that cutoff and each slice's own BG/NBD columns; the country is left out):

* **chance of buying** in the next H days: the calibrated sliced churn model (:func:`pipeline.models.sliced.
  fit_sliced` ``"logreg"``, P(buy) = 1 - P(churn)) or a gradient-boosting classifier early-stopped on the
  validation slice;
* **spend if buying**: gradient boosting on the log of the spend of the rows that bought, early-stopped on the
  validation slice's buyers, back to money with Duan's smearing factor (the mean of ``exp(residual)`` on validation
  buyers), so it is a mean and not a median;

and, as a one-part alternative, gradient boosting with a Poisson loss on every row's spend. Each of these is also
tried averaged with BG/NBD x Gamma-Gamma (``SpendConfig.btyd_blend``). Every candidate is an *expected* spend (the
figure that adds up to a revenue forecast). The one kept is chosen on the validation slice, never on the period
it is graded on: the lowest mean absolute error among those whose normalised Gini is within
``SpendConfig.gini_tolerance`` of the best.

Rules of time: :func:`fit_spend` learns from :meth:`pipeline.slices.SliceSet.training_cutoffs` only. The newest of
them is the validation slice (later than every training row); a seeded ``conformal_share`` of its customers is
kept aside and calibrates the interval, the rest early-stops, smears and chooses. With a single past slice a seeded
``single_slice_valid`` share of its customers plays the validation slice (same period: the interval is then
calibrated *in* time, not out of time, and the description says so).

The interval is split-conformal (Lei et al., JASA 2018) on a normalised score: ``|y - m| / (m + c)`` with ``m`` the
expected spend and ``c`` the median expected spend of the calibration customers, so the interval widens with the
forecast but never collapses for small ones. With ``q`` the calibration customers' conformal quantile at
``interval`` (80 %) the interval is ``[max(0, m - q (m + c)), m + q (m + c)]``; most customers get a lower bound of 0
("may well spend nothing").

Belongs here: the spend model, its interval, its choice and the rows :mod:`pipeline.value` grades it by
(:func:`spend_rows`). The slices are :mod:`pipeline.slices`', the churn model :mod:`pipeline.models.sliced`'s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipeline.config import SpendConfig, ValueConfig
from pipeline.errors import DataError
from pipeline.grading import normalized_gini, regression_row

__all__ = ["COLUMNS", "SpendForecast", "fit_spend", "interval_coverage", "spend_rows"]

#: Columns of :meth:`SpendForecast.predict`.
COLUMNS = ("expected_spend", "spend_low", "spend_high")
_BTYD = "btyd_expected_spend"
_WORDS = {"logreg": "calibrated logistic regression", "boosting": "gradient-boosting classifier",
          "constant": "the training rows' buying rate"}


@dataclass(frozen=True)
class SpendForecast:
    """A fitted spend forecast (see the module docstring); :meth:`predict` gives expected spend and its interval.

    ``kind`` is ``"hurdle"`` (chance of buying x spend if buying) or ``"poisson"``; ``btyd_weight`` the share of
    BG/NBD x Gamma-Gamma averaged in; ``quantile``/``offset`` the conformal ``q`` and ``c``; ``validation`` the
    validation-slice figures of every candidate (MAE, Gini) and of the interval."""

    kind: str
    columns: tuple[str, ...]
    buy_kind: str
    buy_model: Any
    buy_columns: tuple[str, ...]
    buy_rate: float
    amount_model: Any
    amount_mean: float
    smear: float
    direct_model: Any
    btyd_weight: float
    quantile: float
    offset: float
    interval: float
    out_of_time: bool
    threads: int
    description: str
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def model_words(self) -> str:
        """The model in a few plain words (the graded table's ``model``)."""
        base = ("Chance of buying x spend if buying" if self.kind == "hurdle"
                else "Gradient boosting (Poisson) on spend")
        blend = f", averaged with BG/NBD x Gamma-Gamma ({self.btyd_weight:.0%})" if self.btyd_weight else ""
        return f"{base}, learnt on past cutoffs{blend}"

    def expected(self, X: pd.DataFrame) -> np.ndarray:
        """Expected spend in the next H days of each row of ``X`` (a slice's feature table), never below 0."""
        with threadpool_limits(self.threads):
            if self.kind == "hurdle":
                m = _buy_probability(self, X) * _amount(self, X)
            else:
                m = self.direct_model.predict(X[list(self.columns)])
        m = np.clip(np.asarray(m, dtype=float), 0.0, None)
        if self.btyd_weight:
            m = (1 - self.btyd_weight) * m + self.btyd_weight * _btyd(X)
        return m

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``expected_spend``, ``spend_low``, ``spend_high`` (the ``interval`` range, never below 0), same index."""
        m = self.expected(X)
        half = self.quantile * (m + self.offset)
        return pd.DataFrame({"expected_spend": m, "spend_low": np.clip(m - half, 0.0, None), "spend_high": m + half},
                            index=X.index)

    #: The fitted estimators (saved on their own, e.g. with skops); every other field is JSON (:meth:`to_dict`).
    MODELS = ("buy_model", "amount_model", "direct_model")

    def to_dict(self) -> dict[str, Any]:
        """Every field but the :attr:`MODELS`, JSON-safe (rebuild with :meth:`from_dict`)."""
        from pipeline.exports import to_jsonable

        return to_jsonable({f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.MODELS})

    @classmethod
    def from_dict(cls, d: dict[str, Any], models: dict[str, Any]) -> SpendForecast:
        """The forecast of :meth:`to_dict` with its fitted ``models`` (name -> estimator or None)."""
        kw = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}
        kw["columns"], kw["buy_columns"] = tuple(kw["columns"]), tuple(kw["buy_columns"])
        return cls(**kw, **{m: models.get(m) for m in cls.MODELS})


# ------------------------------------------------------------------------------------------------ parts

def _numeric(X: pd.DataFrame) -> list[str]:
    from pipeline.features import numeric_feature_columns

    return numeric_feature_columns(X)


def _btyd(X: pd.DataFrame) -> np.ndarray:
    if _BTYD not in X:
        return np.zeros(len(X))
    return np.clip(pd.to_numeric(X[_BTYD], errors="coerce").fillna(0.0).to_numpy(float), 0.0, None)


def _buy_probability(fc: SpendForecast, X: pd.DataFrame) -> np.ndarray:
    if fc.buy_kind == "logreg":
        return 1.0 - fc.buy_model.predict_proba(X[list(fc.buy_columns)])[:, 1]
    if fc.buy_kind == "boosting":
        return fc.buy_model.predict_proba(X[list(fc.buy_columns)])[:, 1]
    return np.full(len(X), fc.buy_rate)


def _amount(fc: SpendForecast, X: pd.DataFrame) -> np.ndarray:
    if fc.amount_model is None:
        return np.full(len(X), fc.amount_mean)
    return np.exp(fc.amount_model.predict(X[list(fc.columns)])) * fc.smear


def _boosting(kind: str, config: SpendConfig, stop: bool, **kw):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if kind == "classifier" else HistGradientBoostingRegressor
    return cls(max_iter=config.max_iter, learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
               min_samples_leaf=config.min_samples_leaf, l2_regularization=config.l2_regularization,
               early_stopping=stop, n_iter_no_change=config.early_stopping_rounds,
               random_state=config.random_state, **kw)


def _fit(model, X, y, X_val, y_val):
    """Fit, early-stopping on ``(X_val, y_val)`` when the model was built to stop."""
    if model.early_stopping:
        return model.fit(X, y, X_val=X_val, y_val=y_val)
    return model.fit(X, y)


def _buy_models(Xtr, ytr, Xva, yva, config: SpendConfig) -> dict[str, tuple[Any, tuple[str, ...]]]:
    """``{kind: (model, columns)}`` of the chance-of-buying models that can be fitted on these rows."""
    from pipeline.models.sliced import churn_types, fit_sliced

    churned = ytr["churned"].to_numpy(int)
    if len(np.unique(churned)) < 2:
        return {}
    out: dict[str, tuple[Any, tuple[str, ...]]] = {}
    types = churn_types(Xtr)                  # the churn model's own inputs (the country included)
    out["logreg"] = (fit_sliced("logreg", Xtr, churned, Xva, yva["churned"].to_numpy(int), types=types),
                     tuple(types))
    num = _numeric(Xtr)
    stop = len(np.unique(yva["churned"])) == 2
    clf = _boosting("classifier", config, stop)
    out["boosting"] = (_fit(clf, Xtr[num], 1 - churned, Xva[num], 1 - yva["churned"].to_numpy(int)), tuple(num))
    return out


def _amount_model(Xtr, ytr, Xva, yva, config: SpendConfig) -> tuple[Any, float, float]:
    """``(model on log spend or None, mean spend of buyers, smearing factor)`` from the rows that bought."""
    num = _numeric(Xtr)
    buy, vbuy = ytr["spend"].to_numpy(float) > 0, yva["spend"].to_numpy(float) > 0
    mean = float(ytr["spend"].to_numpy(float)[buy].mean()) if buy.any() else 0.0
    if buy.sum() < config.min_buyers:
        return None, mean, 1.0
    stop = vbuy.sum() >= config.min_buyers
    reg = _boosting("regressor", config, stop)
    reg = _fit(reg, Xtr.loc[buy, num], np.log(ytr["spend"].to_numpy(float)[buy]), Xva.loc[vbuy, num] if stop else None,
               np.log(yva["spend"].to_numpy(float)[vbuy]) if stop else None)
    # Duan's smearing: E[spend | buys] = exp(prediction) x mean exp(residual), on rows the model did not learn from
    X_s, y_s = (Xva.loc[vbuy, num], yva["spend"].to_numpy(float)[vbuy]) if stop else \
        (Xtr.loc[buy, num], ytr["spend"].to_numpy(float)[buy])
    smear = float(np.mean(np.exp(np.log(y_s) - reg.predict(X_s))))
    return reg, mean, smear


def _direct_model(Xtr, ytr, Xva, yva, config: SpendConfig):
    """Gradient boosting with a Poisson loss on every row's spend (None when nobody spent)."""
    y = ytr["spend"].to_numpy(float)
    if not (y > 0).any():
        return None
    num = _numeric(Xtr)
    stop = (yva["spend"].to_numpy(float) > 0).any()
    return _fit(_boosting("regressor", config, stop, loss="poisson"), Xtr[num], y, Xva[num],
                yva["spend"].to_numpy(float))


# ------------------------------------------------------------------------------------------------ fitting

def _validation(slices, cutoffs: list[pd.Timestamp], config: SpendConfig):
    """``(X_train, y_train, X_valid, y_valid, out_of_time, valid_cutoff)`` (see the module docstring)."""
    if len(cutoffs) >= 2:
        Xtr, ytr = slices.stack(cutoffs[1:], max_rows=config.max_rows)
        v = slices.at(cutoffs[0])
        if v.y is None:
            raise DataError("spend: the validation slice has no labels; the data are too short for this cutoff.")
        return Xtr, ytr, v.X, v.y, True, cutoffs[0]
    X, y = slices.stack(cutoffs, max_rows=config.max_rows)
    hold = np.random.default_rng(config.random_state).random(len(X)) < config.single_slice_valid
    return X.loc[~hold], y.loc[~hold], X.loc[hold], y.loc[hold], False, cutoffs[0]


def _grades(actual, predicted) -> dict[str, float]:
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return {"mae": float(np.abs(a - p).mean()) if len(a) else float("nan"), "gini": normalized_gini(a, p)}


def _choose(grades: dict[str, dict[str, float]], tolerance: float) -> str:
    """The lowest MAE among the candidates whose Gini is within ``tolerance`` of the best (NaN Gini: MAE alone)."""
    ginis = [g["gini"] for g in grades.values() if np.isfinite(g["gini"])]
    best = max(ginis) if ginis else None
    pool = [k for k, g in grades.items() if best is None or (np.isfinite(g["gini"]) and g["gini"] >= best - tolerance)]
    return min(pool, key=lambda k: (grades[k]["mae"], list(grades).index(k)))


def fit_spend(slices, cutoff, config: SpendConfig = SpendConfig()) -> SpendForecast:
    """Fit the spend forecast for ``cutoff`` from the slices before it (see the module docstring).

    Parameters
    ----------
    slices : :class:`pipeline.slices.SliceSet` of the data.
    cutoff : the day the forecast is made on; only slices whose label window ends by then are read.
    config : :class:`pipeline.config.SpendConfig`.
    """
    cutoffs = slices.training_cutoffs(cutoff)
    if not cutoffs:
        raise DataError(f"spend: no past cutoff with {slices.horizon_days} days of known spend before "
                        f"{pd.Timestamp(cutoff).date()}; the data are too short for a {slices.horizon_days}-day "
                        "forecast.")
    Xtr, ytr, Xva, yva, out_of_time, vcut = _validation(slices, cutoffs, config)
    conf = np.random.default_rng(config.random_state + 1).random(len(Xva)) < config.conformal_share
    if conf.all() or not conf.any():
        conf = np.arange(len(Xva)) % 2 == 1
    XA, yA, XB, yB = Xva.loc[~conf], yva.loc[~conf], Xva.loc[conf], yva.loc[conf]
    num = tuple(_numeric(Xtr))
    with threadpool_limits(config.threads):
        buyers = _buy_models(Xtr, ytr, XA, yA, config)
        amount, amount_mean, smear = _amount_model(Xtr, ytr, XA, yA, config)
        direct = _direct_model(Xtr, ytr, XA, yA, config)
    rate = float(1 - ytr["churned"].mean())
    base = dict(columns=num, buy_rate=rate, amount_model=amount, amount_mean=amount_mean, smear=smear,
                quantile=0.0, offset=0.0, interval=config.interval, out_of_time=out_of_time,
                threads=config.threads, description="")
    candidates: dict[str, SpendForecast] = {}
    for kind, (model, cols) in (buyers or {"constant": (None, ())}).items():
        candidates[f"{kind} x amount"] = SpendForecast(kind="hurdle", buy_kind=kind, buy_model=model,
                                                       buy_columns=cols, direct_model=None, btyd_weight=0.0, **base)
    if direct is not None:
        candidates["poisson"] = SpendForecast(kind="poisson", buy_kind="constant", buy_model=None, buy_columns=(),
                                              direct_model=direct, btyd_weight=0.0, **base)
    if config.btyd_blend and _BTYD in Xtr:
        for k in list(candidates):
            candidates[f"{k} + btyd"] = _replace(candidates[k], btyd_weight=config.btyd_blend)
    grades = {k: _grades(yA["spend"], fc.expected(XA)) for k, fc in candidates.items()}
    chosen = _choose(grades, config.gini_tolerance)
    fc = candidates[chosen]
    if fc.kind != "hurdle":
        fc = _replace(fc, amount_model=None)
    # split-conformal on the customers kept aside: |y - m| / (m + c), c = their median expected spend
    m, y = fc.expected(XB), yB["spend"].to_numpy(float)
    offset = max(float(np.median(m)), 1e-6)
    q = _conformal_quantile(np.abs(y - m) / (m + offset), config.interval)
    fc = _replace(fc, quantile=q, offset=offset)
    pred = fc.predict(XB)
    validation = {"cutoff": str(vcut.date()), "out_of_time": out_of_time, "training_slices": max(len(cutoffs) - 1, 1),
                  "training_rows": len(Xtr), "fit_customers": int((~conf).sum()),
                  "conformal_customers": int(conf.sum()), "candidates": grades, "chosen": chosen,
                  "interval_coverage": interval_coverage(y, pred["spend_low"], pred["spend_high"])}
    return _replace(fc, description=_describe(fc, chosen, validation, slices.horizon_days), validation=validation)


def _replace(fc: SpendForecast, **changes) -> SpendForecast:
    import dataclasses

    return dataclasses.replace(fc, **changes)


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((n + 1) level) / n`` empirical quantile of the calibration scores (the split-conformal one)."""
    s = np.sort(np.asarray(scores, dtype=float))
    n = len(s)
    if n == 0:
        raise DataError("spend: no customer is left to calibrate the interval; the data are too small.")
    return float(s[min(n, math.ceil((n + 1) * level)) - 1])


def _describe(fc: SpendForecast, chosen: str, v: dict[str, Any], h: int) -> str:
    if fc.kind == "hurdle":
        what = (f"chance of buying in the next {h} days ({_WORDS[fc.buy_kind]}) x spend if buying "
                + ("(gradient boosting on log spend, smearing-corrected)" if fc.amount_model is not None
                   else "(the training buyers' average)"))
    else:
        what = f"gradient boosting with a Poisson loss on spend in the next {h} days"
    if fc.btyd_weight:
        what += f", averaged with BG/NBD x Gamma-Gamma ({fc.btyd_weight:.0%} weight)"
    learnt = (f"learnt on {v['training_rows']:,} customer x cutoff rows from {v['training_slices']} past cutoffs"
              if v["out_of_time"] else f"learnt on part of the single past cutoff {v['cutoff']}")
    when = (f"{v['conformal_customers']:,} customers of the later {v['cutoff']} slice (out of time)" if v["out_of_time"]
            else f"{v['conformal_customers']:,} held-out customers of the same {v['cutoff']} slice (in time only: "
                 "no later slice exists, so out-of-time coverage is not checked)")
    g = v["candidates"][chosen]
    return (f"Expected spend = {what}; {learnt}, chosen on the validation slice (MAE {g['mae']:,.2f}, "
            f"normalised Gini {g['gini']:.3f}). {fc.interval:.0%} interval: split-conformal, calibrated on {when}; "
            "its coverage on a later period is graded by value.")


# ------------------------------------------------------------------------------------------------ grading

def interval_coverage(actual, low, high) -> float:
    """Share of ``actual`` values inside ``[low, high]`` (NaN when there are none)."""
    a, lo, hi = (np.asarray(v, dtype=float) for v in (actual, low, high))
    return float(np.mean((a >= lo) & (a <= hi))) if len(a) else float("nan")


def spend_rows(slices, test_cutoff, cfg: ValueConfig = ValueConfig(), config: SpendConfig = SpendConfig(), *,
               forecast: SpendForecast | None = None) -> list[dict]:
    """The graded row of the spend forecast for :mod:`pipeline.value`'s table: the forecast fitted for
    ``test_cutoff`` (from earlier slices only; ``forecast`` when already fitted so) against each customer's spend
    in the H days after it, with the interval's ``coverage`` (share of actual spends inside it) and mean
    ``width``."""
    test = slices.at(test_cutoff)
    if test.y is None:
        raise DataError(f"spend: the {slices.horizon_days} days after {pd.Timestamp(test_cutoff).date()} are not all "
                        "in the data; grade at an earlier cutoff.")
    memo = getattr(slices, "memo", None)
    make = lambda: fit_spend(slices, test_cutoff, config)  # noqa: E731
    fc = forecast or (memo(("spend", pd.Timestamp(test_cutoff).normalize(), config), make) if memo else make())
    pred = fc.predict(test.X)
    truth = test.y["spend"]
    row = regression_row("spend_hybrid", "spend", fc.model_words, "model", truth, pred["expected_spend"], cfg)
    row["coverage"] = interval_coverage(truth, pred["spend_low"], pred["spend_high"])
    row["width"] = float((pred["spend_high"] - pred["spend_low"]).mean()) if len(pred) else float("nan")
    return [row]
