"""Every figure carries its unit: money with the dataset's currency, items on a basket log (no amount or price),
thousands separators in tiles and tables, no "None" cell, and no percentage change against a near-empty previous
period. ``pipeline.units`` is the one formatter; the pages (Upload, Overview, RFM, Cohorts & movement) are scanned as drawn
on the synthetic sample and on a Kaggle-"Groceries"-shaped basket log (Member_number, Date, itemDescription)."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pandas as pd
from streamlit.testing.v1 import AppTest

from conftest import APP
from pipeline import units
from pipeline.ingest import generate_raw
from pipeline.overview import overview

CURRENCY_SIGNS = re.compile(r"[£$€¥]|\b(GBP|USD|EUR|CHF)\b")
# 4+ digits without separators (not a date, not a year such as "before 1970")
BARE_BIG_NUMBER = re.compile(r"(?<![\d.,\-/:])(?!(?:19|20)\d\d(?!\d))\d{4,}(?![\d\-/:])")
PAGES = ("pages/upload.py", "pages/overview.py", "pages/rfm.py", "pages/movement.py")
IDS = {"customer_id", "Customer", "invoice_id", "Order", "product_id", "Product code",   # ids are names, not figures
       "CustomerID", "InvoiceNo", "StockCode", "coupon_code", "Coupon code"}


# ---- the formatter -----------------------------------------------------------------------------------------------
def test_spend_is_money_or_items_never_a_bare_number():
    assert units.spend(4295022, "GBP", 0) == "£4,295,022"
    assert units.spend(12958.5, "GBP") == "£12,958.50"
    assert units.spend(1234.5, "CHF") == "1,234.50 CHF"
    assert units.spend(4816.0, None) == "4,816 items"                 # a basket log: items, no decimals
    assert units.spend(2.84, None) == "2.8 items" and units.spend(1, None) == "1 item"
    assert units.spend(None, "GBP") == units.spend(float("nan"), None) == "–"
    assert units.spend_format("GBP", 2) == "£%,.2f" and units.spend_format("CHF", 0) == "%,.0f CHF"
    assert units.spend_format(None, 2) == "%,.1f items" and units.spend_format(None, 0) == "%,.0f items"
    assert units.count(135080) == "135,080" and units.percent(0.431) == "43%"


def test_tiles_get_a_short_spend_with_its_unit():
    assert units.spend_short(3444230.4, "GBP") == "£3.44M" and units.spend_short(320416.6, "GBP") == "£320,417"
    assert units.spend_short(84.123, "GBP") == "£84.12" and units.spend_short(2_500_000, "CHF") == "2.50M CHF"
    assert units.spend_short(1_250_000, None) == "1.25M items" and units.spend_short(4816, None) == "4,816 items"


def test_money_words_read_as_items_on_a_basket_log():
    w = units.spend_words
    assert w("Revenue", "GBP") == "Revenue"
    assert w("Revenue", None) == "Items bought" and w("Average order value", None) == "Items per order"
    assert w("Share of revenue", None) == "Share of items bought"
    assert w("Loyal bring 25% of the revenue", None) == "Loyal bring 25% of the items bought"
    assert w("Spend (before)", None) == "Items bought (before)" and w("Avg spend", None) == "Avg items bought"


def test_change_needs_a_minimum_base():
    assert units.change_text(504, 3) is None                          # +16,700% from 3 customers says nothing
    assert units.change_text(30, 20) == "+50.0%"
    assert units.change_text(0.6, 0.5, "rate", base=100) == "+10.0 pts"
    assert units.change_text(0.6, 0.5, "rate", base=5) is None


# ---- the recommender sees a mapped product name ------------------------------------------------------------------
def _basket_lines(n_customers: int = 300, seed: int = 1) -> pd.DataFrame:
    """The synthetic sample as a Kaggle "Groceries" basket log: member, day, item description; no amount, price,
    quantity or invoice."""
    raw = generate_raw(n_customers=n_customers, seed=seed)
    raw = raw[raw["CustomerID"].astype(str).str.strip().ne("") & ~raw["InvoiceNo"].astype(str).str.startswith("C")]
    return pd.DataFrame({"Member_number": raw["CustomerID"].astype(float).astype(int),
                         "Date": pd.to_datetime(raw["InvoiceDate"]).dt.strftime("%d-%m-%Y"),
                         "itemDescription": raw["Description"]})


def test_recommender_uses_a_mapped_product_name():
    from pipeline.ingest.clean import clean_frame
    from pipeline.recommend import ItemRecommender, choose_item_column, item_kind

    res = clean_frame(_basket_lines(120), {"customer_id": "Member_number", "date": "Date",
                                           "product_name": "itemDescription"})
    tx = res.transactions
    assert res.report.monetary_unit == "items" and tx["product_id"].isna().all()
    assert choose_item_column(tx) == "product_name" and item_kind("product_name") == "products"
    rec = ItemRecommender().fit(tx)
    top = rec.top_k(tx["customer_id"].iloc[0], k=3)
    assert rec.item_col_ == "product_name" and len(top) == 3
    assert set(top["item"]) <= set(tx["product_name"])


# ---- the overview's minimum base ---------------------------------------------------------------------------------
def _thin_previous_period() -> pd.DataFrame:
    """3 customers in the 90 days before the last 90, 37 returning ones in the last 90: +1,133% would be shown."""
    d0 = date(2024, 1, 1)
    rows = [(c, d0 + timedelta(days=10)) for c in range(3)] + [(c, d0 + timedelta(days=100)) for c in range(3)]
    rows += [(c, d0 + timedelta(days=5)) for c in range(3, 40)] + [(c, d0 + timedelta(days=150)) for c in range(3, 40)]
    rows += [(0, d0 + timedelta(days=199))]
    return pd.DataFrame(rows, columns=["Member_number", "Date"]).assign(
        itemDescription="whole milk", Date=lambda d: pd.to_datetime(d["Date"]).dt.strftime("%Y-%m-%d"))


def test_overview_withholds_a_change_against_too_few_customers():
    from pipeline.ingest.clean import clean_frame

    tx = clean_frame(_thin_previous_period(), {"customer_id": "Member_number", "date": "Date",
                                               "product_name": "itemDescription"}).transactions
    k = overview(tx).kpis.set_index("kpi")
    assert k.loc["returning_customers", ["value", "previous"]].tolist() == [38, 3]
    assert k.loc["returning_customers", "comparable"] and not k.loc["returning_customers", "base_ok"]
    assert "too few returning customers in the previous period to compare" in k.loc["returning_customers", "note"]
    assert not k.loc["revenue", "base_ok"] and "too few customers" in k.loc["revenue", "note"]


# ---- the pages, as drawn ------------------------------------------------------------------------------------------
def _upload(frame: pd.DataFrame, tmp_path, name: str) -> AppTest:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.file_uploader(key="uploader").upload(name, path.read_bytes(), "text/csv").run()
    assert not at.exception
    return at


def _formatted(config: dict) -> bool:
    fmt = (config.get("type_config") or {}).get("format") or ""
    return "," in fmt or fmt in ("localized", "compact", "accounting", "dollar", "euro", "yen", "percent")


def _scan(at: AppTest, where: str) -> list[str]:
    """Everything wrong on the page as drawn: "None" cells, big numbers without separators (in metrics, in
    tables' text cells, in number columns without a separating format)."""
    bad = []
    for m in at.metric:
        for text in (m.value, m.delta or ""):
            if BARE_BIG_NUMBER.search(text) or "None" in text:
                bad.append(f"{where}: metric {m.label!r} reads {text!r}")
    for t in list(at.dataframe) + list(at.table):
        df, config = t.value, json.loads(getattr(t.proto, "columns", "") or "{}")
        if t in at.dataframe and t.editing_mode != "read_only":
            continue                                            # an editor of settings, not figures
        for col in df.columns:
            s = df[col]
            if s.isna().any() or s.astype(str).isin(["None", "nan", "NaN", "<NA>"]).any():
                bad.append(f"{where}: column {col!r} has empty cells shown as None")
            elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                if s.abs().max() >= 1000 and not _formatted(config.get(str(col), {})):
                    bad.append(f"{where}: number column {col!r} (max {s.abs().max():.0f}) has no separators")
            elif str(col) not in IDS and s.astype(str).str.contains(BARE_BIG_NUMBER).any():
                bad.append(f"{where}: column {col!r} reads {s[s.astype(str).str.contains(BARE_BIG_NUMBER)].iloc[0]!r}")
    return bad


def _walk(at: AppTest) -> dict[str, AppTest]:
    seen = {}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        seen[page] = {"metrics": {m.label: m.value for m in at.metric}, "scan": _scan(at, page),
                      "text": " ".join([c.value for c in at.caption] + [m.value for m in at.markdown]
                                       + [m.label + " " + m.value for m in at.metric])}
    return seen


def test_a_basket_log_counts_items_everywhere(tmp_path):
    seen = _walk(_upload(_basket_lines(), tmp_path, "groceries.csv"))
    ov, rfm = seen["pages/overview.py"]["metrics"], seen["pages/rfm.py"]["metrics"]
    assert ov["Items bought"].endswith(" items") and ov["Items per order"].endswith(" items")
    assert "Revenue" not in ov and "Average order value" not in ov
    assert rfm["Items bought"].endswith(" items") and seen["pages/upload.py"]["metrics"]["Items bought"].endswith(" items")
    for page, s in seen.items():
        assert not CURRENCY_SIGNS.search(s["text"]), (page, CURRENCY_SIGNS.search(s["text"]))
        assert " of the revenue" not in s["text"] and "of revenue per customer" not in s["text"], page
    assert "of the items bought" in seen["pages/rfm.py"]["text"]
    assert [b for s in seen.values() for b in s["scan"]] == [], "\n".join(b for s in seen.values() for b in s["scan"])


def test_the_sample_shows_currency_and_separators_everywhere(app):
    app.button(key="sample_synthetic").click().run()
    seen = _walk(app)
    ov = seen["pages/overview.py"]["metrics"]
    assert re.fullmatch(r"£\d{1,3}(,\d{3})*(\.\d\d)?|£[\d.]+M", ov["Revenue"]), ov["Revenue"]
    assert ov["Average order value"].startswith("£")
    assert [b for s in seen.values() for b in s["scan"]] == [], "\n".join(b for s in seen.values() for b in s["scan"])


def test_a_near_empty_previous_period_shows_no_percent_change(tmp_path):
    at = _upload(_thin_previous_period(), tmp_path, "thin.csv")
    at.switch_page("pages/overview.py").run()
    m = {x.label: x for x in at.metric}
    assert m["Returning customers"].value == "38"
    assert m["Returning customers"].delta == "too few to compare"           # not "+1,166.7%"
    assert not any(x.delta and "%" in x.delta for x in at.metric)
    assert any("too few returning customers in the previous period to compare" in c.value for c in at.caption)


def test_online_retail_figures_carry_pounds_and_separators(tmp_path):
    from conftest import dataset

    raw = dataset("online_retail.csv")
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.file_uploader(key="uploader").upload(raw.name, raw.read_bytes(), "text/csv").run()
    assert not at.exception
    seen = _walk(at)
    ov = seen["pages/overview.py"]["metrics"]
    assert ov["Revenue"].startswith("£") and seen["pages/rfm.py"]["metrics"]["Revenue"] == "£8,887,209"
    assert [b for s in seen.values() for b in s["scan"]] == [], "\n".join(b for s in seen.values() for b in s["scan"])
