"""AppTest: the Cohorts & movement page — cohort heatmap and table, the movement matrix and Sankey diagram, and
the customers behind a cell saved as a selection the Campaigns page can target. Figures of the 6-customer table
are checked by hand in tests/test_insights.py."""
from __future__ import annotations

from datetime import date

from app import keys
from pipeline.store import Workspace
from test_insights import write_csv


def _frame(app, column: str):
    """The first table on the page with ``column`` (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in app.dataframe if column in d.value.columns)


def _six(app, tmp_path):
    data = open(write_csv(tmp_path / "six.csv"), "rb").read()
    app.file_uploader(key="uploader").upload("six.csv", data, "text/csv")
    app.run()
    return app.switch_page("pages/movement.py").run()


def test_movement_page_on_the_sample(app):
    app.button(key="sample_synthetic").click().run()
    app.switch_page("pages/movement.py").run()
    assert not app.exception and not app.error
    assert app.title[0].value == "Cohorts & segment movement"
    assert [t.label for t in app.tabs] == ["Cohorts", "Segment movement"]
    assert len(app.get("plotly_chart")) == 3            # cohort heatmap, movement heatmap, Sankey
    assert _frame(app, "Month 0").shape[0] >= 6
    counts = _frame(app, "customers_to")
    assert counts["customers_to"].sum() >= counts["customers_from"].sum() > 0
    assert sum(e.label == "Details for analysts" for e in app.expander) == 2


def test_cell_customers_saved_as_a_selection(app, tmp_path):
    _six(app, tmp_path)
    assert not app.exception
    app.date_input(key="mv_from_2023-01-05_2023-03-28").set_value(date(2023, 2, 15)).run()
    cohort_table = _frame(app, "Month 0")
    assert cohort_table["First-purchase month"].tolist() == ["2023-01", "2023-02"]
    assert cohort_table["Customers"].tolist() == ["3", "1"]
    assert cohort_table.iloc[-1, -1] == "" and "None" not in cohort_table.to_string()   # a month still to come
    # the default cell is the biggest move between two different segments: 2 new customers -> Potential Loyalists
    assert app.selectbox(key="mv_cell_from").value == "Not a customer yet"
    assert set(_frame(app, "Segment before")["Spend (before)"]) == {"–"}     # not "None": no spend before
    app.selectbox(key="mv_cell_from").set_value("Potential Loyalists").run()
    app.selectbox(key="mv_cell_to").set_value("At Risk").run()
    assert _frame(app, "Segment before")["Customer"].tolist() == ["D"]
    assert app.text_input(key="mv_save_name").value == "Potential Loyalists → At Risk (2023-02-15 → 2023-03-28)"
    next(b for b in app.button if b.label == "Save as a selection").click().run()
    assert not app.exception and "Saved 1 customers" in app.success[0].value
    saved = Workspace(app.session_state[keys.WORKSPACE]).list_segments(app.session_state[keys.DATASET])
    assert [(s["customer_ids"], s["source"]) for s in saved] == [(["D"], "movement")]


def test_movement_needs_two_dates_in_order(app, tmp_path):
    _six(app, tmp_path)
    app.date_input(key="mv_from_2023-01-05_2023-03-28").set_value(date(2023, 3, 20))
    app.date_input(key="mv_to_2023-01-05_2023-03-28").set_value(date(2023, 3, 10)).run()
    assert not app.exception and "first must come before the second" in app.error[0].value
