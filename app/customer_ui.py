"""Streamlit drawing shared by the Customer and Campaigns pages: the scoring context (with its guard), the customer
card, the coupon boxes and the what-if inputs. Results come from ``pipeline.customer``; nothing is computed here.
Text from the data goes through :func:`app.ui.md` (escaped Markdown)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from app import keys, labels_ui, state, ui
from app.ui import md, money
from pipeline.labels import format_value, label
from pipeline.customer import CouponSetup
from pipeline.customer.clusters import cluster_label
from pipeline.models.explain import driver_note
from pipeline.errors import DataError
from pipeline.units import spend_exact

__all__ = ["scoring_context", "coupon_box", "learned_box", "card", "what_if_key", "what_if_values",
           "what_if_result", "erase_panel", "erase_receipt"]


def scoring_context() -> Any:
    """The current dataset's profile context with the workspace's coupon catalogue and this session's learned
    policy; draws the catalogue warning and the context's notes, and stops the page if it cannot be built."""
    catalogue, warning = state.coupon_catalogue()
    if warning:
        st.warning(warning, icon=":material/warning:")
    try:
        base = state.profile_context()
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    _, learned = state.active_learned()
    ctx = base.with_coupons(CouponSetup.load(catalogue, learned=learned.applied() if learned else None))
    for note in ctx.notes:
        st.info(note, icon=":material/info:")
    return ctx


def coupon_box(coupon: dict) -> None:
    """The expected-value coupon and its reason."""
    with st.container(border=True):
        ev = spend_exact(coupon["expected_value"], state.currency(), signed=True)   # as the reason writes it
        st.markdown(f"**Coupon: {md(coupon['coupon_name'])}** · expected value {md(ev)}")
        st.caption(md(coupon["reason"]))


def learned_box(rec: dict | None) -> None:
    """The learned policy's coupon (acceptance × value) and its reason, if there is one."""
    if rec:
        with st.container(border=True):
            st.markdown(f"**Learned policy: {md(rec['coupon'])}** · acceptance × value = "
                        f"{md(money(rec['expected_value']))}")
            st.caption(md(rec["reason"]))


_FACT_LABELS = {"churn_probability": "Churn risk", "p_alive": "Chance of buying again", "expected_orders": "Expected orders",
                "expected_spend": "Expected spend", "next_order_date": "Expected next order"}


def _shown(facts: dict, name: str, text: str) -> str:
    """``text``, or "not shown" when the prediction does not beat its baseline on this dataset (see the caption)."""
    return "not shown" if facts.get(name, {}).get("status") == "hidden" else text


def spend_text(v: dict) -> str:
    """Expected spend, with its 80% range when the spend forecast gives one ("£755 (80%: £78–£1,432)")."""
    text = money(v["expected_spend"])
    if v.get("spend_high") is not None and v.get("spend_low") is not None:
        text += f" (80%: {money(v['spend_low'])}–{money(v['spend_high'])})"
    return text


def _next_label(v: dict) -> str:
    return {"rule": "Usual gap between orders", "hazard": f"Next order, if within {v.get('horizon_days', 90)} d"}.get(
        v.get("next_source"), "Expected next order")


def next_order_text(v: dict) -> str:
    """The next order as the card's facts chose it: the hazard's date with its 80% range, the rule itself
    ("usually every 36 days"), or BG/NBD's date."""
    nxt = v.get("next_order_date")
    if v.get("next_source") == "rule":
        gap = v.get("usual_gap_days")
        return "no gap yet (one purchase day)" if gap is None else f"usually every {gap:,.0f} days"
    if nxt is None or pd.isna(nxt):
        return "none expected"
    text = str(pd.Timestamp(nxt).date())
    lo, hi = v.get("next_order_low"), v.get("next_order_high")
    if lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
        text += f" (80%: {pd.Timestamp(lo):%d %b}–{pd.Timestamp(hi):%d %b %Y})"
    return text


