"""Campaign results: what treated customers bought after the send date against the control group.

Per customer, purchases dated in ``[send date, send date + window)`` give ``converted`` (bought at all) and
``revenue``. For each group: customers, buyers, conversion rate, revenue per customer. The treated - control
difference comes with a two-sided interval at ``confidence`` (default 95%):

* conversion: Newcombe's hybrid score interval (Wilson interval of each rate, combined; Newcombe 1998, method 10),
  which keeps its coverage for small groups and rates near 0 or 1, where the Wald interval does not;
* revenue per customer: Welch's t interval (unequal variances, Welch-Satterthwaite degrees of freedom).

Because the control group is drawn at random per customer (:mod:`pipeline.campaign.control`), the difference
estimates what the campaign caused. Incremental revenue = difference per customer x treated customers; the cost is
the list's expected coupon cost (actual redemptions are not in the transactions); net = margin x incremental
revenue - cost.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.config import CampaignConfig
from pipeline.coupons import CouponPolicyConfig
from pipeline.errors import DataError
from pipeline.features import require_transactions
from pipeline.log import logged

__all__ = ["CampaignResults", "campaign_results", "wilson_interval", "newcombe_interval", "welch_interval",
           "read_campaign_list"]

_CONF = CampaignConfig()


def wilson_interval(k: int, n: int, confidence: float = _CONF.confidence) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int,
                      confidence: float = _CONF.confidence) -> tuple[float, float, float]:
    """Difference p1 - p2 and Newcombe's hybrid score interval (from the two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return d, d - float(np.hypot(p1 - l1, u2 - p2)), d + float(np.hypot(u1 - p1, p2 - l2))


