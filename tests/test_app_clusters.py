"""AppTest of the Clusters page: sample data, Mall_Customers, selection to a segment, renaming, new customer,
bad input, and TensorFlow staying unloaded until the sequence tab's button."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.cluster_charts import selected_ids
from browser_support import workspace_id
from conftest import ROOT, dataset
from pipeline.store import Workspace

INCOME, SCORE = "Annual Income (k$)", "Spending Score (1-100)"
PAGE = "pages/clusters.py"


def _by_label(elements, label):
    return next(e for e in elements if e.label == label)


def _figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _map(at) -> dict:
    return next(f for f in _figures(at) if any(t.get("name") == "cluster centres" for t in f["data"]))


def _table_with(at, column: str):
    """The first st.dataframe that has ``column`` (read-only dataframes carry no key in AppTest)."""
    return next((d.value for d in at.dataframe if column in d.value.columns), None)


def _workspace(at) -> Workspace:
    return Workspace(at.session_state["workspace_id"])


def _upload(at, name: str, data: bytes):
    at.file_uploader(key="uploader").upload(name, data, "text/csv")
    at.run()
    assert not at.exception and not at.error
    return at.switch_page(PAGE).run()


@pytest.fixture
def sample(app):
    app.button(key="sample_synthetic").click().run()
    app.switch_page(PAGE).run()
    assert not app.exception and not app.error
    return app


def test_sample_data_sweep_map_profiles_and_autosave(sample):
    at = sample
    assert [m.label for m in at.metric] == ["Customers", "Groups", "Smallest group", "Largest group"]
    assert at.metric[0].value == "4,997"
    sweep = _table_with(at, "inertia")
    assert sweep["k"].tolist() == list(range(2, 11)) and sweep["silhouette"].between(-1, 1).all()
    k = at.number_input(key="clu_k").value
    assert any(c.value.startswith(f"Recommended: {k} groups: the most clearly separated") for c in at.caption)
    assert int(at.metric[1].value) == k and 3 <= k <= 8                  # campaigns: never k = 2
    assert any("Silhouette **" in m.value for m in at.markdown)           # technical scores: details for analysts
    fig = _map(at)
    points = [t for t in fig["data"] if t["name"] not in ("cluster centres",)]
    assert len(points) == k and sum(len(t["customdata"]) for t in points) == 4_997
    assert "Customer %{customdata[0]}" in points[0]["hovertemplate"] and "Total spend" in points[0]["hovertemplate"]
    assert "monetary" not in points[0]["hovertemplate"]                   # human labels, not column names
    assert "PC1" in fig["layout"]["xaxis"]["title"]["text"]          # 3 features: a PCA map
    profiles = at.data_editor[0].value
    assert profiles["size"].sum() == 4_997 and abs(profiles["revenue_share"].sum() - 1) < 1e-9
    assert profiles["top_segments"].str.len().gt(0).all() and profiles["name"].is_unique
    centre_colours = next(t for t in fig["data"] if t["name"] == "cluster centres")["marker"]["color"]
    assert [t["marker"]["color"] for t in points] == centre_colours     # one colour per cluster, everywhere
    saved = _workspace(at).load_clustering("sample-synthetic")          # saved automatically the first time
    assert saved is not None and len(saved[0]) == 4_997 and saved[1]["k"] == k
    assert list(saved[0].columns) == ["customer_id", "cluster", "cluster_name", "x", "y"]


def test_whole_cluster_selection_download_and_segment(sample):
    at = sample
    size0 = int(at.data_editor[0].value["size"].iloc[0])
    _by_label(at.multiselect, "Select whole clusters").set_value([0]).run()
    picked = _table_with(at, "cluster_name")
    assert len(picked) == size0 and set(picked["cluster"]) == {0}
    assert {"clu_dl_csv", "clu_dl_xlsx"} <= {b.key for b in at.get("download_button")}
    at.text_input(key="clu_seg_name").set_value("biggest cluster")
    next(b for b in at.button if b.label == "Save as a segment").click().run()
    assert not at.exception and "Saved" in at.success[-1].value
    segs = _workspace(at).list_segments("sample-synthetic")
    assert [s["name"] for s in segs] == ["biggest cluster"] and len(segs[0]["customer_ids"]) == size0
    assert segs[0]["source"] == "clusters"
    at.switch_page("pages/rfm.py").run()
    assert "biggest cluster" in _by_label(at.selectbox, "Saved selection").options


def test_rename_cluster_and_the_clustering_in_use(sample):
    at = sample
    editor = at.data_editor[0].key
    at.session_state[editor] = {"edited_rows": {0: {"name": "the regulars"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="clu_save_names").click().run()
    assert not at.exception and not at.error
    assert at.data_editor[0].value["name"].iloc[0] == "the regulars"
    assert _map(at)["data"][0]["name"] == "0 · the regulars"
    assignments, meta = _workspace(at).load_clustering("sample-synthetic")    # the clustering in use follows
    assert meta["names"]["0"] == "the regulars"
    assert set(assignments.loc[assignments["cluster"] == 0, "cluster_name"]) == {"the regulars"}
    k = at.number_input(key="clu_k").value                              # another k: in use only on request
    at.number_input(key="clu_k").set_value(k + 1).run()
    assert any(f"In use for customer lookup: K-Means, k = {k}," in c.value for c in at.caption)
    at.button(key="clu_use").click().run()
    assert _workspace(at).load_clustering("sample-synthetic")[1]["k"] == k + 1
    assert any(c.value == "This clustering is in use for customer lookup." for c in at.caption)


def test_k_survives_a_reload(sample):
    from streamlit.testing.v1 import AppTest

    at = sample
    k = at.number_input(key="clu_k").value
    at.number_input(key="clu_k").set_value(k + 2).run()
    ws_id = at.session_state["workspace_id"]
    again = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)   # a reload: a new session
    again.query_params["ws"] = ws_id
    again.run()
    again.switch_page(PAGE).run()
    assert not again.exception and again.number_input(key="clu_k").value == k + 2
    assert int(again.metric[1].value) == k + 2


def test_mall_income_by_spending_map_k5_and_new_customer(app):
    at = _upload(app, "Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes())
    assert not at.exception and not at.error and at.metric[0].value == "200"
    _by_label(at.multiselect, "Features").set_value([INCOME, SCORE]).run()
    assert at.number_input(key="clu_k").value == 5                       # the sweep's recommendation
    fig = _map(at)
    assert fig["layout"]["xaxis"]["title"]["text"] == INCOME             # two features: raw axes, no PCA
    assert fig["layout"]["yaxis"]["title"]["text"] == SCORE
    profiles = at.data_editor[0].value
    assert len(profiles) == 5 and profiles["size"].sum() == 200 and "revenue_share" not in profiles
    rich = profiles.index[(profiles[INCOME] > 60) & (profiles[SCORE] > 50)][0]
    at.toggle(key="clu_new_on").set_value(True)
    _by_label(at.number_input, INCOME).set_value(120.0)
    _by_label(at.number_input, SCORE).set_value(90.0).run()
    assert not at.exception
    assert f"cluster {profiles.loc[rich, 'cluster']}:" in at.success[0].value
    star = next(t for t in _map(at)["data"] if t["name"].startswith("new customer"))
    assert star["x"] == [120.0] and star["y"] == [90.0] and star["marker"]["symbol"] == "star"


def test_mall_other_algorithms_and_tsne(app):
    at = _upload(app, "Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes())
    _by_label(at.multiselect, "Features").set_value(["Genre", "Age", INCOME, SCORE]).run()
    for method in ("gmm", "agglomerative", "hdbscan"):
        at.selectbox(key="clu_method").set_value(method).run()
        assert not at.exception and not at.error, method
        assert at.data_editor[0].value["size"].sum() == 200
    assert _table_with(at, "inertia") is None     # HDBSCAN has no k to sweep
    _by_label(at.selectbox, "Map").set_value("tsne").run()
    assert not at.exception and not at.error
    assert _map(at)["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"


@pytest.mark.parametrize("name, data, action, message", [
    ("three.csv", b"customer_id,age,income\n1,20,30\n2,40,60\n3,60,20\n", "k5", "cannot form k=5"),
    ("one.csv", b"customer_id,age,income\n1,20,30\n", None, "at least 2"),
    ("constant.csv", b"customer_id,age,income\n1,20,30\n2,20,30\n3,20,30\n4,20,30\n", None, "constant"),
    ("empty_col.csv", b"customer_id,age,note\n1,20,\n2,40,\n3,60,\n4,30,\n", "note", "no values at all"),
    ("text.csv", b"customer_id,name\n" + b"".join(f"{i},person {i}\n".encode() for i in range(80)), None,
     "more than 50 categories"),
])
def test_bad_input_shows_the_rule(app, name, data, action, message):
    at = _upload(app, name, data)
    if action == "k5":
        assert not at.error
        at.number_input(key="clu_k").set_value(5).run()
    elif action == "note":
        _by_label(at.multiselect, "Features").set_value(["age", "note"]).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value


def test_selected_ids_from_lasso_points():
    points = [{"curve_number": 0, "point_index": 3, "customdata": ["C7", "x", 1.0]},
              {"curve_number": 2, "point_index": 0, "x": 1, "y": 2},                # a cluster centre
              {"curve_number": 1, "point_index": 1, "customdata": ["0042", "y", 2.0]},
              {"curve_number": 0, "point_index": 3, "customdata": ["C7", "x", 1.0]}]
    assert selected_ids(points) == ["C7", "0042"]
    assert selected_ids([]) == [] and selected_ids(None) == []


def test_page_load_does_not_import_tensorflow(tmp_path):
    script = f"""