def _fact_captions(facts: dict) -> None:
    """One plain line for each prediction shown with a caveat or not shown (``pipeline.customer.facts``)."""
    for name, fact in facts.items():
        if fact["status"] != "shown":
            st.caption(f"**{_FACT_LABELS.get(name, name)}**: {md(fact['note'])}")


def _transaction_metrics(p) -> None:
    s, v, h, f = p.scores, p.value, p.habits, p.facts
    ui.metrics_row({"Segment": p.segment,
                    "Churn risk": _shown(f, "churn_probability", f"{p.churn_probability:.0%} · {p.risk_band}"),
                    "Chance of buying again": _shown(f, "p_alive", f"{v['p_alive']:.0%}"),
                    _next_label(v): _shown(f, "next_order_date", next_order_text(v))})
    ui.metrics_row({"Days since last order": f"{s['recency_days']:.0f}", "Orders": f"{s['frequency']:.0f}",
                    "Spend": money(s["monetary"]),
                    "Avg order value": money(h["avg_order_value"]),
                    "Days between orders": "–" if h["mean_days_between"] is None else f"{h['mean_days_between']:.0f}"})
    ui.metrics_row({f"Expected orders ({v['horizon_days']} d)": _shown(f, "expected_orders",
                                                                       f"{v['expected_orders']:.2f}"),
                    f"Expected spend ({v['horizon_days']} d)": _shown(f, "expected_spend", spend_text(v)),
                    "First order": str(pd.Timestamp(h["first_purchase"]).date()),
                    "Last order": str(pd.Timestamp(h["last_purchase"]).date())})
    st.caption(f"Scores out of 5 (5 = best): recency {s['r_score']}, orders {s['f_score']}, spend {s['m_score']} "
               "— the RFM segment is named from the recency and order scores.")
    _fact_captions(f)
    items = p.next_items                          # product names where the data has them, never bare codes
    shown = (items["name"].where(items["name"].astype(str) != "", items["item"]) if "name" in items
             else items.get("item"))
    likely = ", ".join(shown.astype(str)) if len(items) else "–"
    st.markdown(f"**{md(p.cluster_label or 'No cluster')}** · **Likely next**: {md(likely)}")
    coupon_box(p.coupon)


def _timeline(p) -> None:
    fig = px.bar(p.timeline, x="date", y="amount", color="top_category", hover_data=["invoice_id", "lines"],
                 title="Purchase timeline (one bar per order)",
                 labels={"amount": ui.money_label("Order value"), "date": "Date", "top_category": "Main category",
                         "invoice_id": "Order", "lines": "Order lines"})
    span = (p.timeline["date"].max() - p.timeline["date"].min()).days
    fig.update_traces(width=86_400_000 * max(1, span / 80))          # bar width in ms: visible on long spans
    st.plotly_chart(fig, width="stretch", key="lookup_timeline")
    tops = [t for t in (p.top_categories, p.top_products) if len(t)]
    for col, table in zip(st.columns(max(len(tops), 1)), tops):
        col.dataframe(table, hide_index=True, column_config=labels_ui.column_config(table.columns))


def _drivers(p) -> None:
    if not p.drivers.empty:
        st.markdown("**Main drivers of the prediction for this customer**, compared with an average customer "
                    f"(positive = pushes towards {'churn' if p.kind == 'transactions' else 'the predicted class'})")
        st.dataframe(_readable_drivers(p.drivers), hide_index=True, key="lookup_drivers",
                     column_config={"contribution": st.column_config.NumberColumn(
                         "Push towards " + ("churn" if p.kind == "transactions" else "the prediction"),
                         format="%+.2f"), "note": "Note"} | {c: label(c) for c in ("feature", "value")})
    if p.churn_model or not p.drivers.empty:
        with st.expander("Details for analysts"):
            if not p.drivers.empty:
                st.dataframe(_analyst_drivers(p.drivers), hide_index=True, key="lookup_drivers_raw")
                st.caption(f"Method: {md(p.drivers.attrs.get('method', ''))}.")
            st.caption(md(p.churn_model))