def welch_interval(x1: np.ndarray, x2: np.ndarray,
                   confidence: float = _CONF.confidence) -> tuple[float, float, float]:
    """Difference of means mean(x1) - mean(x2) and Welch's t interval (each sample needs 2+ values)."""
    x1, x2 = np.asarray(x1, float), np.asarray(x2, float)
    v1, v2 = x1.var(ddof=1) / len(x1), x2.var(ddof=1) / len(x2)
    d = float(x1.mean() - x2.mean())
    se = float(np.sqrt(v1 + v2))
    if se == 0:
        return d, d, d
    df = (v1 + v2) ** 2 / (v1 ** 2 / (len(x1) - 1) + v2 ** 2 / (len(x2) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return d, d - half, d + half


@dataclass(frozen=True)
class CampaignResults:
    """Treated vs control after the send date (see the module docstring for the methods)."""

    campaign_id: str
    send_date: pd.Timestamp
    window_end: pd.Timestamp                   # exclusive
    groups: pd.DataFrame                       # group, customers, buyers, conversion_rate, revenue, revenue_per_customer
    effects: pd.DataFrame                      # metric, treated, control, difference, ci_low, ci_high, method
    expected_cost: float | None                # the list's expected coupon cost (treated)
    incremental_revenue: float                 # revenue difference per customer x treated customers
    net: float | None                          # margin x incremental revenue - expected cost
    confidence: float
    summary: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"campaign_id": self.campaign_id, "send_date": str(self.send_date.date()),
                "window_end": str(self.window_end.date()), "confidence": self.confidence,
                "groups": self.groups.to_dict(orient="records"), "effects": self.effects.to_dict(orient="records"),
                "expected_cost": self.expected_cost, "incremental_revenue": self.incremental_revenue,
                "net": self.net, "summary": self.summary, "notes": self.notes}


def _send_date(campaign: pd.DataFrame, send_date) -> pd.Timestamp:
    if send_date is None:
        given = campaign["send_date"].dropna().astype(str).str.strip() if "send_date" in campaign else pd.Series()
        given = given[given != ""].unique()
        if len(given) != 1:
            raise DataError("campaign results: the list has no single send date; give the date the campaign was "
                            "sent (YYYY-MM-DD).")
        send_date = given[0]
    try:
        return pd.Timestamp(send_date).normalize()
    except (TypeError, ValueError) as e:
        raise DataError(f"campaign results: send date {send_date!r} is not a date; use YYYY-MM-DD.") from e


def _groups(campaign: pd.DataFrame) -> pd.Series:
    """Group per customer id ('treated' / 'control'); DataError unless both groups have 2+ customers."""
    missing = [c for c in ("customer_id", "group") if c not in campaign]
    if missing:
        raise DataError(f"campaign results: the list lacks column(s) {missing}; use a list exported by the "
                        "Campaigns page or 'python -m pipeline campaign'.")
    group = campaign.drop_duplicates("customer_id").set_index(campaign["customer_id"].drop_duplicates()
                                                              .astype(str))["group"].astype(str).str.strip()
    bad = sorted(set(group) - {"treated", "control"})
    if bad:
        raise DataError(f"campaign results: column 'group' must be treated or control, not {bad[:3]}.")
    counts = group.value_counts()
    if counts.get("treated", 0) < 2 or counts.get("control", 0) < 2:
        raise DataError(f"campaign results: need at least 2 customers in each group (treated "
                        f"{counts.get('treated', 0)}, control {counts.get('control', 0)}); build the campaign with "
                        "a control share above 0.")
    return group


def _window(transactions: pd.DataFrame, send: pd.Timestamp, window_days: int) -> tuple[pd.DataFrame, pd.Timestamp,
                                                                                     list[str]]:
    require_transactions(transactions, "campaign results", ("customer_id", "date", "amount"))
    dates = pd.to_datetime(transactions["date"])
    last = dates.max()
    if last < send:
        raise DataError(f"campaign results: the transactions end on {last.date()}, before the send date "
                        f"{send.date()}; upload the purchases made after the campaign was sent.")
    end = send + pd.Timedelta(days=int(window_days))
    notes = []
    if last.normalize() + pd.Timedelta(days=1) < end:
        covered = (last.normalize() + pd.Timedelta(days=1) - send).days
        notes.append(f"The transactions end on {last.date()}: only {covered} of the {window_days} days after the "
                     "send date are covered.")
    return transactions.loc[(dates >= send) & (dates < end)], end, notes



def _per_customer(group: pd.Series, window: pd.DataFrame) -> pd.DataFrame:
    """converted, revenue per listed customer (customers without purchases in the window: 0)."""
    ids = window["customer_id"].astype(str)
    revenue = pd.to_numeric(window["amount"], errors="coerce").fillna(0.0).groupby(ids).sum()
    out = pd.DataFrame({"group": group})
    out["revenue"] = revenue.reindex(out.index).fillna(0.0).to_numpy(float)
    out["converted"] = out.index.isin(ids.unique())
    return out


def _effects(per: pd.DataFrame, confidence: float) -> pd.DataFrame:
    t, c = per[per["group"] == "treated"], per[per["group"] == "control"]
    conv = newcombe_interval(int(t["converted"].sum()), len(t), int(c["converted"].sum()), len(c), confidence)
    rev = welch_interval(t["revenue"].to_numpy(), c["revenue"].to_numpy(), confidence)
    return pd.DataFrame([
        {"metric": "conversion_rate", "treated": t["converted"].mean(), "control": c["converted"].mean(),
         "difference": conv[0], "ci_low": conv[1], "ci_high": conv[2],
         "method": "Newcombe hybrid score interval (from Wilson intervals)"},
        {"metric": "revenue_per_customer", "treated": t["revenue"].mean(), "control": c["revenue"].mean(),
         "difference": rev[0], "ci_low": rev[1], "ci_high": rev[2],
         "method": "Welch t interval (unequal variances)"}])


def _sentence(effects: pd.DataFrame, confidence: float, currency: str) -> str:
    conv, rev = effects.iloc[0], effects.iloc[1]
    cur = f"{currency} " if currency else ""

    def verdict(row) -> str:
        if row["ci_low"] > 0:
            return "higher than the control group's, and the interval excludes no effect"
        if row["ci_high"] < 0:
            return "lower than the control group's, and the interval excludes no effect"
        return "not clearly different from the control group's (the interval includes no effect)"

    level = f"{confidence:.0%}"
    return (f"Treated customers bought at a rate of {conv['treated']:.1%} against {conv['control']:.1%} in the "
            f"control group ({conv['difference'] * 100:+.1f} points, {level} interval {conv['ci_low'] * 100:+.1f} to "
            f"{conv['ci_high'] * 100:+.1f}): {verdict(conv)}. Revenue per customer {cur}{rev['treated']:,.2f} against "
            f"{cur}{rev['control']:,.2f} ({rev['difference']:+,.2f}, {level} interval {rev['ci_low']:+,.2f} to "
            f"{rev['ci_high']:+,.2f}): {verdict(rev)}.")


@logged("campaign_results")
def campaign_results(campaign: pd.DataFrame, transactions: pd.DataFrame, send_date=None,
                     window_days: int = _CONF.results_window_days, margin: float = CouponPolicyConfig().margin,
                     confidence: float = _CONF.confidence, currency: str = "") -> CampaignResults:
    """Treated vs control conversion and revenue per customer in ``[send_date, send_date + window_days)``.

    ``campaign`` is a list from :func:`pipeline.campaign.campaign_list` (``customer_id, group``; optional
    ``expected_cost``, ``campaign_id``, ``send_date``, which is used when ``send_date`` is None);
    ``transactions`` the cleaned purchases (a later upload, or the same dataset for a send date in the past).
    """
    if int(window_days) < 1:
        raise DataError(f"campaign results: the window must be at least 1 day, not {window_days}.")
    send = _send_date(campaign, send_date)
    group = _groups(campaign)
    window, end, notes = _window(transactions, send, int(window_days))
    per = _per_customer(group, window)
    g = per.groupby("group")
    groups = pd.DataFrame({"customers": g.size(), "buyers": g["converted"].sum().astype(int),
                           "conversion_rate": g["converted"].mean(), "revenue": g["revenue"].sum().round(2),
                           "revenue_per_customer": g["revenue"].mean()}).reindex(["treated", "control"])
    effects = _effects(per, confidence)
    treated = campaign[campaign["group"].astype(str).str.strip() == "treated"]
    cost = pd.to_numeric(treated.get("expected_cost", pd.Series(dtype=float)), errors="coerce").sum(min_count=1)
    cost = None if pd.isna(cost) else round(float(cost), 2)
    incremental = round(float(effects.at[1, "difference"]) * int(groups.at["treated", "customers"]), 2)
    net = None if cost is None else round(margin * incremental - cost, 2)
    if not window["customer_id"].astype(str).isin(group.index).any():
        notes.append("None of the listed customers bought in the window: check that the transactions use the same "
                     "customer ids as the list.")
    cid = str(campaign["campaign_id"].iloc[0]) if "campaign_id" in campaign and len(campaign) else ""
    return CampaignResults(cid, send, end, groups.rename_axis("group").reset_index(), effects, cost, incremental, net,
                           confidence, _sentence(effects, confidence, currency), notes)


def read_campaign_list(source: str | Path | bytes, name: str = "") -> pd.DataFrame:
    """A campaign list exported as CSV or Excel, read back as text ids (formula escapes undone)."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    name = name or str(source)
    text = {"customer_id": str, "group": str, "coupon_code": str, "campaign_id": str, "send_date": str}
    try:
        if name.lower().endswith((".xlsx", ".xls")):
            df = pd.read_excel(io.BytesIO(data), dtype=text, engine="calamine")
        else:
            df = pd.read_csv(io.BytesIO(data), dtype=text, encoding="utf-8-sig", keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"campaign list {Path(name).name!r} could not be read ({str(e).splitlines()[0]}); use the "
                        "CSV or Excel file the campaign export wrote.") from e
    for col in ("customer_id", "coupon_code", "campaign_id"):
        if col in df:        # undo pipeline.exports' formula escape: "'=x" was "=x"
            df[col] = df[col].fillna("").str.replace(r"^'(?=[=+\-@\t\r])", "", regex=True)
    return df
