"""Overview, cohorts, segment movement and the analysis period on a 6-customer table checked by hand, and their
CLI commands (overview, cohorts, migration).

Purchases (invoice, day 2023-…, amount; F's invoice I10 has two lines 30 + 50):
  A: I1 01-05 100 · I2 02-10 50 · I3 03-15 50      D: I7 02-03 200 · I8 02-20 100
  B: I4 01-20 40  · I5 03-02 60                    E: I9 03-10 20
  C: I6 01-25 30                                   F: I10 03-28 30+50
The data runs from 2023-01-05 to 2023-03-28.
"""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.cohorts import cohort_matrix, cohort_table, retention_curve
from pipeline.errors import DataError
from pipeline.movement import NOT_YET, cell_customers, sankey_links, segment_movement
from pipeline.overview import overview
from pipeline.period import AnalysisPeriod, filter_period, load_period, resolve_period, save_period
from pipeline.store import Workspace

ROWS = [("A", "I1", "2023-01-05 10:00", 100.0), ("A", "I2", "2023-02-10 10:00", 50.0),
        ("A", "I3", "2023-03-15 10:00", 50.0), ("B", "I4", "2023-01-20 10:00", 40.0),
        ("B", "I5", "2023-03-02 10:00", 60.0), ("C", "I6", "2023-01-25 10:00", 30.0),
        ("D", "I7", "2023-02-03 10:00", 200.0), ("D", "I8", "2023-02-20 10:00", 100.0),
        ("E", "I9", "2023-03-10 10:00", 20.0), ("F", "I10", "2023-03-28 10:00", 30.0),
        ("F", "I10", "2023-03-28 10:00", 50.0)]


@pytest.fixture
def tx() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=["customer_id", "invoice_id", "date", "amount"])
    return df.assign(date=pd.to_datetime(df["date"]))


