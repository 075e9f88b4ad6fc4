"""Campaign results: what treated customers bought after the send date against the control group.

Per customer, purchases dated in ``[send date, send date + window)`` give ``converted`` (bought at all) and
``revenue``. For each group: customers, buyers, conversion rate, revenue per customer. The treated - control
difference comes with a two-sided interval at ``confidence`` (default 95%):

* conversion: Newcombe's hybrid score interval (Wilson interval of each rate, combined; Newcombe 1998, method 10),
  which keeps its coverage for small groups and rates near 0 or 1, where the Wald interval does not;
* revenue per customer: Welch's t interval (unequal variances, Welch-Satterthwaite degrees of freedom).

Because the control group is drawn at random per customer (:mod:`pipeline.campaign.control`), the difference
estimates what the campaign caused; the list's customers must have been chosen from purchases before the send date
(its ``audience_as_of``, see :mod:`pipeline.campaign.asof`), or what they bought after it would have chosen them.
Incremental revenue = difference per customer x treated customers; the cost counts redeemed coupons only
(:func:`redeemed_coupons`: a redemption record, else each holder's first qualifying order in the window), the
expected cost of the issued coupons is reported apart; net = margin x incremental revenue - cost. When the data
cover fewer days after the send date than the window, or a group is too small, the result is ``too_short``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.campaign.asof import send_day
from pipeline.config import CampaignConfig
from pipeline.coupons import CouponPolicyConfig
from pipeline.currency import currency as currency_of
from pipeline.currency import format_money
from pipeline.errors import DataError
from pipeline.features import require_transactions
from pipeline.log import logged

__all__ = ["CampaignResults", "campaign_results", "redeemed_coupons", "wilson_interval", "newcombe_interval",
           "welch_interval", "read_campaign_list", "MIN_GROUP"]

_CONF = CampaignConfig()
#: Fewest customers in each group (treated, control) for a measured result.
MIN_GROUP = 10


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
    """Treated vs control after the send date (see the module docstring for the methods).

    ``status`` is ``"measured"``, or ``"too_short"`` when the follow-up cannot support a result (the data cover
    fewer days after the send date than the window, or a group has too few customers): then ``groups`` and
    ``effects`` are empty, the money figures None and ``summary`` says why and what to do.
    """

    campaign_id: str
    send_date: pd.Timestamp
    window_end: pd.Timestamp                   # exclusive
    status: str                                # "measured" or "too_short"
    groups: pd.DataFrame                       # group, customers, buyers, conversion_rate, revenue, revenue_per_customer
    effects: pd.DataFrame                      # metric, treated, control, difference, ci_low, ci_high, method
    coupons_issued: int                        # treated customers given a coupon code
    issued_expected_cost: float | None         # what the list expected the issued coupons to cost (not a cost)
    redeemed: int | None                       # coupons redeemed in the window
    cost: float | None                         # cost of the redeemed coupons only
    redemption_source: str                     # "record" (a redemption list) or "purchases" (inferred)
    incremental_revenue: float | None          # revenue difference per customer x treated customers
    net: float | None                          # margin x incremental revenue - cost of redeemed coupons
    confidence: float
    summary: str
    currency: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.status == "measured"

    def to_dict(self) -> dict:
        return {"campaign_id": self.campaign_id, "send_date": str(self.send_date.date()),
                "window_end": str(self.window_end.date()), "status": self.status, "confidence": self.confidence,
                "groups": self.groups.to_dict(orient="records"), "effects": self.effects.to_dict(orient="records"),
                "coupons_issued": self.coupons_issued, "issued_expected_cost": self.issued_expected_cost,
                "redeemed": self.redeemed, "cost": self.cost, "redemption_source": self.redemption_source,
                "incremental_revenue": self.incremental_revenue, "net": self.net, "currency": self.currency,
                "summary": self.summary, "notes": self.notes}


def _send_date(campaign: pd.DataFrame, send_date) -> pd.Timestamp:
    if send_date is None:
        given = campaign["send_date"].dropna().astype(str).str.strip() if "send_date" in campaign else pd.Series()
        given = given[given != ""].unique()
        if len(given) != 1:
            raise DataError("campaign results: the list has no single send date; give the date the campaign was "
                            "sent (YYYY-MM-DD).")
        send_date = given[0]
    return send_day(send_date, "campaign results")


def _audience_notes(campaign: pd.DataFrame, send: pd.Timestamp) -> list[str]:
    """DataError when the list's audience was computed from purchases after the send date (its customers were
    then chosen by the outcome being measured); a note when the list does not say."""
    given = campaign["audience_as_of"].dropna().astype(str).str.strip() if "audience_as_of" in campaign else None
    given = given[given != ""] if given is not None else None
    if given is None or given.empty:
        return ["This list does not record the day its audience was computed as of (lists built before audiences "
                "were taken as of the send date used the end of the data): if its segments or churn bands came "
                "from purchases after the send date, rebuild it."]
    as_of = pd.to_datetime(given, errors="coerce").max()
    if pd.notna(as_of) and as_of.normalize() > send:
        raise DataError(f"campaign results: this list's customers were chosen from purchases up to "
                        f"{(as_of.normalize() - pd.Timedelta(days=1)).date()}, after the send date {send.date()}, "
                        "so what they bought after it decided who is in the list and the result would be biased; "
                        "build the campaign again (its audience is then taken as of the send date).")
    return []


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


def _follow_up(transactions: pd.DataFrame, send: pd.Timestamp, window_days: int
               ) -> tuple[pd.DataFrame, pd.Timestamp, int]:
    """The lines dated in ``[send, send + window_days)``, the window's end and the days of it the data cover."""
    require_transactions(transactions, "campaign results", ("customer_id", "date", "amount"))
    dates = pd.to_datetime(transactions["date"])
    last = dates.max()
    if pd.isna(last) or last < send:
        raise DataError(f"campaign results: the transactions end on {last.date() if pd.notna(last) else '?'}, "
                        f"before the send date {send.date()}; upload the purchases made after the campaign was sent.")
    end = send + pd.Timedelta(days=int(window_days))
    covered = min(window_days, (last.normalize() + pd.Timedelta(days=1) - send).days)
    return transactions.loc[(dates >= send) & (dates < end)], end, covered


