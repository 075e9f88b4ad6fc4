"""Workspace persistence, formula-safe exports and the CLI."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

from conftest import ROOT, dataset
from fixtures import as_bytes
from pipeline.ingest import build_dataset, sample_dataset
from pipeline.exports import escape_formulas, to_csv_bytes, to_excel_bytes
from pipeline.store import Workspace


def test_dataset_round_trip_and_delete(tmp_path):
    name, data = as_bytes("csv_utf8")
    ws = Workspace("alice")
    path = ws.stage_upload(data, name)
    ds = ws.save_dataset(build_dataset(path, name))
    again = Workspace("alice").load_dataset(ds.id)          # as after a restart
    pd.testing.assert_frame_equal(again.transactions, ds.transactions)
    assert again.report["customers"] == 3 and again.mapping["customer_id"] == "CustomerID"
    assert ws.upload_path(again.extra["upload"]) == path
    assert Workspace("bob").list_datasets() == []             # other workspaces see nothing
    ws.delete_dataset(ds.id)
    assert ws.list_datasets() == []


def test_segments_saved_per_dataset():
    ws = Workspace("w1")
    ws.save_segment("Big spenders =1+1", "ds1", ["a", "b"])
    assert [s["customer_ids"] for s in ws.list_segments("ds1")] == [["a", "b"]]
    assert ws.list_segments("other") == []


def test_synthetic_sample_is_deterministic_and_realistic():
    a, b = sample_dataset("synthetic"), sample_dataset("synthetic")
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    rep = a.report
    assert 4_500 <= rep["customers"] <= 5_000 and 80_000 <= rep["rows_out"] <= 130_000
    assert rep["dropped"]["missing_customer_id"] > 0 and rep["dropped"]["duplicate_row"] > 0
    assert a.transactions["category"].nunique() == 8
    monthly = a.transactions.groupby(a.transactions["date"].dt.month)["amount"].sum()
    assert monthly[11] > monthly[2]                            # seasonality: November beats February


def test_cdnow_sample_is_the_real_data():
    ds = sample_dataset("cdnow")
    assert ds.report["rows_in"] == 69_659 and ds.transactions["customer_id"].nunique() > 23_000


def test_formula_cells_escaped_numbers_kept():
    df = pd.DataFrame({"name": ['=HYPERLINK("http://x","y")', "+1", "-cmd", "@SUM(A1)", "\tx", "ok"],
                       "amount": [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    safe = escape_formulas(df)
    assert safe["name"].tolist()[:5] == ["'" + v for v in df["name"][:5]] and safe["name"].iloc[5] == "ok"
    assert safe["amount"].iloc[0] == -5.0
    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), encoding="utf-8-sig")
    assert back["amount"].iloc[0] == -5.0 and back["name"].iloc[0].startswith("'=")
    ws = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(df))).active
    assert ws["A2"].data_type == "s" and ws["A2"].value.startswith("'=") and ws["B2"].value == -5.0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_rfm_writes_table_and_summary(tmp_path):
    name, data = as_bytes("csv_latin1_semicolon_dayfirst_comma")
    src, out = tmp_path / name, tmp_path / "rfm.csv"
    src.write_bytes(data)
    r = _cli("rfm", str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["customers"] == 3 and summary["snapshot"] == "2011-01-22"
    table = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert list(table.columns) == ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score",
                                   "m_score", "segment"]
    assert set(table["customer_id"]) == {"0042", "0007", "0100"}


def test_cli_clean_report_online_retail():
    r = _cli("clean", str(dataset("online_retail.csv")))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["rows_out"] == 392_692 and rep["customers"] == 4_338


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary" * 100, b"x,y\n1,2\n"])
def test_cli_bad_input_one_line_exit_2(content, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    r = _cli("rfm", str(p))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_rfm_does_not_import_tensorflow(tmp_path):
    name, data = as_bytes("csv_utf8")
    (tmp_path / name).write_bytes(data)
    code = ("import sys; from pipeline.cli import main; main(['rfm', sys.argv[1]]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cli_cleans_through_one_entry_point_default_and_engine_duckdb_alike(tmp_path, capsys, monkeypatch):
    """The default and ``--engine duckdb`` are the same run: equal reports and RFM on order lines, and the same
    one-line refusal of a customer table and of a missing file."""
    from pipeline.cli import main

    monkeypatch.delenv("SEGMENTS_ENGINE", raising=False)
    name, data = as_bytes("csv_latin1_semicolon_dayfirst_comma")
    orders = tmp_path / name
    orders.write_bytes(data)
    customers = tmp_path / "customers.csv"
    pd.DataFrame({"CustomerID": [f"C{i}" for i in range(40)], "Age": range(20, 60),
                  "Annual Income (k$)": range(30, 70), "Spending Score": range(40)}).to_csv(customers, index=False)

    def run(*argv):
        code = main(list(argv))
        return (code, *capsys.readouterr())

    for argv in (("clean", str(orders)), ("rfm", str(orders), "--dayfirst"), ("clean", str(customers)),
                 ("rfm", str(customers)), ("clean", str(tmp_path / "missing.csv"))):
        default, duckdb = run(*argv), run(*argv, "--engine", "duckdb")
        assert default == duckdb, argv
    code, out, err = run("clean", str(orders))
    assert code == 0 and json.loads(out)["customers"] == 3
    code, out, err = run("rfm", str(customers), "--engine", "duckdb")
    assert code == 2 and out == "" and err.startswith("error: This looks like a customer table")
    assert len(err.strip().splitlines()) == 1