import os, sys
os.environ["SEGMENTS_WORKSPACE"] = {str(tmp_path / "ws")!r}
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=300)
at.run()
at.button(key="sample_synthetic").click().run()
at.switch_page("pages/clusters.py").run()
assert not at.exception and len(at.metric) == 4, at.exception
print("TF" if "tensorflow" in sys.modules or "keras" in sys.modules else "NO-TF")
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "NO-TF"


@pytest.mark.slow
def test_sequence_tab_trains_and_compares(sample):
    at = sample
    at.number_input(key="clu_seq_epochs").set_value(2)
    at.number_input(key="clu_seq_k").set_value(3)
    next(b for b in at.button if "GRU" in b.label).click().run()
    assert not at.exception and not at.error
    table = _table_with(at, "stability_ari")
    assert table["method"].tolist() == ["GRU autoencoder + K-Means", "K-Means on RFM"]
    assert table["clusters"].tolist() == [3, 3] and table["stability_ari"].between(-1, 1).all()
    titles = [f["layout"].get("title", {}).get("text") for f in _figures(at)]
    assert "GRU autoencoder + K-Means" in titles and "K-Means on RFM" in titles


@pytest.mark.browser
@pytest.mark.slow
def test_lasso_on_the_map_in_a_real_browser(page, server):
    """Lasso a region of the map in Chromium: the selected customers are listed (the path AppTest cannot drive)."""
    page.goto(f"{server}/?ws={workspace_id(server, 'lasso')}")
    page.get_by_role("button", name="Load Synthetic gift shop").click()
    page.get_by_text("Loaded 'Synthetic").wait_for()
    page.get_by_role("link", name="Clusters").first.click()
    page.get_by_text("Group profiles").wait_for()
    area = page.locator(".js-plotly-plot").nth(1).locator(".nsewdrag").first       # the map (after the sweep)
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    corners = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.31)]
    xy = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in corners]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=10)
    page.mouse.up()
    text = page.get_by_text("customers selected.").inner_text()
    assert 0 < int(text.split()[0].replace(",", "")) < 4_997
    page.get_by_text("Download CSV").first.wait_for()