_ANALYST_COLUMNS = {"feature": "Feature (model name)", "value": "Customer's value", "contribution": "Contribution",
                    "model_value": "Value the model read", "capped": "Capped"}


def _plain(v: object) -> str:
    """A model input as text: numbers with separators (4 significant digits below 1), categories as they are."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "–"
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return f"{float(v):,.4g}" if abs(float(v)) < 1 else f"{float(v):,.2f}"
    return str(v)


def _analyst_drivers(drivers: pd.DataFrame) -> pd.DataFrame:
    """The drivers as the model sees them, for analysts: model feature names, plain numbers with separators (no
    unit: some are counts, some money, some scores), a dash where there is no value; headers in words."""
    out = drivers[[c for c in _ANALYST_COLUMNS if c in drivers]].copy()
    for c in ("value", "contribution", "model_value"):
        if c in out:
            out[c] = out[c].map(_plain)
    if "capped" in out:
        out["capped"] = out["capped"].fillna("").replace("", "–")
    return out.rename(columns=_ANALYST_COLUMNS)


def _readable_drivers(drivers: pd.DataFrame) -> pd.DataFrame:
    """The drivers with human feature names and the customer's own values written as every page writes them
    (``£754.50``); where the model caps a value (or has none of the customer's own), a note says so beside it."""
    cur = state.currency()
    out = drivers.assign(value=[format_value(f, v, cur) for f, v in zip(drivers["feature"], drivers["value"])])
    if "capped" in drivers and (drivers["capped"] != "").any():
        out["note"] = [driver_note(c, format_value(f, m, cur)) for f, m, c in
                       zip(drivers["feature"], drivers["model_value"], drivers["capped"])]
    return out.drop(columns=[c for c in ("model_value", "capped") if c in out]) \
        .assign(feature=drivers["feature"].map(label))


def card(p) -> None:
    """One customer's card (a ``pipeline.customer.CustomerProfile``): metrics, cluster, coupons, notes, timeline,
    drivers of the prediction and the expected value of every coupon."""
    if p.kind == "transactions":
        _transaction_metrics(p)
    else:
        st.markdown(f"**{md(p.cluster_label or 'No cluster')}**")
        if p.prediction:
            ui.metrics_row({f"Predicted {p.prediction['target']}":
                            f"{p.prediction['predicted']} ({p.prediction['probability']:.0%})"})
        st.dataframe(pd.DataFrame([p.attributes]).astype(str), hide_index=True)
    learned_box(p.learned_coupon)
    for note in p.notes:
        st.info(note, icon=":material/info:")
    if p.kind == "transactions":
        _timeline(p)
    _drivers(p)
    if len(p.candidates):
        with st.expander("Expected value of every coupon"):
            st.dataframe(p.candidates, hide_index=True, column_config={
                "coupon_id": "Coupon id", "coupon_name": "Coupon", "eligible": "Eligible",
                "extra_purchase_probability": st.column_config.NumberColumn("More likely to buy", format="percent"),
                "gain": ui.money_column("Gain", 2), "cost": ui.money_column("Expected cost", 2),
                "expected_value": ui.money_column("Expected value", 2)})


def what_if_key(name: str, cid: str | None, dataset_id: str | None = None) -> str:
    """The widget key of one what-if input: per dataset (default: the current one) and customer, so nothing typed
    for one dataset's customer (or the typical customer) is carried to another's."""
    ds = dataset_id if dataset_id is not None else state.current_dataset_id()
    return f"wi_{ds or 'none'}_{cid or 'new'}_{name}"


def what_if_values(specs: list[dict], cid: str | None) -> dict:
    """One input per what-if spec (``pipeline.customer.what_if_inputs``), four to a row; returns their values.
    Inputs are keyed by the current dataset and the customer (:func:`what_if_key`)."""
    values, cols = {}, st.columns(min(4, max(len(specs), 1)))
    ds = state.current_dataset_id()
    for i, s in enumerate(specs):
        key = what_if_key(s["name"], cid, ds)
        with cols[i % len(cols)]:
            if s["kind"] == "number":
                values[s["name"]] = st.number_input(s["label"], s["min"], s["max"], s["value"], s["step"],
                                                    format=s["format"], key=key)
            else:
                values[s["name"]] = st.selectbox(s["label"], s["options"], key=key,
                                                 index=s["options"].index(s["value"]) if s["value"] in s["options"] else 0)
    return values


def what_if_result(res, facts: dict | None = None) -> None:
    """The what-if outcome (``pipeline.customer.WhatIfResult``): segment, cluster, churn, value and coupons;
    ``facts`` (``CardFacts.to_json()``) hides the predictions that do not hold up on this dataset."""
    f = facts or {}
    shown = {"Segment": res.segment} if res.segment else {}
    shown["Cluster"] = cluster_label(res.cluster, res.cluster_name, short=True)
    if res.churn_probability is not None:
        shown |= {"Churn risk": _shown(f, "churn_probability", f"{res.churn_probability:.0%} · {res.risk_band}"),
                  "Chance of buying again": _shown(f, "p_alive", f"{res.value['p_alive']:.0%}"),
                  "Expected spend": _shown(f, "expected_spend", spend_text(res.value))}
    if res.prediction:
        shown[f"Predicted {res.prediction['target']}"] = f"{res.prediction['predicted']} ({res.prediction['probability']:.0%})"
    ui.metrics_row(shown)
    if res.cluster_label:
        st.caption(md(res.cluster_label))
    if res.coupon:
        coupon_box(res.coupon)
    learned_box(res.learned_coupon)
    for note in res.notes:
        st.caption(md(note))


def erase_panel(cid: str) -> None:
    """*Erase this customer*: typing the id confirms; then :func:`pipeline.privacy.erase.forget` removes them from
    this workspace and the service database, and the receipt is shown once on the next run."""
    from pipeline.privacy.erase import forget

    with st.expander("Erase this customer", icon=":material/delete_forever:"):
        st.caption("Answers an erasure request: removes this customer from every saved dataset, selection, campaign "
                   "list and cache of this workspace, and from the scoring service's database and the prediction log. "
                   "Campaign budgets and counts stay (anonymously). Models trained on their data are marked "
                   "for retraining. This cannot be undone.")
        typed = st.text_input("Type the customer id to confirm", key=keys.ERASE_CONFIRM)
        if st.button("Erase this customer", type="primary", disabled=typed.strip() != cid):
            with st.spinner("Erasing…"):
                st.session_state[keys.ERASE_RECEIPT] = forget(cid, state.workspace().path)
            st.cache_data.clear()       # this process's cached tables and scorers held the customer too
            st.cache_resource.clear()
            for key in (keys.ERASE_CONFIRM, keys.CUSTOMER_ID):
                st.session_state.pop(key, None)
            st.query_params.pop(keys.CUSTOMER_PARAM, None)
            st.rerun()


def erase_receipt() -> None:
    """The receipt of the erasure just done (once): what was removed where, and what a search still finds."""
    receipt = st.session_state.pop(keys.ERASE_RECEIPT, None)
    if receipt is None:
        return
    if receipt["remains_total"]:
        st.error(f"Erasure incomplete: {receipt['remains_total']} mentions remain (listed in the receipt).",
                 icon=":material/error:")
    else:
        st.success(f"Customer erased: {receipt['removed_total']:,} rows or files removed from "
                   f"{len(receipt['removed'])} places; a new search finds nothing.", icon=":material/check_circle:")
    st.dataframe(pd.DataFrame(receipt["removed"] + receipt["remains"], columns=["kind", "where", "count", "action"]),
                 hide_index=True)
    with st.expander("Receipt (JSON)"):
        st.json(receipt)