def _too_short(group: pd.Series, send: pd.Timestamp, end: pd.Timestamp, window_days: int, covered: int,
               min_group: int) -> str | None:
    """Why the follow-up cannot support a result, or None."""
    if covered < window_days:
        return (f"Too short to measure: the data cover only {covered} of the {window_days} days after the send date "
                f"{send.date()} (up to {(send + pd.Timedelta(days=covered - 1)).date()}). Measure again once "
                f"purchases up to {(end - pd.Timedelta(days=1)).date()} are loaded, or count at most {covered} "
                "days" + (" (a result over so few days says little)." if covered < 7 else "."))
    counts = group.value_counts()
    small = {g: int(counts.get(g, 0)) for g in ("treated", "control") if counts.get(g, 0) < min_group}
    if small:
        shown = ", ".join(f"{g} {n:,}" for g, n in small.items())
        return (f"Too few customers to measure: {shown} (at least {min_group:,} in each group are needed for a "
                "comparison that says anything); build the campaign for a larger audience or a larger control group.")
    return None


def _per_customer(group: pd.Series, window: pd.DataFrame) -> pd.DataFrame:
    """converted, revenue per listed customer (customers without purchases in the window: 0)."""
    ids = window["customer_id"].astype(str)
    revenue = pd.to_numeric(window["amount"], errors="coerce").fillna(0.0).groupby(ids).sum()
    out = pd.DataFrame({"group": group})
    out["revenue"] = revenue.reindex(out.index).fillna(0.0).to_numpy(float)
    out["converted"] = out.index.isin(ids.unique())
    return out


def _orders(window: pd.DataFrame) -> pd.DataFrame:
    """Orders in the window: customer_id, invoice_id, date (first line), value; in date order."""
    w = window.assign(customer_id=window["customer_id"].astype(str),
                      invoice_id=window["invoice_id"].astype(str) if "invoice_id" in window else
                      window["date"].astype(str), amount=pd.to_numeric(window["amount"], errors="coerce").fillna(0.0))
    orders = w.groupby(["customer_id", "invoice_id"], sort=False).agg(date=("date", "min"), value=("amount", "sum"))
    return orders.reset_index().sort_values(["date", "invoice_id"], kind="stable")


