"""Ingestion, cleaning and RFM on the hand-checked fixture, in every file format; real reference figures."""
from __future__ import annotations

import pandas as pd
import pytest

from fixtures import EXPECTED_RFM, VARIANTS, as_bytes, frame
from conftest import dataset
from pipeline.errors import DataError
from pipeline.ingest import clean_file, clean_frame, detect_date_format, guess_mapping
from pipeline.rfm import assign_segments, load_segment_rules, quantile_scores, rfm_table


@pytest.mark.parametrize("variant", VARIANTS)
def test_fixture_rfm_in_every_format(variant, tmp_path):
    name, data = as_bytes(variant)
    path = tmp_path / name
    path.write_bytes(data)
    res = clean_file(path)
    assert res.report.dropped["missing_customer_id"] == 1
    assert res.report.dropped["cancellation_or_return"] == 1
    assert res.report.rows_out == 5 and res.report.customers == 3 and res.report.invoices == 4
    assert res.report.revenue == pytest.approx(138.0)
    rfm = rfm_table(res.transactions).set_index("customer_id")
    assert rfm.attrs["snapshot"] == "2011-01-22"
    for cust, (r, f, m) in EXPECTED_RFM.items():   # ids keep their leading zeros
        assert tuple(rfm.loc[cust, ["recency_days", "frequency", "monetary"]]) == (r, f, pytest.approx(m))
    assert len(res.returns) == 1 and res.returns["amount"].iloc[0] == pytest.approx(2.0)
    if variant == "csv_latin1_semicolon_dayfirst_comma":
        assert "Café mug £" in set(res.transactions["product_name"])


def test_snapshot_can_be_set_and_ignores_later_purchases():
    tx = clean_frame(frame()).transactions
    rfm = rfm_table(tx, snapshot="2011-01-18").set_index("customer_id")
    assert "0100" not in rfm.index                       # first purchase after the snapshot
    assert rfm.loc["0042", "frequency"] == 1 and rfm.loc["0042", "recency_days"] == 17


def test_no_invoice_column_counts_purchase_days():
    df = frame().drop(columns="InvoiceNo")
    res = clean_frame(df)
    assert any("purchases on one day" in n for n in res.report.notes)
    rfm = rfm_table(res.transactions).set_index("customer_id")
    assert rfm.loc["0042", "frequency"] == 2 and rfm.loc["0100", "frequency"] == 1


def test_amount_column_used_when_present():
    df = pd.DataFrame({"order_id": ["1", "2", "3"], "customer": ["a", "a", "b"],
                       "order_date": ["2020-01-01", "2020-02-01", "2020-02-03"], "revenue": ["10.5", "$1,200.00", "3"]})
    res = clean_frame(df)
    assert res.mapping["amount"] == "revenue" and res.mapping["invoice_id"] == "order_id"
    assert res.transactions.groupby("customer_id")["amount"].sum().to_dict() == {"a": 1210.5, "b": 3.0}


def test_an_amount_too_large_to_be_real_is_dropped_as_unreadable_and_counted():
    """A line of 10^30 (a price typed into the quantity column, a corrupted export) or an infinite one is dropped as
    a number that could not be read, and said so; the exact sums of the features and the BTYD summary then run (a
    DECIMAL(38, 10) sum could not hold it: before, both stopped with a conversion error)."""
    from pipeline.clv import btyd_summary
    from pipeline.features import customer_features

    df = pd.DataFrame({"customer_id": ["A", "A", "A", "B", "B"], "invoice_id": ["1", "2", "3", "4", "5"],
                       "date": ["2024-01-01", "2024-02-01", "2024-02-03", "2024-01-05", "2024-03-05"],
                       "quantity": ["1", "1", "1", "2", "1"], "unit_price": ["1e30", "5", "inf", "3", "4"]})
    res = clean_frame(df)
    assert res.report.dropped["unparseable_number"] == 2 and len(res.transactions) == 3
    assert customer_features(res.transactions, res.returns)["monetary"].to_dict() == {"A": 5.0, "B": 10.0}
    assert btyd_summary(res.transactions).loc["B", "monetary_value"] == 4.0         # its repeat order


@pytest.mark.parametrize("columns,expected", [
    (["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"],
     {"customer_id": "CustomerID", "invoice_id": "InvoiceNo", "unit_price": "UnitPrice", "product_id": "StockCode"}),
    (["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"],
     {"customer_id": "Customer ID", "invoice_id": "Invoice", "unit_price": "Price"}),
    (["customer_id", "date", "number_of_cds", "dollar_value"],
     {"customer_id": "customer_id", "date": "date", "quantity": "number_of_cds", "amount": "dollar_value"}),
    (["order_id", "order_date", "sku", "customer_email", "sales"],
     {"invoice_id": "order_id", "date": "order_date", "product_id": "sku", "amount": "sales"}),
])
def test_guess_mapping_of_common_exports(columns, expected):
    m = guess_mapping(columns)
    assert {k: m[k] for k in expected} == expected