def write_csv(path) -> str:
    """The same purchases as an export (quantity 1, price = amount)."""
    lines = ["InvoiceNo,InvoiceDate,CustomerID,StockCode,Quantity,UnitPrice"]
    lines += [f"{inv},{d},{c},P{i},1,{a}" for i, (c, inv, d, a) in enumerate(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# ---- analysis period ---------------------------------------------------------------------------------------------
def test_period_filter_previous_and_resolve(tx):
    march = AnalysisPeriod("2023-03-01", "2023-03-28")
    assert march.days == 28 and march.previous() == AnalysisPeriod(date(2023, 2, 1), date(2023, 2, 28))
    assert set(filter_period(tx, march)["invoice_id"]) == {"I3", "I5", "I9", "I10"}   # end day included
    assert resolve_period(AnalysisPeriod("2022-01-01", None), tx) == AnalysisPeriod("2023-01-05", "2023-03-28")
    with pytest.raises(DataError, match="No purchases between"):
        resolve_period(AnalysisPeriod("2024-01-01", "2024-02-01"), tx)
    with pytest.raises(DataError, match="starts .* after it ends"):
        AnalysisPeriod("2023-03-01", "2023-02-01")


def test_period_saved_per_dataset(tmp_path):
    ws = Workspace("w1", root=tmp_path)
    assert load_period(ws, "d1") == AnalysisPeriod()
    save_period(ws, "d1", AnalysisPeriod("2023-02-01", None))
    save_period(ws, "d2", AnalysisPeriod(None, "2023-03-01"))
    assert load_period(Workspace("w1", root=tmp_path), "d1") == AnalysisPeriod(date(2023, 2, 1), None)
    assert load_period(ws, "d2").end == date(2023, 3, 1)
    ws.save_dataset_settings("d1", {"analysis_period": {"start": "not a date"}})
    assert load_period(ws, "d1") == AnalysisPeriod()          # an unreadable entry is ignored, not fatal


# ---- overview ----------------------------------------------------------------------------------------------------
def test_overview_march_against_february(tx):
    ov = overview(tx, AnalysisPeriod("2023-03-01", "2023-03-28"), horizon_days=30)
    k = ov.kpis.set_index("kpi")
    # March 1-28: A I3 50, B I5 60, E I9 20, F I10 80 -> 4 customers, 210, 4 orders, AOV 52.50, nobody twice;
    # new (first purchase in March): E, F; returning: A, B.
    # February 1-28: A I2 50, D I7 200 + I8 100 -> 2 customers, 350, 3 orders, AOV 116.67, D twice -> 50%;
    # new: D; returning: A.
    assert k.loc["customers", ["value", "previous"]].tolist() == [4, 2]
    assert k.loc["revenue", ["value", "previous"]].tolist() == [210.0, 350.0]
    assert k.loc["revenue", "change"] == pytest.approx(-0.4)
    assert k.loc["orders", ["value", "previous"]].tolist() == [4, 3]
    assert k.loc["average_order_value", "value"] == pytest.approx(52.5)
    assert k.loc["average_order_value", "previous"] == pytest.approx(350 / 3)
    assert k.loc["repeat_rate", ["value", "previous"]].tolist() == [0.0, 0.5]
    assert k.loc["repeat_rate", "change"] == pytest.approx(-0.5)          # a difference in points for rates
    assert k.loc["new_customers", ["value", "previous"]].tolist() == [2, 1]
    assert k.loc["returning_customers", ["value", "previous"]].tolist() == [2, 1]
    # active (30 days): on 03-28 bought since 02-27 -> A, B, E, F; on 02-28 bought since 01-30 -> A, D
    assert k.loc["active_customers", ["value", "previous", "change"]].tolist() == [4, 2, 1.0]
    assert k["comparable"].all()


def test_overview_whole_data_has_no_comparison_and_monthly_table(tx):
    short = overview(tx, horizon_days=60)          # 83 days of data < two look-backs: the whole data, no change
    k = short.kpis.set_index("kpi")
    assert short.window == short.period and not short.recent
    assert k.loc["customers", "value"] == 6 and k.loc["revenue", "value"] == 730.0
    assert k.loc["orders", "value"] == 10 and k.loc["repeat_rate", "value"] == 0.5     # A, B, D of 6
    assert (k.loc["new_customers", "value"], k.loc["returning_customers", "value"]) == (6, 0)
    assert not k["comparable"].any() and k["change"].isna().all()
    assert "No comparison" in short.notes[0]
    # 83 days >= two 30-day look-backs: the key figures are the last 30 days (02-27..03-28: A I3 50, B I5 60,
    # E I9 20, F I10 80) against the 30 before (01-28..02-26: A I2 50, D I7 200 + I8 100); A and B came back
    ov = overview(tx, horizon_days=30)
    k = ov.kpis.set_index("kpi")
    assert ov.recent and (ov.window, ov.previous) == (AnalysisPeriod("2023-02-27", "2023-03-28"),
                                                      AnalysisPeriod("2023-01-28", "2023-02-26"))
    assert k.loc["customers", ["value", "previous"]].tolist() == [4, 2] and k["comparable"].all()
    assert k.loc["revenue", "change"] == pytest.approx(-0.4)
    assert k.loc["returning_customers", ["value", "previous"]].tolist() == [2, 1]
    assert ov.period == AnalysisPeriod("2023-01-05", "2023-03-28")            # the monthly table: all the data
    m = ov.monthly.set_index(ov.monthly["month"].dt.strftime("%Y-%m"))
    assert m["revenue"].tolist() == [170.0, 350.0, 210.0]
    assert m["orders"].tolist() == [3, 3, 4]
    assert m["new_customers"].tolist() == [3, 1, 2] and m["returning_customers"].tolist() == [0, 1, 2]
    # active at the month's last covered day: 01-31 A,B,C; 02-28 A,D; 03-28 A,B,E,F
    assert m["active_customers"].tolist() == [3, 2, 4]
    assert m["active_complete"].tolist() == [False, True, True]    # 01-31 looks back to 01-02, before the data
    assert m["days"].tolist() == [27, 28, 28] and m["complete"].tolist() == [False, True, False]
    assert any("March 2023 is only partly" in n for n in ov.notes)


# ---- cohorts -----------------------------------------------------------------------------------------------------
def test_cohorts_by_hand(tx):
    t = cohort_table(tx)
    cells = {(f"{r.cohort:%Y-%m}", r.months_since): r for r in t.itertuples()}
    # January cohort A, B, C: Jan all three (170); Feb A (50); Mar A, B (110)
    assert [cells[("2023-01", k)].customers for k in range(3)] == [3, 1, 2]
    assert cells[("2023-01", 1)].share == pytest.approx(1 / 3)
    assert cells[("2023-01", 2)].revenue_per_customer == pytest.approx(110 / 3)
    assert cells[("2023-01", 2)].cumulative_revenue_per_customer == pytest.approx(110.0)   # (170+50+110)/3
    # February cohort D: Feb 300, nothing in March (a zero row, not a missing one)
    assert (cells[("2023-02", 1)].customers, cells[("2023-02", 1)].revenue) == (0, 0.0)
    # March cohort E, F: 100 over 2 customers; March is partial (data ends 03-28)
    assert cells[("2023-03", 0)].revenue_per_customer == 50.0
    assert [k for k, r in cells.items() if not r.complete] == [("2023-01", 2), ("2023-02", 1), ("2023-03", 0)]
    m = cohort_matrix(t, "share")
    assert list(m.index) == ["2023-01", "2023-02"]           # March has no complete month
    assert m.loc["2023-01"].tolist()[:2] == pytest.approx([1.0, 1 / 3]) and pd.isna(m.loc["2023-01", 2])
    curve = retention_curve(t).set_index("months_since")
    assert curve.loc[0, "cohort_customers"] == 4 and curve.loc[0, "revenue_per_customer"] == 117.5   # (170+300)/4
    assert curve.loc[1, "share"] == pytest.approx(1 / 3)


def test_cohorts_respect_the_period_start(tx):
    t = cohort_table(tx, AnalysisPeriod("2023-02-01", None))
    # only customers whose first purchase is on or after 02-01: D (February), E and F (March); A's February
    # purchase does not make a February cohort
    assert t.drop_duplicates("cohort")["cohort_size"].tolist() == [1, 2]


# ---- segment movement --------------------------------------------------------------------------------------------
def test_movement_by_hand(tx):
    mv = segment_movement(tx, "2023-02-15", "2023-03-28")
    # 02-15 (snapshot 02-16), 4 customers: recency A 6, D 13, C 22, B 27 -> R 5, 4, 3, 2; frequency A 2 -> F 5,
    # B C D tie on 1 -> average rank 2 of 4 -> F 3. A Champions (5,5), B At Risk (2,3), C Need Attention (3,3),
    # D Potential Loyalists (4,3).
    # 03-28 (snapshot 03-29), 6 customers: recency F 1, A 14, E 19, B 27, D 37, C 63 -> R 5, 5, 4, 3, 2, 1;
    # frequency A 3 -> 5, B D 2 -> rank 4.5/6 -> 4, C E F 1 -> rank 2/6 -> 2. A Champions, B Loyal (3,4),
    # C Hibernating (1,2), D At Risk (2,4), E and F Potential Loyalists (4,2), (5,2).
    seg = mv.customers.set_index("customer_id")[["segment_from", "segment_to"]].apply(tuple, axis=1).to_dict()
    assert seg == {"A": ("Champions", "Champions"), "B": ("At Risk", "Loyal"),
                   "C": ("Need Attention", "Hibernating"), "D": ("Potential Loyalists", "At Risk"),
                   "E": (NOT_YET, "Potential Loyalists"), "F": (NOT_YET, "Potential Loyalists")}
    assert list(mv.counts.index) == ["Champions", "Potential Loyalists", "Need Attention", "At Risk", NOT_YET]
    assert list(mv.counts.columns) == ["Champions", "Loyal", "Potential Loyalists", "At Risk", "Hibernating"]
    assert mv.counts.to_numpy().sum() == 6 and mv.counts.loc[NOT_YET, "Potential Loyalists"] == 2
    assert mv.row_share.loc[NOT_YET, "Potential Loyalists"] == 1.0
    assert mv.row_share.sum(axis=1).tolist() == [1.0] * 5
    seg_counts = mv.segments.set_index("segment")
    assert seg_counts.loc["Potential Loyalists"].tolist() == [1, 2, 1]
    assert seg_counts.loc["Need Attention"].tolist() == [1, 0, -1]
    cell = cell_customers(mv, "Potential Loyalists", "At Risk")
    assert cell["customer_id"].tolist() == ["D"]
    assert cell[["frequency_from", "monetary_from", "frequency_to", "monetary_to"]].iloc[0].tolist() == [1, 200, 2, 300]
    links = sankey_links(mv)
    assert len(links) == 5 and links.iloc[0].tolist() == [NOT_YET, "Potential Loyalists", 2]


def test_movement_dates_checked(tx):
    mv = segment_movement(tx, horizon_days=30)          # default: end (03-28) and 30 days earlier
    assert (mv.date_from, mv.date_to) == (date(2023, 2, 26), date(2023, 3, 28))
    with pytest.raises(DataError, match="first must come before the second"):
        segment_movement(tx, "2023-03-10", "2023-03-01")
    with pytest.raises(DataError, match="between 2023-01-05 and 2023-03-28"):
        segment_movement(tx, "2022-12-01", "2023-03-01")


# ---- CLI ---------------------------------------------------------------------------------------------------------
def _run(capsys, *args) -> tuple[int, dict | str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_cli_migration(tmp_path, capsys):
    f = write_csv(tmp_path / "six.csv")
    code, out = _run(capsys, "migration", f, "--from", "2023-02-15", "--to", "2023-03-28", "--json",
                     "--out", str(tmp_path / "moves.csv"))
    assert code == 0 and (out["from"], out["to"], out["customers"]) == ("2023-02-15", "2023-03-28", 6)
    assert out["matrix"]["Potential Loyalists"]["At Risk"] == 1 and out["matrix"][NOT_YET]["Potential Loyalists"] == 2
    counts = {s["segment"]: (s["customers_from"], s["customers_to"]) for s in out["segments"]}
    assert counts["Champions"] == (1, 1) and counts["Hibernating"] == (0, 1)
    assert len(pd.read_csv(tmp_path / "moves.csv")) == 6


def test_cli_cohorts_and_overview(tmp_path, capsys):
    f = write_csv(tmp_path / "six.csv")
    code, out = _run(capsys, "cohorts", f, "--json")
    assert code == 0 and out["cohorts"] == 3 and out["customers"] == 6 and out["partial_months"] == ["2023-03"]
    first = out["table"][0]
    assert (first["cohort"], first["months_since"], first["customers"], first["revenue"]) == ("2023-01", 0, 3, 170.0)
    code, out = _run(capsys, "overview", f, "--start", "2023-03-01", "--horizon", "30")
    kpis = {k["kpi"]: k for k in out["kpis"]}
    assert code == 0 and out["previous"] == {"start": "2023-02-01", "end": "2023-02-28"}
    assert (kpis["customers"]["value"], kpis["revenue"]["previous"]) == (4, 350.0)
    assert [m["month"] for m in out["monthly"]] == ["2023-03"]


def test_cli_bad_dates_one_line_exit_2(tmp_path, capsys):
    f = write_csv(tmp_path / "six.csv")
    code, err = _run(capsys, "migration", f, "--from", "2023-04-15")
    assert code == 2 and err.startswith("error: Movement dates") and err.count("\n") == 1
    code, err = _run(capsys, "cohorts", f, "--start", "2030-01-01")
    assert code == 2 and "No purchases between" in err


# ---- the same tables from a connection (the engines' path; tests/test_spark_insights.py runs them on Spark) -------
def test_connection_versions_equal_the_frame_versions(tmp_path, tx):
    from pipeline.cohorts import cohort_table_from_connection
    from pipeline.period import period_from_connection
    from pipeline.config import CleaningOptions
    from pipeline.engines.duckdb import DuckDBEngine
    from pipeline.ingest import fetch_transactions
    from pipeline.movement import segment_movement_from_connection

    con, _ = DuckDBEngine().clean(write_csv(tmp_path / "six.csv"), CleaningOptions())
    cleaned = fetch_transactions(con, "tx")
    # open or too wide sides are clamped to the data (01-05 .. 03-28), as resolve_period does
    assert period_from_connection(con, AnalysisPeriod("2022-01-01", "2024-01-01")) == AnalysisPeriod("2023-01-05",
                                                                                                     "2023-03-28")
    with pytest.raises(DataError, match="No purchases between"):
        period_from_connection(con, AnalysisPeriod("2024-01-01", None))
    for period in (None, AnalysisPeriod("2023-01-10", "2023-03-15")):
        t = cohort_table_from_connection(con, period)
        pd.testing.assert_frame_equal(t, cohort_table(cleaned, period))
        assert t.attrs["period"] == resolve_period(period, tx)
    # 01-10 .. 03-15: cohorts B, C (January: 70; B's 60 in March), D (February), E (March); F after the end
    assert t.drop_duplicates("cohort")["cohort_size"].tolist() == [2, 1, 1]
    assert t.loc[(t["cohort"] == "2023-01-01") & (t["months_since"] == 2), "revenue"].item() == 60.0
    with pytest.raises(DataError, match="No customer made a first purchase between 2023-03-20 and 2023-03-25"):
        cohort_table_from_connection(con, AnalysisPeriod("2023-03-20", "2023-03-25"))   # F buys first on 03-28
    period = AnalysisPeriod("2023-02-01", None)
    mv = segment_movement_from_connection(con, "2023-02-20", None, period)
    same = segment_movement(cleaned, "2023-02-20", None, period)
    for part in ("customers", "counts", "row_share", "segments"):
        pd.testing.assert_frame_equal(getattr(mv, part), getattr(same, part))
    # the period's start cuts both dates' data: from 02-01, A's January 100 no longer counts; C bought only in January
    a = mv.customers.set_index("customer_id").loc["A"]
    assert (a["frequency_from"], a["monetary_from"], a["frequency_to"], a["monetary_to"]) == (1, 50.0, 2, 100.0)
    assert "C" not in set(mv.customers["customer_id"]) and mv.date_to == date(2023, 3, 28)
    with pytest.raises(DataError, match="No purchases up to 2023-02-02"):    # 02-01 .. 02-02: nobody bought
        segment_movement_from_connection(con, "2023-02-02", "2023-03-01", period)


def test_rfm_from_connection_start(tmp_path):
    from pipeline.config import CleaningOptions
    from pipeline.engines.duckdb import DuckDBEngine
    from pipeline.rfm import rfm_from_connection

    con, _ = DuckDBEngine().clean(write_csv(tmp_path / "six.csv"), CleaningOptions())
    rfm = rfm_from_connection(con, "tx", start=date(2023, 2, 10)).set_index("customer_id")
    # from 02-10 (the day included), snapshot 03-29: A I2 + I3 (100), B I5, D I8 (100), E, F; C and D's I7 left out
    assert sorted(rfm.index) == ["A", "B", "D", "E", "F"]
    assert rfm.loc["A", ["frequency", "monetary"]].tolist() == [2, 100.0]
    assert rfm.loc["D", ["recency_days", "frequency", "monetary"]].tolist() == [37, 1, 100.0]


def test_cli_engine_option_on_duckdb(tmp_path, capsys):
    f = write_csv(tmp_path / "six.csv")
    for cmd in (["cohorts", f, "--start", "2023-01-10"], ["migration", f, "--from", "2023-02-15"]):
        code, default = _run(capsys, *cmd)
        code_duck, on_duckdb = _run(capsys, cmd[0], "--engine", "duckdb", *cmd[1:])
        assert code == code_duck == 0 and default == on_duckdb