def redeemed_coupons(campaign: pd.DataFrame, window: pd.DataFrame, catalogue=None,
                     redemptions: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str, list[str]]:
    """The coupons of a list redeemed in the follow-up window, each with the order it was used on and its cost.

    With ``redemptions`` (a record of redeemed codes: ``coupon_code``, optional ``order_value``) exactly those
    codes of the list's treated customers. Without it, a coupon counts as redeemed on its holder's first order in
    ``window`` whose value reaches the coupon's minimum spend (the transactions carry no coupon codes, so a holder
    who bought is taken to have used it: an upper bound). Cost of a redemption: the catalogue's cost (money, or a
    share of that order). Returns the table (``customer_id, coupon_id, coupon_code, order_value, cost``), the
    source (``"record"`` or ``"purchases"``) and notes.
    """
    from pipeline.coupons import prepare_catalogue

    arrays = prepare_catalogue(catalogue).arrays
    rules = pd.DataFrame({"min_spend": arrays["min_spend"], "cost_amount": arrays["cost_amount"],
                          "cost_frac": arrays["cost_frac"]}, index=pd.Index(arrays["id"], name="coupon_id"))
    code = campaign.get("coupon_code", pd.Series("", index=campaign.index)).fillna("").astype(str).str.strip()
    held = campaign[(campaign["group"].astype(str).str.strip() == "treated") & (code != "")]
    coupon = held["coupon_id"].astype(str) if "coupon_id" in held else pd.Series("", index=held.index)
    held = pd.DataFrame({"customer_id": held["customer_id"].astype(str), "coupon_id": coupon,
                         "coupon_code": code[held.index]})
    notes: list[str] = []
    unknown = sorted(set(held["coupon_id"]) - set(rules.index))
    if unknown:
        shown = ", ".join(u or "(none)" for u in unknown[:5])
        notes.append(f"Coupon(s) {shown} of the list are not in the coupon catalogue: their redemptions have no "
                     "known cost, so the cost counts the other redeemed coupons only.")
    held = held.join(rules, on="coupon_id").fillna({"min_spend": 0.0})         # unknown coupon: cost NaN
    orders = _orders(window)
    if redemptions is not None:
        if "coupon_code" not in redemptions:
            raise DataError("campaign results: the redemption record needs a column 'coupon_code' (and optionally "
                            "'order_value').")
        rec = redemptions.assign(coupon_code=redemptions["coupon_code"].astype(str).str.strip())
        out = held[held["coupon_code"].isin(set(rec["coupon_code"]))]
        value = rec.drop_duplicates("coupon_code").set_index("coupon_code").get("order_value")
        first = orders.drop_duplicates("customer_id").set_index("customer_id")["value"]
        given = pd.to_numeric(value.reindex(out["coupon_code"]), errors="coerce").to_numpy(float) \
            if value is not None else np.full(len(out), np.nan)
        out = out.assign(order_value=np.where(np.isnan(given), first.reindex(out["customer_id"]).fillna(0.0), given))
        source = "record"
    else:
        usable = orders.merge(held[["customer_id", "min_spend"]], on="customer_id")
        usable = usable[usable["value"] >= usable["min_spend"] - 1e-9].drop_duplicates("customer_id")
        out = held.merge(usable[["customer_id", "value"]].rename(columns={"value": "order_value"}), on="customer_id")
        source = "purchases"
    out = out.assign(cost=(out["cost_amount"] + out["cost_frac"] * out["order_value"]).round(2))
    return out[["customer_id", "coupon_id", "coupon_code", "order_value", "cost"]].reset_index(drop=True), source, notes


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


def _signed(x: float, currency: str) -> str:
    return ("+" if x >= 0 else "") + format_money(x, currency)


def _sentence(effects: pd.DataFrame, confidence: float, currency: str) -> str:
    conv, rev = effects.iloc[0], effects.iloc[1]

    def verdict(row) -> str:
        if row["ci_low"] > 0:
            return "higher than the control group's, and the interval excludes no effect"
        if row["ci_high"] < 0:
            return "lower than the control group's, and the interval excludes no effect"
        return "not clearly different from the control group's (the interval includes no effect)"

    level = f"{confidence:.0%}"
    return (f"Treated customers bought at a rate of {conv['treated']:.1%} against {conv['control']:.1%} in the "
            f"control group ({conv['difference'] * 100:+.1f} points, {level} interval {conv['ci_low'] * 100:+.1f} to "
            f"{conv['ci_high'] * 100:+.1f}): {verdict(conv)}. Revenue per customer "
            f"{format_money(rev['treated'], currency)} against {format_money(rev['control'], currency)} "
            f"({_signed(rev['difference'], currency)}, {level} interval {_signed(rev['ci_low'], currency)} to "
            f"{_signed(rev['ci_high'], currency)}): {verdict(rev)}.")


