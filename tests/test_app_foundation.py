"""AppTest: the Upload and RFM pages through the real router; the app's cached loaders are keyed by all that
determines their results (two datasets, two rule sets or two tables never share one)."""
from __future__ import annotations

import ast
import dataclasses

import pandas as pd

from conftest import ROOT, dataset
from fixtures import as_bytes


def _upload(at, name, data):
    at.file_uploader(key="uploader").upload(name, data, "text/csv")
    return at.run()


def test_sample_data_one_click_then_segments(app):
    app.button(key="sample_synthetic").click().run()
    assert not app.exception and "Loaded" in app.success[0].value
    app.switch_page("pages/rfm.py").run()
    assert not app.exception
    assert [m.label for m in app.metric][:2] == ["Customers", "Revenue"]
    assert any("Champions" in str(df.value.to_dict()) for df in app.dataframe)


def test_upload_online_retail_csv_shows_segments(app):
    _upload(app, "online_retail.csv", dataset("online_retail.csv").read_bytes())
    assert not app.exception and not app.error
    assert any(m.label == "Customers" and m.value == "4,338" for m in app.metric)
    app.switch_page("pages/rfm.py").run()
    assert not app.exception
    assert app.metric[0].value == "4,338"
    summary = next(t.value for t in app.table if "Customers" in t.value.columns)   # the segment figures
    assert summary["Customers"].str.replace(",", "").astype(int).sum() == 4_338
    assert summary["Revenue"].str.startswith("£").all()


def test_bad_upload_keeps_previous_dataset(app):
    name, data = as_bytes("csv_utf8")
    _upload(app, name, data)
    assert not app.error
    _upload(app, "broken.csv", b"\x89PNG\r\n\x1a\n" + bytes(256))
    assert not app.exception
    assert "image" in app.error[0].value and len(app.error) == 1
    assert app.subheader[-1].value == "Current dataset: t.csv"     # the earlier dataset's report is still shown
    app.switch_page("pages/rfm.py").run()
    assert not app.exception and app.metric[0].value == "3"       # the earlier dataset is still current


def test_mapping_can_be_corrected(app):
    data = b"who,when,paid,note\n1,2020-01-01,5,a\n1,2020-02-01,7,b\n2,2020-02-03,3,c\n"
    _upload(app, "odd.csv", data)
    assert not app.exception          # no name matches customer id: the page asks for a mapping
    field = {s.label: s for s in app.selectbox}          # the fields are keyed by the file: find them by label
    field["Customer id"].set_value("who")
    field["Date-time"].set_value("when")
    field["Amount (line revenue)"].set_value("paid")
    app.radio[0].set_value("transactions")
    app.button[-1].click()
    app.run()
    assert not app.exception and not app.error
    assert any(m.label == "Customers" and m.value == "2" for m in app.metric)


def test_customer_table_upload(app):
    _upload(app, "Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes())
    assert not app.exception and not app.error
    assert app.metric[0].value == "200"
    app.switch_page("pages/rfm.py").run()
    assert not app.exception and "customers table" in app.info[0].value


# ---- cached loaders: keyed by what determines the result ---------------------------------------------------------
CACHED_MODULES = ["app/state.py", "app/insights.py", "app/campaign_ui.py", "app/table_explore.py", "pages/upload.py"]


def test_cached_loaders_take_no_unhashed_argument():
    """A parameter named ``_x`` is left out of Streamlit's cache key: whatever it carries could be served to a
    caller that passed something else. Every cached loader derives its data from hashed arguments instead."""
    for rel in CACHED_MODULES:
        for node in ast.walk(ast.parse((ROOT / rel).read_text())):
            cached = isinstance(node, ast.FunctionDef) and any(
                "cache_data" in ast.unparse(d) or "cache_resource" in ast.unparse(d) for d in node.decorator_list)
            if cached:
                args = [a.arg for a in node.args.args + node.args.kwonlyargs]
                assert not [a for a in args if a.startswith("_")], f"{rel}:{node.lineno} {node.name}({args})"


def _save(ws_id: str, rows: list[tuple], ds_id: str = "same-id"):
    """``rows`` (customer, invoice, day, amount) saved as dataset ``ds_id`` of workspace ``ws_id``; its key."""
    from app import state
    from pipeline.ingest import build_dataset
    from pipeline.store import Workspace

    ws = Workspace(ws_id)
    path = ws.path / f"{ds_id}.csv"
    path.write_text("InvoiceNo,InvoiceDate,CustomerID,StockCode,Quantity,UnitPrice\n"
                    + "".join(f"{i},{d},{c},P{n},1,{a}\n" for n, (c, i, d, a) in enumerate(rows)))
    ws.save_dataset(dataclasses.replace(build_dataset(path, path.name), id=ds_id))
    return state._key_of(ws, ds_id)


ROWS = [("A", "I1", "2023-01-05", 100), ("A", "I2", "2023-02-10", 50), ("A", "I3", "2023-03-15", 50),
        ("B", "I4", "2023-01-20", 40), ("B", "I5", "2023-03-02", 60), ("C", "I6", "2023-01-25", 30)]


def test_two_datasets_or_two_rule_sets_never_share_a_cached_result():
    from app import insights, state

    one = _save("ws_one", ROWS)
    other = _save("ws_two", ROWS[:3] + [("D", "I9", "2023-03-20", 999)])         # same dataset id, other data
    assert one.dataset_id == other.dataset_id and one != other
    assert set(state.loaded(one).transactions["customer_id"]) == {"A", "B", "C"}
    assert set(state.loaded(other).transactions["customer_id"]) == {"A", "D"}
    revenue = {k: insights._overview(k, None, 90).kpis.set_index("kpi")["value"].get("revenue") for k in (one, other)}
    assert revenue[one] == 330 and revenue[other] == 1199

    default = state.segment_rules().to_json(orient="records")
    everyone = pd.DataFrame([{"segment": "Everyone", "r_min": 1, "r_max": 5, "f_min": 1, "f_max": 5}])
    flat = state.rules_frame(default).pipe(lambda r: pd.concat([everyone, r])).to_json(orient="records")
    assert set(state._rfm(one, None, default, None)["segment"]) != {"Everyone"}
    assert set(state._rfm(one, None, flat, None)["segment"]) == {"Everyone"}              # rules changed: recomputed
    assert set(state._cluster_input(one, flat).table["segment"]) == {"Everyone"}

    again = _save("ws_one", ROWS[:5])                                              # the same dataset saved again
    assert again != one and set(state.loaded(again).transactions["customer_id"]) == {"A", "B"}


def test_a_table_passed_to_a_cached_loader_is_hashed_whole():
    """Streamlit samples the rows of a large frame when hashing; :func:`app.state.frame_digest` reads them all, so
    two response histories differing in one row of 200,000 get different learned policies."""
    from app import state

    big = pd.DataFrame({"x": range(200_000), "y": ["a"] * 200_000})
    changed = big.copy()
    changed.loc[123_457, "y"] = "b"
    assert state.frame_digest(big) == state.frame_digest(big.copy())
    assert state.frame_digest(changed) != state.frame_digest(big)
    assert state.frame_digest(big.rename(columns={"y": "z"})) != state.frame_digest(big)
    assert state.frame_digest(big.astype({"x": float})) != state.frame_digest(big)