@pytest.mark.parametrize("values,fmt", [
    (["2010-12-01 08:26:00", "2011-01-13 10:00:00"], "ISO"),
    (["12/1/2010 8:26", "1/13/2011 10:00"], "%m/%d/%Y"),      # the layout; times of day are tried after it
    (["01/12/2010", "13/01/2011"], "%d/%m/%Y"),
    (["19970101", "19971231"], "%Y%m%d"),
])
def test_date_formats(values, fmt):
    assert detect_date_format(pd.Series(values))[:2] == (fmt, 1.0)


def test_quantile_scores_any_data():
    assert list(quantile_scores(pd.Series([10.0]))) == [5]
    ties = quantile_scores(pd.Series([1, 1, 1, 1, 1, 1, 2, 9]))
    assert ties.iloc[:6].nunique() == 1 and ties.iloc[-1] == 5 and ties.between(1, 5).all()
    assert list(quantile_scores(pd.Series([1, 2, 3, 4, 5]), higher_is_better=False)) == [5, 4, 3, 2, 1]


def test_default_rules_name_every_cell():
    r, f = pd.Series([r for r in range(1, 6) for _ in range(5)]), pd.Series(list(range(1, 6)) * 5)
    seg = assign_segments(r, f)
    assert "Unassigned" not in set(seg)
    lookup = dict(zip(zip(r, f), seg))
    assert lookup[(5, 5)] == "Champions" and lookup[(5, 1)] == "New Customers" and lookup[(1, 5)] == "Can't Lose Them"
    assert lookup[(3, 3)] == "Need Attention" and lookup[(2, 3)] == "At Risk" and lookup[(4, 1)] == "Promising"


def test_bad_rules_are_rejected():
    bad = load_segment_rules().assign(r_min=0)
    with pytest.raises(DataError, match="1-5"):
        load_segment_rules(bad)


@pytest.mark.parametrize("content,match", [
    (b"", "empty"), (b"CustomerID,InvoiceDate,Amount\n", "no data rows"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image"),
    (b"a,b,c\n1,2,3\n4,5,6\n", "customer table"),
    (b"CustomerID,InvoiceDate,Amount\n1,notadate,3\n2,never,4\n", "not dates"),
])
def test_bad_files_raise_clear_errors(content, match, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        clean_file(p, mapping={"customer_id": "CustomerID", "date": "InvoiceDate", "amount": "Amount"}
                   if content.startswith(b"Customer") else None)


def test_online_retail_reference_figures():
    res = clean_file(dataset("online_retail.csv"))
    rep = res.report
    assert (rep.rows_out, rep.customers, rep.invoices) == (392_692, 4_338, 18_532)
    assert rep.revenue == pytest.approx(8_887_208.89, abs=0.01)
    assert rep.dropped["missing_customer_id"] == 135_080
    rfm = rfm_table(res.transactions)
    assert len(rfm) == 4_338 and rfm["monetary"].sum() == pytest.approx(8_887_208.89, abs=1)
    assert rfm["recency_days"].min() == 1 and set(rfm["segment"]) >= {"Champions", "Hibernating", "At Risk"}


def test_online_retail_duplicates_kept_option():
    from pipeline.config import CleaningOptions

    rep = clean_file(dataset("online_retail.csv"), options=CleaningOptions(drop_duplicates=False)).report
    assert rep.revenue == pytest.approx(8_911_407.90, abs=0.01)


def test_a_long_cell_in_a_warnings_example_row_says_it_was_cut():
    """Issue 19 item 10: example rows of a dropping rule are cut at 80 characters with "…", never silently."""
    from pipeline.ingest.clean import clean_frame

    long_name = "GIFT SET " * 15                                    # 135 characters
    frame = pd.DataFrame({"CustomerID": ["1", None, "2", None], "InvoiceDate": ["2011-01-01"] * 4,
                          "InvoiceNo": ["1", "2", "3", "4"], "Description": [long_name] * 4,
                          "Quantity": [1] * 4, "UnitPrice": [2.5] * 4})
    warning = next(w for w in clean_frame(frame).report.to_dict()["warnings"] if w["rule"] == "missing_customer_id")
    cells = [v for row in warning["examples"] for v in row.values() if isinstance(v, str) and v.startswith("GIFT")]
    assert cells and all(len(c) == 80 and c.endswith("…") for c in cells)