def _no_buyers_note(group: pd.Series, transactions: pd.DataFrame, window: pd.DataFrame) -> list[str]:
    """A note when no listed customer bought in the window: the ids are blamed only when none of them is in the
    transactions at all."""
    if window["customer_id"].astype(str).isin(group.index).any():
        return []
    if not transactions["customer_id"].astype(str).isin(group.index).any():
        return ["None of the listed customers is in these transactions at all: check that they use the same "
                "customer ids as the list."]
    return [f"None of the {len(group):,} listed customers bought in the window."]


@logged("campaign_results")
def campaign_results(campaign: pd.DataFrame, transactions: pd.DataFrame, send_date=None,
                     window_days: int = _CONF.results_window_days, margin: float = CouponPolicyConfig().margin,
                     confidence: float = _CONF.confidence, currency: str = "", catalogue=None,
                     redemptions: pd.DataFrame | None = None, min_group: int = MIN_GROUP) -> CampaignResults:
    """Treated vs control conversion and revenue per customer in ``[send_date, send_date + window_days)``.

    Parameters
    ----------
    campaign : a list from :func:`pipeline.campaign.campaign_list` (``customer_id, group``; optional
        ``coupon_id, coupon_code, expected_cost, campaign_id, send_date, audience_as_of``). Its ``send_date`` is
        used when ``send_date`` is None. DataError when its audience was computed after the send date.
    transactions : the cleaned purchases (a later upload, or the same dataset for a send date in the past).
    window_days : days counted from the send date; fewer covered by the data gives ``status="too_short"``.
    currency : ISO code of the money figures ("" when spend is counted in items), formatted by
        :func:`pipeline.currency.format_money`.
    catalogue, redemptions : the coupon catalogue (cost per redemption) and an optional record of redeemed codes
        (see :func:`redeemed_coupons`); the cost counts redeemed coupons only.
    min_group : fewest customers per group for a result (fewer: ``status="too_short"``).
    """
    if int(window_days) < 1:
        raise DataError(f"campaign results: the window must be at least 1 day, not {window_days}.")
    if currency:
        currency_of(currency)                                   # DataError naming the known codes
    send = _send_date(campaign, send_date)
    notes = _audience_notes(campaign, send)
    group = _groups(campaign)
    window, end, covered = _follow_up(transactions, send, int(window_days))
    cid = str(campaign["campaign_id"].iloc[0]) if "campaign_id" in campaign and len(campaign) else ""
    treated = campaign[campaign["group"].astype(str).str.strip() == "treated"]
    codes = treated.get("coupon_code", pd.Series("", index=treated.index)).fillna("").astype(str).str.strip()
    issued = int((codes != "").sum())
    expected = pd.to_numeric(treated.get("expected_cost", pd.Series(dtype=float)), errors="coerce").sum(min_count=1)
    expected = None if pd.isna(expected) else round(float(expected), 2)
    why = _too_short(group, send, end, int(window_days), covered, int(min_group))
    if why:
        empty = pd.DataFrame()
        return CampaignResults(cid, send, end, "too_short", empty, empty, issued, expected, None, None, "", None,
                               None, confidence, why, currency, notes)
    per = _per_customer(group, window)
    g = per.groupby("group")
    groups = pd.DataFrame({"customers": g.size(), "buyers": g["converted"].sum().astype(int),
                           "conversion_rate": g["converted"].mean(), "revenue": g["revenue"].sum().round(2),
                           "revenue_per_customer": g["revenue"].mean()}).reindex(["treated", "control"])
    effects = _effects(per, confidence)
    redeemed, source, more = redeemed_coupons(campaign, window, catalogue, redemptions)
    known = redeemed["cost"].sum(min_count=1) if len(redeemed) else 0.0
    cost = None if pd.isna(known) else round(float(known), 2)
    incremental = round(float(effects.at[1, "difference"]) * int(groups.at["treated", "customers"]), 2)
    net = None if cost is None else round(margin * incremental - cost, 2)
    notes += more + _no_buyers_note(group, transactions, window)
    return CampaignResults(cid, send, end, "measured", groups.rename_axis("group").reset_index(), effects, issued,
                           expected, len(redeemed), cost, source, incremental, net, confidence,
                           _sentence(effects, confidence, currency), currency, notes)


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
