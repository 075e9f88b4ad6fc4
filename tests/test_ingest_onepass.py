"""Cleaning in one pass (issue 22 item 4): the figures-only mode (``lines=False``) gives the report, ``tx_keys``,
``tx`` and ``tx_returns`` of the full mode; duplicates are judged on the mapped columns; every statement cleaning
runs is one SQLGlot can write for Spark."""
from __future__ import annotations

import pandas as pd
import pytest

from fixtures import frame
from pipeline.config import CleaningOptions
from pipeline.engines.duckdb import DuckDBEngine
from pipeline.ingest import fetch_transactions
from pipeline.ingest.read import open_frame


def _dirty() -> pd.DataFrame:
    """The hand-checked fixture plus an exact duplicate of line 1 (counted once), a line equal to it in every
    mapped column but an unmapped ``Note`` (a duplicate too), and a second cancellation line (a return)."""
    df = frame().assign(Note="")
    dup = df.iloc[[0]]
    noted = dup.assign(Note="gift wrap")
    ret = df.iloc[[3]].assign(Quantity=-2)
    return pd.concat([df, dup, noted, ret], ignore_index=True)


@pytest.fixture()
def csv_path(tmp_path):
    path = tmp_path / "dirty.csv"
    _dirty().to_csv(path, index=False)
    return path


def _snapshot(con) -> dict:
    return {
        "tx": fetch_transactions(con, "tx"),
        "returns": fetch_transactions(con, "tx_returns"),
        "keys": con.execute("SELECT customer_id, invoice_id, date, amount, country FROM tx_keys "
                            "ORDER BY ALL").df(),
    }


def test_figures_only_mode_equals_the_full_mode(csv_path):
    full_con, full = DuckDBEngine().clean(csv_path, lines=True)
    lean_con, lean = DuckDBEngine().clean(csv_path, lines=False)
    assert lean.to_dict() == full.to_dict()
    a, b = _snapshot(full_con), _snapshot(lean_con)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    # by hand: 7 fixture lines + 3 = 10 in; 1 without a customer, 2 cancellations, 2 duplicates; 5 lines kept
    assert (full.rows_in, full.rows_out, full.return_lines) == (10, 5, 2)
    assert full.dropped["duplicate_row"] == 2 and full.dropped["cancellation_or_return"] == 2
    assert full.revenue == pytest.approx(138.0) and len(a["tx"]) == 5 and len(a["keys"]) == 5


def test_duplicates_are_judged_on_the_mapped_columns_only():
    df = _dirty()
    raw = open_frame(df)
    from pipeline.ingest.clean import clean_raw

    res = clean_raw(raw, {"customer_id": "CustomerID", "invoice_id": "InvoiceNo", "date": "InvoiceDate",
                          "quantity": "Quantity", "unit_price": "UnitPrice", "product_id": "StockCode"})
    assert res.report.dropped["duplicate_row"] == 2       # the Note column is not mapped: it does not count
    assert len(res.transactions[(res.transactions["invoice_id"] == "1001")]) == 1
    kept = clean_raw(open_frame(df), {"customer_id": "CustomerID", "invoice_id": "InvoiceNo", "date": "InvoiceDate",
                                      "quantity": "Quantity", "unit_price": "UnitPrice", "product_id": "Note"})
    assert kept.report.dropped["duplicate_row"] == 1      # mapped, the note tells the two lines apart


def test_duplicates_kept_when_switched_off(csv_path):
    _, rep = DuckDBEngine().clean(csv_path, CleaningOptions(drop_duplicates=False), lines=False)
    assert rep.dropped["duplicate_row"] == 0 and rep.rows_out == 7 and rep.revenue == pytest.approx(158.0)


def test_every_cleaning_statement_transpiles_to_spark(csv_path):
    from pipeline.engines.sql import to_spark

    seen: list[str] = []

    class Recorder:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, params=None):
            seen.append(sql)
            return self._con.execute(sql, params) if params is not None else self._con.execute(sql)

        def __getattr__(self, name):
            return getattr(self._con, name)

    from pipeline.ingest.clean import clean_table

    raw = open_frame(_dirty())
    clean_table(Recorder(raw.con), {"customer_id": "CustomerID", "invoice_id": "InvoiceNo", "date": "InvoiceDate",
                                    "quantity": "Quantity", "unit_price": "UnitPrice"}, lines=False)
    statements = [s for s in seen if s.lstrip().upper().startswith(("CREATE", "SELECT"))]
    assert any("FILTER (WHERE" in s for s in statements) and any("tx_keys" in s for s in statements)
    for sql in statements:
        body = sql.split(" AS ", 1)[1] if sql.lstrip().upper().startswith("CREATE") else sql
        assert to_spark(body)


def test_rfm_from_the_customer_totals_equals_rfm_from_the_lines(csv_path):
    from pipeline.rfm import rfm_from_connection

    con, _ = DuckDBEngine().clean(csv_path, lines=False)
    from_lines = rfm_from_connection(con, "tx_keys")
    from_totals = rfm_from_connection(con, "tx_keys", totals="tx_customers")
    pd.testing.assert_frame_equal(from_lines, from_totals)
    assert dict(zip(from_totals["customer_id"], from_totals["monetary"])) == {"0007": 6.0, "0042": 30.0, "0100": 102.0}
    early = rfm_from_connection(con, "tx_keys", snapshot="2011-01-18", totals="tx_customers")   # lines before it
    assert set(early["customer_id"]) == {"0042", "0007"} and early.attrs["snapshot"] == "2011-01-18"
