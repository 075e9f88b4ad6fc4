"""Real exports that used to be read wrong or refused (issue 9), as small hand-made files: each gives the right
table, or one clear message. See tests/real_exports.py for what each file reproduces."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import real_exports as R
from conftest import ROOT
from pipeline.config import CleaningOptions
from pipeline.errors import DataError
from pipeline.ingest import build_dataset, clean_file, detect_date_format, inspect_file, sniff
from pipeline.ingest.clean import cancellation_pattern
from pipeline.rfm import rfm_table


def _write(tmp_path, made):
    name, data = made
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_store_order_ids_starting_with_c_are_not_cancellations(tmp_path):
    res = clean_file(_write(tmp_path, R.superstore()))
    rep = res.report
    assert rep.rows_out == rep.rows_in == 400 and rep.dropped["cancellation_or_return"] == 0 and not rep.warnings
    assert res.mapping["invoice_id"] == "Order ID" and res.mapping["date"] == "Order Date"
    assert res.mapping["customer_id"] == "Customer ID" and res.mapping["amount"] == "Sales"
    assert any("not read as cancellations" in n for n in rep.notes)


def test_cancellation_prefix_needs_the_shape_of_the_other_ids():
    uci = cancellation_pattern(pd.Series(["536379", "536380", "C536379", "A563185"]), "C")
    assert uci is not None
    import re
    assert re.fullmatch(uci, "C536379") and not re.fullmatch(uci, "CA-2016-152156")
    store = cancellation_pattern(pd.Series(["CA-2016-152156", "US-2015-108966"]), "C")
    assert store is not None and not re.fullmatch(store, "CA-2016-152156")
    assert cancellation_pattern(pd.Series(["C001", "C002"]), "C") is None      # every id has the prefix


def test_month_name_two_digit_year_dates(tmp_path):
    rep = clean_file(_write(tmp_path, R.month_name_dates())).report
    assert rep.rows_out == 300 and rep.date_format == "%d-%b-%y" and "11" in rep.date_format_label
    assert rep.date_min.startswith("2013-01") and rep.date_max < "2015"


@pytest.mark.parametrize("values,fmt", [
    (["11-Feb-13", "3-Mar-13"], "%d-%b-%y"), (["9 Dec 2011", "10 Jan 2012"], "%d %b %Y"),
    (["Dec 9, 2011", "Jan 10, 2012"], "%b %d, %Y"), (["31.12.1997", "01.02.1998"], "%d.%m.%Y"),
    (["12/9/11 8:26", "1/13/12 10:00"], "%m/%d/%y"), (["09/12/2011", "25/12/2011"], "%d/%m/%Y"),
    (["2011-12-09T08:26:00", "2011-12-10"], "ISO"), (["12/1/2010 8:26:00 AM", "12/1/2010 2:10:00 PM"], "%m/%d/%Y"),
])
def test_date_formats_real_exports_use(values, fmt):
    assert detect_date_format(pd.Series(values))[:2] == (fmt, 1.0)


def test_excel_serials_only_where_dates_are_expected(tmp_path):
    assert detect_date_format(pd.Series(["40544.375", "40563"]), serials=True)[0] == "EXCEL"
    assert detect_date_format(pd.Series(["40544.375", "40563"]))[1] == 0.0      # amounts are never dates
    res = clean_file(_write(tmp_path, R.excel_serials()))
    assert res.report.date_format == "EXCEL" and res.report.date_min == "2011-01-01 09:00:00"


def test_excel_date_cells_read_by_calamine(tmp_path):
    res = clean_file(_write(tmp_path, R.excel_dates()))
    assert res.report.date_min == "2011-01-01 09:00:00" and set(res.transactions["customer_id"]) == {"12346", "12347"}
    assert res.report.dropped["cancellation_or_return"] == 1


def test_encoding_judged_on_the_whole_file(tmp_path):
    path = _write(tmp_path, R.latin1_pound_after_first_mb())
    assert path.stat().st_size > 1 << 20 and sniff(path).encoding == "utf-8"   # the first MB is plain ASCII
    res = clean_file(path)
    assert "HAND WARMER £ UNION JACK" in set(res.transactions["product_name"])
    assert res.report.rows_out == res.report.rows_in


def test_whitespace_aligned_text_with_header(tmp_path):
    res = clean_file(_write(tmp_path, R.cdnow_aligned()))
    rfm = rfm_table(res.transactions).set_index("customer_id")
    assert res.report.rows_out == 8 and list(rfm.index) == ["00001", "00002", "00003", "00004"]
    assert rfm.loc["00002", "monetary"] == pytest.approx(89.0) and res.report.date_format == "%Y%m%d"


def test_whitespace_aligned_text_without_header(tmp_path):
    ins = inspect_file(_write(tmp_path, R.cdnow_sample_headerless()))
    assert ins.columns == [f"column_{i}" for i in range(1, 6)] and ins.n_rows == 9
    assert ins.mapping["customer_id"] == "column_1" and ins.mapping["date"] == "column_3"
    assert ins.mapping["amount"] == "column_5" and "from the values" in ins.reasons["date"]


def test_tab_file_without_header_row(tmp_path):
    path = _write(tmp_path, R.headerless_tab())
    ins = inspect_file(path)
    assert ins.columns == ["column_1", "column_2", "column_3"] and ins.n_rows == 200 and ins.kind == "transactions"
    assert ins.mapping["customer_id"] == "column_1" and ins.mapping["date"] == "column_3"
    assert "repeating over 200 rows" in ins.reasons["customer_id"]


def test_basket_log_is_transactions_counted_in_items(tmp_path):
    path = _write(tmp_path, R.basket_log())
    ins = inspect_file(path)
    assert ins.kind == "transactions" and "basket log" in ins.kind_reason
    assert ins.mapping["customer_id"] == "Member_number" and ins.mapping["product_name"] == "itemDescription"
    assert "Member_number" in ins.reasons["customer_id"] and "120 distinct" in ins.reasons["customer_id"]
    ds = build_dataset(path, path.name)
    assert ds.kind == "transactions" and ds.report["monetary_unit"] == "items"
    assert ds.report["revenue"] == ds.report["rows_out"]                       # one item per line
    rfm = rfm_table(ds.transactions)
    assert len(rfm) == 120 and rfm["monetary"].sum() == ds.report["rows_out"]


def test_basket_log_segments_clusters_churn_and_card_work(tmp_path):
    """RFM segments, clusters, churn and the customer card on a basket log, through the CLI (exit 0)."""
    path = _write(tmp_path, R.basket_log(n_members=300, n=6000))
    run = lambda *a: subprocess.run([sys.executable, "-m", "pipeline", *a], cwd=ROOT, capture_output=True,  # noqa
                                    text=True, timeout=600)
    for args in (["rfm", str(path)], ["cluster", str(path), "--k", "3", "--out", str(tmp_path / "c.csv")],
                 ["churn", str(path), "--models", "logreg"], ["profile", str(path), "--customer", "1000", "--json"]):
        out = run(*args)
        assert out.returncode == 0, (args, out.stderr[-2000:])
        assert "Traceback" not in out.stderr


def test_german_export_decimal_comma_dotted_dates(tmp_path):
    res = clean_file(_write(tmp_path, R.german_export()))
    assert res.mapping["customer_id"] == "Kundennummer" and res.mapping["amount"] == "Umsatz"
    assert res.report.date_format == "%d.%m.%Y" and res.report.rows_out == 300
    assert res.report.revenue == pytest.approx(R.german_expected_revenue(), abs=0.01)


def test_opaque_headers_are_mapped_from_the_values(tmp_path):
    """The same German file with meaningless headers: every role comes from the values alone."""
    res = clean_file(_write(tmp_path, R.german_export(("A", "B", "C", "D"))))
    assert {k: v for k, v in res.mapping.items() if v} == {"customer_id": "A", "date": "B", "quantity": "C",
                                                           "amount": "D"}
    assert res.report.revenue == pytest.approx(R.german_expected_revenue(), abs=0.01)
    assert all("from the values" in why for why in res.report.mapping_reasons.values())


def test_elf_bytes_are_refused_in_one_line(tmp_path):
    path = _write(tmp_path, R.elf_bytes())
    with pytest.raises(DataError, match="binary"):
        inspect_file(path)
    out = subprocess.run([sys.executable, "-m", "pipeline", "clean", str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")


def test_rule_dropping_over_ten_percent_is_a_warning_with_examples_and_a_switch(tmp_path):
    from fixtures import as_bytes

    path = _write(tmp_path, as_bytes("csv_utf8"))
    rep = clean_file(path).report
    warn = {w["rule"]: w for w in rep.warnings}
    assert set(warn) == {"missing_customer_id", "cancellation_or_return"}
    w = warn["cancellation_or_return"]
    assert w["share"] == pytest.approx(1 / 7, abs=1e-4) and w["switch"] == "drop_cancellations"
    assert w["examples"][0]["InvoiceNo"] == "C1003" and warn["missing_customer_id"]["switch"] is None
    kept = clean_file(path, options=CleaningOptions(drop_cancellations=False, drop_nonpositive_price=False)).report
    assert kept.rows_out == 6 and "cancellation_or_return" not in {w["rule"] for w in kept.warnings}


def test_clean_json_has_reasons_and_warnings(tmp_path):
    from fixtures import as_bytes
    import json

    path = _write(tmp_path, as_bytes("csv_utf8"))
    out = subprocess.run([sys.executable, "-m", "pipeline", "clean", str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    rep = json.loads(out.stdout)
    assert rep["warnings"][0]["examples"] and "customer_id" in rep["mapping_reasons"]
    assert rep["kind_reason"].startswith("transactions") and rep["date_format_label"].startswith("ISO")
