"""Days to a customer's next order: a discrete-time hazard over weekly periods, with a split-conformal interval.

Most customers have not reordered yet when the model learns, so "days to the next order" is *censored*: a slice's
customer who did not order in its H days only says "later than H". A discrete-time hazard model handles this the
standard way (Singer & Willett; Tutz & Schmid, *Modeling Discrete Time-to-Event Data*, 2016): each customer x slice
row becomes one *person-period* row per week at risk, weeks ``1 .. ceil(H / 7)`` until the week of the first order
in the window (event = 1 in that week) or all of them when no order came (event = 0 throughout). A gradient-boosting
classifier learns ``P(order in week k | none before)`` from the slice's features, the week index, the days since the
last purchase at that week (``recency_days + 7 (k - 1)``), that over the customer's mean and last gap, and the last
gap itself ("the last gap repeats" is the rule to beat, so the model is given it).

From the hazards ``h_1..h_K``: ``p_order = 1 - prod(1 - h_k)`` (an order within H days) and the distribution of the
day of that order *given* one within H; inside a week the days share the week's probability evenly, so the median
and the interval bounds are day counts, not multiples of 7. Days are counted from the last observed day
``cutoff - 1`` (as :func:`pipeline.grading.next_order_days`): day 1 is the cutoff day.

Rules of time: :func:`fit_next_order` learns from :meth:`SliceSet.training_cutoffs` only. The newest of them is the
validation slice (later than every training row): half of its customers (seeded) early-stop the boosting, the other
half calibrate the interval split-conformally: the interval is the conditional distribution's central range between
the levels ``beta`` and ``1 - beta``, with ``beta`` the largest level that holds ``interval`` (80 %) of those
customers' actual next-order days (nested conformal prediction, the conformity score of an actual day ``y`` being
``min(G(y), 1 - G(y - 1))`` with ``G`` its conditional CDF). With one past cutoff only, a seeded share of its
customers plays the validation slice (said in ``info["note"]``).

Belongs here: the person-period expansion, the hazard model, its quantiles and interval, and the rows
:mod:`pipeline.value` grades it by (:func:`next_order_rows`). The slices are :mod:`pipeline.slices`'.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipeline.config import NextOrderConfig, ValueConfig
from pipeline.errors import DataError
from pipeline.grading import graded_row, last_gap_days, next_order_days

__all__ = ["GAP_COLUMNS", "n_periods", "person_periods", "order_gaps", "next_order_features", "NextOrderForecast",
           "fit_next_order", "next_order_forecast", "next_order_rows"]

#: Per-customer columns the hazard model reads beside the slice's features (:func:`order_gaps`).
GAP_COLUMNS = ("visits", "last_gap_days", "gap_due_days")


def n_periods(horizon_days: int, period_days: int = NextOrderConfig.period_days) -> int:
    """Periods at risk over a horizon: ``ceil(H / period_days)`` (the last one may be shorter)."""
    return int(math.ceil(horizon_days / period_days))


def person_periods(next_days, horizon_days: int, period_days: int = NextOrderConfig.period_days) -> pd.DataFrame:
    """The person-period expansion of customer rows with their days to the first order in the window.

    ``next_days``: per row, days from ``cutoff - 1`` to the first order in ``[cutoff, cutoff + H)`` (1..H), NaN
    when none (censored at H). Returns one row per (row, period) at risk: ``row`` (position in ``next_days``),
    ``period`` (1-based) and ``event`` (1 in the period of the first order, else 0). A row whose order came on day
    ``d`` contributes periods ``1 .. ceil(d / period_days)``; a censored row every period.
    """
    d = np.asarray(next_days, dtype=float)
    K = n_periods(horizon_days, period_days)
    if np.any((d < 1) | (d > horizon_days)):
        raise DataError(f"next order: days to the next order must lie in 1..{horizon_days} (or be missing).")
    ordered = ~np.isnan(d)
    last = np.full(len(d), K, dtype=int)
    last[ordered] = np.ceil(d[ordered] / period_days).astype(int)
    row = np.repeat(np.arange(len(d)), last)
    period = np.arange(len(row)) - np.repeat(np.cumsum(last) - last, last) + 1
    event = (ordered[row] & (period == last[row])).astype(int)
    return pd.DataFrame({"row": row, "period": period, "event": event})


def _visits(transactions: pd.DataFrame) -> pd.DataFrame:
    day = pd.to_datetime(transactions["date"]).dt.normalize()
    out = pd.DataFrame({"customer_id": transactions["customer_id"].astype(str).to_numpy(), "day": day.to_numpy()})
    return out.drop_duplicates().sort_values(["customer_id", "day"], kind="stable")


def order_gaps(transactions: pd.DataFrame, customers: pd.Index, cutoff, visits: pd.DataFrame | None = None
               ) -> pd.DataFrame:
    """:data:`GAP_COLUMNS` of each customer from purchase days before ``cutoff``: ``visits`` (distinct days),
    ``last_gap_days`` (days between the last two; NaN with one) and ``gap_due_days`` (the rule "the last gap
    repeats": days from ``cutoff - 1`` to last day + last gap, may be <= 0 when overdue; NaN with one day)."""
    cutoff = pd.Timestamp(cutoff).normalize()
    v = _visits(transactions) if visits is None else visits
    v = v.loc[v["day"] < cutoff]
    g = v.groupby("customer_id", sort=False)["day"]
    last_two = v.groupby("customer_id", sort=False).tail(2).groupby("customer_id", sort=False)["day"]
    last, gap = last_two.max(), (last_two.max() - last_two.min()).dt.days.astype(float)
    gap = gap.where(gap > 0)
    due = gap + (last - (cutoff - pd.Timedelta(days=1))).dt.days.astype(float)
    out = pd.DataFrame({"visits": g.size().astype(float), "last_gap_days": gap, "gap_due_days": due})
    return out.reindex(customers.astype(str)).set_axis(customers)


def next_order_features(slices, cutoff) -> pd.DataFrame:
    """The slice at ``cutoff``'s features with :data:`GAP_COLUMNS` (what :meth:`NextOrderForecast.predict` reads)."""
    X = slices.at(cutoff).X
    return X.join(order_gaps(slices.transactions, X.index, cutoff))


def _period_frame(X: pd.DataFrame, cols: list[str], rows: np.ndarray, period: np.ndarray,
                  period_days: int) -> pd.DataFrame:
    base = X[cols].to_numpy(dtype=float)[rows]
    out = pd.DataFrame(base, columns=cols)
    since = X["recency_days"].to_numpy(dtype=float)[rows] + period_days * (period - 1)
    out["period"] = period.astype(float)
    out["since_last"] = since
    with np.errstate(divide="ignore", invalid="ignore"):
        out["since_over_mean_gap"] = since / X["mean_days_between"].to_numpy(dtype=float)[rows]
        out["since_over_last_gap"] = since / X["last_gap_days"].to_numpy(dtype=float)[rows]
    return out.replace([np.inf, -np.inf], np.nan)


def _hazard_features(X: pd.DataFrame) -> list[str]:
    missing = [c for c in ("recency_days", "mean_days_between", *GAP_COLUMNS) if c not in X.columns]
    if missing:
        raise DataError(f"next order: the feature table lacks {missing}; build it with "
                        "pipeline.predict.next_order.next_order_features(slices, cutoff).")
    return [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]


@dataclass
class NextOrderForecast:
    """A fitted weekly hazard model (see the module docstring). ``beta`` is the conformal level of the interval:
    ``[Q(beta), Q(1 - beta)]`` of the conditional distribution of the next order's day."""

    model: object
    columns: list[str]
    horizon_days: int
    config: NextOrderConfig
    beta: float
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Every field but the fitted ``model``, JSON-safe (rebuild with :meth:`from_dict`)."""
        from dataclasses import asdict

        from pipeline.exports import to_jsonable

        return to_jsonable({"columns": list(self.columns), "horizon_days": int(self.horizon_days),
                            "config": asdict(self.config), "beta": float(self.beta), "info": self.info})

    @classmethod
    def from_dict(cls, d: dict, model: object) -> NextOrderForecast:
        """The forecast of :meth:`to_dict` with its fitted ``model``."""
        return cls(model, list(d["columns"]), int(d["horizon_days"]), NextOrderConfig(**d["config"]),
                   float(d["beta"]), dict(d.get("info", {})))

    @property
    def bounds(self) -> np.ndarray:
        """Day boundaries of the periods: ``0, 7, 14, ..., H``."""
        p, K = self.config.period_days, n_periods(self.horizon_days, self.config.period_days)
        return np.minimum(np.arange(K + 1) * p, self.horizon_days).astype(float)

    def hazards(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, K)`` probabilities of a first order in each period given none before."""
        _hazard_features(X)
        K = n_periods(self.horizon_days, self.config.period_days)
        rows = np.repeat(np.arange(len(X)), K)
        period = np.tile(np.arange(1, K + 1), len(X))
        F = _period_frame(X, self.columns, rows, period, self.config.period_days)
        with threadpool_limits(self.config.threads):
            h = self.model.predict_proba(F)[:, 1]
        return h.reshape(len(X), K)

    def conditional_cdf(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(p_order, G)``: the chance of an order within H and, per row, the CDF of its day given an order,
        at :attr:`bounds` (``G[:, 0] = 0``, ``G[:, -1] = 1``)."""
        h = np.clip(self.hazards(X), 1e-9, 1 - 1e-9)
        F = 1.0 - np.cumprod(1.0 - h, axis=1)
        p = F[:, -1]
        G = np.hstack([np.zeros((len(X), 1)), F / p[:, None]])
        return p, G

    def _quantile(self, G: np.ndarray, q: float) -> np.ndarray:
        """The day (1..H) holding level ``q`` of each row's conditional distribution (linear inside a period)."""
        b = self.bounds
        k = np.clip((G < q).sum(axis=1), 1, G.shape[1] - 1)      # G[k-1] < q <= G[k]
        i = np.arange(len(G))
        lo, hi = G[i, k - 1], G[i, k]
        t = b[k - 1] + np.where(hi > lo, (q - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0) * (b[k] - b[k - 1])
        return np.clip(np.ceil(t - 1e-9), 1, self.horizon_days)

    def cdf_at(self, G: np.ndarray, days) -> np.ndarray:
        """Each row's conditional CDF at its own day count ``days`` (0..H; linear inside a period)."""
        b = self.bounds
        d = np.clip(np.asarray(days, dtype=float), 0.0, b[-1])
        k = np.clip(np.searchsorted(b, d, side="right"), 1, len(b) - 1)
        i = np.arange(len(G))
        w = (d - b[k - 1]) / (b[k] - b[k - 1])
        return G[i, k - 1] + w * (G[i, k] - G[i, k - 1])

    def predict(self, X: pd.DataFrame, as_of=None) -> pd.DataFrame:
        """Per row of ``X`` (:func:`next_order_features`): ``p_order`` (an order within H days), ``next_days``
        (median day of the next order given one within H, counted from the last observed day ``as_of - 1``),
        ``next_low``/``next_high`` (the conformal interval, days) and a ``description``. With ``as_of`` (the
        cutoff ``X`` was computed at) also ``next_date``, ``next_date_low``, ``next_date_high``."""
        p, G = self.conditional_cdf(X)
        out = pd.DataFrame({"p_order": p, "next_days": self._quantile(G, 0.5),
                            "next_low": self._quantile(G, self.beta),
                            "next_high": self._quantile(G, 1.0 - self.beta)}, index=X.index)
        out["next_low"] = np.minimum(out["next_low"], out["next_days"])
        out["next_high"] = np.maximum(out["next_high"], out["next_days"])
        level, H = round(100 * self.config.interval), self.horizon_days
        if as_of is None:
            when = [(f"about {m:.0f} days after the last day of the data", f"{lo:.0f} to {hi:.0f} days")
                    for m, lo, hi in out[["next_days", "next_low", "next_high"]].to_numpy()]
        else:
            last = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=1)
            for col, src in (("next_date", "next_days"), ("next_date_low", "next_low"),
                             ("next_date_high", "next_high")):
                out[col] = last + pd.to_timedelta(out[src], unit="D")
            when = [(f"around {m:%d %b %Y}", f"{lo:%d %b} to {hi:%d %b %Y}")
                    for m, lo, hi in out[["next_date", "next_date_low", "next_date_high"]].itertuples(index=False)]
        out["description"] = [f"{pp:.0%} chance of an order within {H} days; if they order again within {H} days, "
                              f"most likely {m} ({level}% interval: {r})" for pp, (m, r) in zip(p, when)]
        return out


def _sample(y: pd.DataFrame, share: float, seed: int) -> np.ndarray:
    """Rows kept: the same seeded random share of every slice's customers."""
    keep = np.ones(len(y), dtype=bool)
    if share >= 1.0:
        return keep
    for i, (_, pos) in enumerate(y.groupby("slice", sort=True).indices.items()):
        keep[pos] = np.random.default_rng([seed, i]).random(len(pos)) < share
    return keep


def _stacked(slices, cutoffs, visits) -> tuple[pd.DataFrame, pd.DataFrame]:
    Xs, ys = [], []
    for c in cutoffs:
        s = slices.at(c)
        if s.y is None:
            continue
        Xs.append(s.X.join(order_gaps(slices.transactions, s.X.index, c, visits)))
        ys.append(s.y.assign(slice=s.cutoff))
    if not Xs:
        raise DataError("next order: no labelled slice before this cutoff; the data are too short.")
    return pd.concat(Xs), pd.concat(ys)


def _split(slices, cuts, visits, config: NextOrderConfig):
    """``(X, y, Xv, yv, note)``: the training rows (older slices) and the validation slice (the newest); with one
    past slice only, a seeded ``single_slice_valid`` share of its customers validates instead (not later in time:
    said in the note)."""
    if len(cuts) >= 2:
        return (*_stacked(slices, cuts[1:], visits), *_stacked(slices, cuts[:1], visits), "")
    X, y = _stacked(slices, cuts, visits)
    valid = np.random.default_rng(config.random_state).random(len(X)) < config.single_slice_valid
    note = (f"One past cutoff only: {config.single_slice_valid:.0%} of its customers (seeded) checked the model "
            "instead of a later period, so the interval's coverage over time is less certain.")
    return X.loc[~valid], y.loc[~valid], X.loc[valid], y.loc[valid], note


def fit_next_order(slices, cutoff, config: NextOrderConfig = NextOrderConfig()) -> NextOrderForecast:
    """Fit the weekly hazard model for use at ``cutoff`` from ``slices.training_cutoffs(cutoff)`` (see the module
    docstring): older slices train, the newest early-stops (half its customers) and calibrates the interval (the
    other half). Raises :class:`DataError` when no labelled slice precedes ``cutoff`` or it holds no reorder."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    cuts = slices.training_cutoffs(cutoff)
    if not cuts:
        raise DataError("next order: no past cutoff to learn from; the data are too short for this horizon.")
    H, p = slices.horizon_days, config.period_days
    visits = _visits(slices.transactions)
    X, y, Xv, yv, note = _split(slices, cuts, visits, config)
    cols = _hazard_features(X)
    share = min(1.0, config.max_rows / max(1.0, float(person_periods(y["next_days"], H, p).shape[0])))
    keep = _sample(y, share, config.random_state)
    X, y = X.loc[keep], y.loc[keep]
    pp = person_periods(y["next_days"], H, p)
    F = _period_frame(X, cols, pp["row"].to_numpy(), pp["period"].to_numpy(), p)
    half = np.random.default_rng(config.random_state).random(len(Xv)) < 0.5     # early stopping | calibration
    ppv = person_periods(yv["next_days"].to_numpy()[half], H, p)
    Fv = _period_frame(Xv.loc[half], cols, ppv["row"].to_numpy(), ppv["period"].to_numpy(), p)
    if pp["event"].nunique() < 2 or ppv["event"].nunique() < 2:
        raise DataError("next order: the past cutoffs hold no reorder (or only reorders); too little data.")
    model = HistGradientBoostingClassifier(
        learning_rate=config.learning_rate, max_iter=config.max_iter, max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf, l2_regularization=config.l2_regularization,
        early_stopping=True, n_iter_no_change=config.early_stopping_rounds, scoring="loss",
        random_state=config.random_state)
    with threadpool_limits(config.threads):
        model.fit(F, pp["event"].to_numpy(), X_val=Fv, y_val=ppv["event"].to_numpy())
    forecast = NextOrderForecast(model, cols, H, config, beta=0.5 - config.interval / 2)
    forecast.beta = _conformal_beta(forecast, Xv.loc[~half], yv.loc[~half, "next_days"], config.interval)
    forecast.info = {"cutoff": str(pd.Timestamp(cutoff).date()),
                     "training_slices": [str(c.date()) for c in cuts[1:]] or [str(cuts[0].date())],
                     "validation_slice": str(cuts[0].date()), "person_periods": len(F), "sample_share": share,
                     "iterations": int(model.n_iter_), "periods": n_periods(H, p),
                     "calibration_reorderers": int(yv.loc[~half, "next_days"].notna().sum()), "note": note}
    return forecast


def next_order_forecast(slices, cutoff, config: NextOrderConfig = NextOrderConfig()) -> NextOrderForecast:
    """:func:`fit_next_order`, fitted once per (cutoff, config) for these slices when they keep fitted models
    (``SliceSet.memo``), so the grading and the card share one fit."""
    c = pd.Timestamp(cutoff).normalize()
    memo = getattr(slices, "memo", None)
    if memo is None:
        return fit_next_order(slices, c, config)
    return memo(("next_order", c, config), lambda: fit_next_order(slices, c, config))


def _conformal_beta(forecast: NextOrderForecast, X: pd.DataFrame, next_days: pd.Series, level: float) -> float:
    """The largest level ``beta`` whose interval ``[Q(beta), Q(1 - beta)]`` holds the actual day of ``level`` of
    the calibration customers who ordered (finite-sample split-conformal quantile); the nominal one when fewer
    than 20 ordered."""
    ordered = next_days.notna().to_numpy()
    if ordered.sum() < 20:
        return 0.5 - level / 2
    _, G = forecast.conditional_cdf(X.loc[ordered])
    d = next_days.to_numpy(dtype=float)[ordered]
    r = np.minimum(forecast.cdf_at(G, d), 1.0 - forecast.cdf_at(G, d - 1))      # covered iff beta <= r
    n = len(r)
    k = int(np.floor((n + 1) * (1 - level)))                                      # k-th smallest r (k >= 1)
    return float(np.clip(np.sort(r)[k - 1] if k >= 1 else 0.0, 0.0, 0.5))


def next_order_rows(slices, test_cutoff, cfg: ValueConfig = ValueConfig(),
                    config: NextOrderConfig = NextOrderConfig()) -> list[dict]:
    """Rows for :mod:`pipeline.value`'s table, graded on the customers with two purchase days or more who ordered
    again within H (the set of ``next_order_last_gap``):

    * ``next_order_hazard``: the median day's MAE and median absolute error, the interval's ``coverage`` (share of
      actual days inside) and mean ``width``, in days;
    * ``next_order_typical`` (a second baseline): every customer gets the median day of the validation slice's
      reorderers. The graded customers all ordered within H, which "the last gap repeats" does not know and the
      hazard's median (given an order within H) does: this row shows how much of the gain is personal;
    * ``p_order_hazard``: ROC AUC of ``p_order`` for "buys again" (target ``p_alive``), on every customer.
    """
    from sklearn.metrics import roc_auc_score

    test = pd.Timestamp(test_cutoff).normalize()
    forecast = next_order_forecast(slices, test, config)
    X = next_order_features(slices, test)
    pred = forecast.predict(X)
    tx, h = slices.transactions, slices.horizon_days
    actual = next_order_days(tx, X.index, test, h)
    graded = (actual.notna() & last_gap_days(tx, X.index, test).notna()).to_numpy()
    a, P, n = actual.to_numpy(float)[graded], pred.loc[graded], int(graded.sum())
    valid = slices.at(slices.training_cutoffs(test)[0]).y["next_days"]
    typical = float(valid.median()) if valid.notna().any() else float(h) / 2
    again = actual.notna().to_numpy().astype(int)
    rows = []
    for key, model, p in (("next_order_hazard", "Weekly hazard (gradient boosting): median day given an order",
                           P["next_days"].to_numpy()),
                          ("next_order_typical", f"Typical days to a reorder, {typical:.0f} for everyone (baseline)",
                           np.full(n, typical))):
        err = np.abs(a - p)
        extra = {"coverage": float(np.mean((P["next_low"].to_numpy() <= a) & (a <= P["next_high"].to_numpy()))),
                 "width": float((P["next_high"] - P["next_low"]).mean())} if key == "next_order_hazard" else {}
        rows.append(graded_row(key, "next_order", model, "model" if key == "next_order_hazard" else "BASELINE", n,
                         **({"mae": float(err.mean()), "median_ae": float(np.median(err)), **extra} if n else {})))
    auc = float(roc_auc_score(again, pred["p_order"])) if 0 < again.sum() < len(again) else float("nan")
    rows.append(graded_row("p_order_hazard", "p_alive", "Weekly hazard: chance of an order within H", "model",
                     len(again), roc_auc=auc))
    return rows
