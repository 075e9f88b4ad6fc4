"""AppTest: the Overview page (the landing page once data is loaded) and the analysis period in the sidebar, which
is saved per dataset and respected by Overview and RFM. Figures of the 6-customer table are checked by hand in
tests/test_insights.py; here they must reach the page unchanged."""
from __future__ import annotations

from datetime import date

from streamlit.testing.v1 import AppTest

from app import keys
from conftest import APP
from pipeline.period import AnalysisPeriod, load_period
from pipeline.store import Workspace
from test_insights import write_csv


def _session(ws_id: str | None = None, state: dict | None = None) -> AppTest:
    """A fresh browser session (a reload) on the workspace ``ws_id``, with widget values ``state`` as the user set
    them. AppTest re-runs only the page after a session's first run, so the router's sidebar (where the period
    picker lives) is exercised on first runs."""
    at = AppTest.from_file(APP, default_timeout=300)
    if ws_id:
        at.query_params[keys.WORKSPACE_PARAM] = ws_id
    for key, value in (state or {}).items():
        at.session_state[key] = value
    return at.run()


def _upload_six(at: AppTest, tmp_path) -> AppTest:
    data = open(write_csv(tmp_path / "six.csv"), "rb").read()
    at.file_uploader(key="uploader").upload("six.csv", data, "text/csv")
    return at.run()


def _metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def test_overview_after_the_sample(app):
    app.button(key="sample_synthetic").click().run()
    app.switch_page("pages/overview.py").run()
    assert not app.exception and not app.error
    assert app.title[0].value == "Overview"
    assert list(_metrics(app))[:6] == ["Customers", "Active customers", "Revenue", "Orders", "Average order value",
                                       "Repeat-purchase rate"]
    assert len(app.get("plotly_chart")) == 2
    assert any(e.label == "Details for analysts" for e in app.expander)


def test_overview_figures_of_six_customers(app, tmp_path):
    _upload_six(app, tmp_path)
    app.switch_page("pages/overview.py").run()
    assert not app.exception
    m = _metrics(app)
    # whole data 2023-01-05..03-28: 6 customers, 10 orders, 730 revenue, AOV 73, A B D bought twice or more
    assert m["Customers"][0] == "6" and m["Orders"][0] == "10" and m["Repeat-purchase rate"][0] == "50.0%"
    assert "730.00" in m["Revenue"][0] and "73.00" in m["Average order value"][0]
    assert (m["New customers"][0], m["Returning customers"][0]) == ("6", "0")
    assert all(not delta for _, delta in m.values())           # nothing before the data to compare with
    assert any("No comparison" in c.value for c in app.caption)


def test_period_opens_on_overview_is_saved_and_respected(app, tmp_path):
    _upload_six(app, tmp_path)
    ws_id, ds_id = app.session_state[keys.WORKSPACE], app.session_state[keys.DATASET]
    reload = _session(ws_id)                                   # with data, the plain address opens the Overview
    assert not reload.exception and reload.title[0].value == "Overview"
    start_key = keys.period_widget(ds_id, "start")
    assert reload.date_input(key=start_key).value == date(2023, 1, 5)
    picked = _session(ws_id, {start_key: date(2023, 3, 1)})   # the analyst picks 1 March as the start
    assert not picked.exception
    m = _metrics(picked)
    # March against February (see test_insights): 4 customers vs 2, revenue 210 vs 350 -- two customers are too
    # few to compare with (pipeline.units.MIN_BASE), so no "+100.0%"
    assert m["Customers"] == ("4", "too few to compare") and m["Revenue"] == ("$210.00", "too few to compare")   # default currency
    assert load_period(Workspace(ws_id), ds_id) == AnalysisPeriod(date(2023, 3, 1), None)
    again = _session(ws_id)                                    # the period survives a reload
    assert again.date_input(key=start_key).value == date(2023, 3, 1)
    assert _metrics(again)["Customers"][0] == "4"
    assert again.button(key=f"period_reset_{ds_id}").label == "All dates"   # offered while the period is narrowed
    again.switch_page("pages/rfm.py").run()
    assert not again.exception and again.metric[0].value == "4"     # RFM of March's buyers A, B, E, F
