"""Upload page (AppTest): a second upload then Apply keeps the second file current, the sidebar lists every saved
dataset right after an upload, mapping reasons are shown, warnings offer a one-click switch, bad bytes give one
st.error and never a traceback."""
from __future__ import annotations

from fixtures import as_bytes
from real_exports import basket_log, elf_bytes, superstore


def _upload(at, name, data):
    at.file_uploader(key="uploader").upload(name, data, "text/csv")
    return at.run()


def _sidebar_app():
    from app import ui

    ui.sidebar()


def _two_datasets(tmp_path) -> tuple[str, str, str]:
    from pipeline.ingest import build_dataset
    from pipeline.store import Workspace, new_workspace_id

    ws = Workspace(new_workspace_id())
    ids = []
    for make in (superstore, basket_log):
        name, data = make()
        (tmp_path / name).write_bytes(data)
        ids.append(ws.save_dataset(build_dataset(tmp_path / name, name)).id)
    return ws.id, ids[0], ids[1]


def test_sidebar_follows_a_dataset_made_current_after_it_was_drawn(tmp_path):
    """The page saves and selects dataset B after the sidebar is drawn; the next run must keep B (it used to snap
    back to the picker's old value A and swallow the Apply click)."""
    from streamlit.testing.v1 import AppTest

    from app import keys

    ws_id, a, b = _two_datasets(tmp_path)
    at = AppTest.from_function(_sidebar_app, default_timeout=120)
    at.query_params[keys.WORKSPACE_PARAM] = ws_id
    at.session_state[keys.DATASET] = a
    at.run()
    picker = at.sidebar.selectbox(key=keys.SIDEBAR_DATASET)
    assert len(picker.options) == 2 and at.session_state[keys.DATASET] == a
    at.session_state[keys.DATASET] = b          # what a successful upload or Apply does on the page
    at.run()
    assert not at.exception and at.session_state[keys.DATASET] == b
    assert at.sidebar.selectbox(key=keys.SIDEBAR_DATASET).value == b
    at.sidebar.selectbox(key=keys.SIDEBAR_DATASET).select(a).run()     # the analyst's own pick still switches
    assert at.session_state[keys.DATASET] == a


def test_second_upload_then_apply_keeps_it_current(app):
    a_name, a = superstore()
    _upload(app, a_name, a)
    assert not app.exception and "Loaded 'superstore.csv'" in app.success[0].value
    b_name, b = basket_log()
    _upload(app, b_name, b)
    assert not app.exception and "Loaded 'Groceries_dataset.csv'" in app.success[0].value
    app.button(key="FormSubmitter:mapping-Apply mapping and clean").click().run()
    assert not app.exception and "Loaded 'Groceries_dataset.csv'" in app.success[0].value
    assert "Current dataset: Groceries_dataset.csv" in [s.value for s in app.subheader]
    assert any(m.label == "Items bought" for m in app.metric)      # a basket log: items, never money
    # a new session on the same workspace lists both saved datasets in the sidebar
    from streamlit.testing.v1 import AppTest

    from app import keys
    from conftest import APP

    again = AppTest.from_file(APP, default_timeout=300)
    again.query_params[keys.WORKSPACE_PARAM] = app.session_state[keys.WORKSPACE]
    again.run()
    assert len(again.sidebar.selectbox(key=keys.SIDEBAR_DATASET).options) == 2


def test_reasons_shown_and_warning_switches_rule_off(app):
    name, data = as_bytes("csv_utf8")          # 1 of 7 rows without a customer id, 1 cancellation: both > 10%
    _upload(app, name, data)
    md = " ".join(m.value for m in app.markdown)
    assert "named like customer id" in md and "Kind" in " ".join(c.value for c in app.caption)
    warnings = [w.value for w in app.warning]
    assert any("cancellation" in w for w in warnings) and any("no customer id" in w for w in warnings)
    assert app.metric[1].value == "5"                             # rows kept
    app.button(key="keep_cancellation_or_return").click().run()
    assert not app.exception
    assert not any("cancellation" in w.value for w in app.warning)
    # the cancellation line (quantity -1) is no cancellation any more, but its negative amount is: switch that off too
    assert any("zero or negative" in w.value for w in app.warning)
    app.button(key="keep_nonpositive_price").click().run()
    assert not app.exception and app.metric[1].value == "6"       # the line is kept now


def test_binary_bytes_give_one_error_and_no_traceback(app):
    name, data = elf_bytes()
    _upload(app, name, data)
    assert not app.exception
    assert len(app.error) == 1 and "binary" in app.error[0].value


def _no_amount_export() -> tuple[str, bytes]:
    """Online Retail's columns (quantity × unit price, no amount, no category), a few lines."""
    rows = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for i in range(40):
        rows.append(f"{536365 + i // 3},8512{i % 7}A,ITEM {i % 7},{1 + i % 5},2011-0{1 + i % 9}-0{1 + i % 8} 08:26:00,"
                    f"{1.25 + i % 4},{17850 + i % 9},United Kingdom")
    return "online_retail_head.csv", ("\n".join(rows) + "\n").encode()


def _field(at, label):
    return next(s for s in at.selectbox if s.label == label)


def test_second_file_shows_its_own_guesses_and_apply_keeps_its_amounts(app):
    """Upload A (no amount, no category) then B (a store export whose guesses are Amount = Sales, Category =
    Category): B's form shows B's guesses (it used to keep A's "— none —", and Apply turned B's sales into "Items
    bought" with no currency); every field is keyed by the file, so A's form comes back with A's own guesses."""
    import io

    import pandas as pd

    from app import ui

    a_name, a = _no_amount_export()
    _upload(app, a_name, a)
    assert not app.exception and _field(app, "Amount (line revenue)").value == "— none —"
    assert _field(app, "Category").value == "— none —"
    _field(app, "Category").set_value("Description")      # typed for A, never applied: must not reach B
    b_name, b = superstore()
    _upload(app, b_name, b)
    assert not app.exception and "Loaded 'superstore.csv'" in app.success[0].value
    assert _field(app, "Amount (line revenue)").value == "Sales"
    assert _field(app, "Category").value == "Category"
    assert _field(app, "Unit price").value == "— none —"
    assert any(c.value.startswith(f"Guessed for **{ui.md(b_name)}**") for c in app.caption)
    form_keys = [str(s.key) for s in app.selectbox if str(s.key).startswith("upload_")]
    assert len(form_keys) == 11 and all(k.endswith(".csv:") for k in form_keys)   # ten roles and the id column
    app.button(key="FormSubmitter:mapping-Apply mapping and clean").click().run()
    assert not app.exception and "Loaded 'superstore.csv' with the mapping" in app.success[0].value
    revenue = pd.read_csv(io.BytesIO(b))["Sales"].sum()
    metrics = {m.label: m.value for m in app.metric}
    assert "Items bought" not in metrics
    assert metrics["Revenue"] == f"${revenue:,.0f}", (metrics, revenue)      # B's amounts, in B's currency (USD)
    assert _field(app, "Currency of the amounts").value == "USD"
    _upload(app, a_name, a)                                # A again: its own guesses, not B's
    assert not app.exception and _field(app, "Amount (line revenue)").value == "— none —"
    assert _field(app, "Category").value == "— none —"


def test_another_sheet_of_a_workbook_starts_from_its_own_guesses(app, tmp_path):
    """An Excel file with two sheets: the form of the second sheet shows that sheet's guesses (Amount = Sales), not
    the first sheet's saved mapping or what its fields held."""
    import pandas as pd

    lines = pd.DataFrame({"Customer ID": ["A1", "A2", "A1", "A3"] * 5,
                          "Order Date": pd.date_range("2023-01-01", periods=20, freq="7D").strftime("%Y-%m-%d"),
                          "Quantity": [1, 2, 3, 4] * 5, "Unit Price": [2.5, 3.0, 1.25, 4.0] * 5})
    sales = lines.drop(columns=["Quantity", "Unit Price"]).assign(Sales=[10.5, 20.0, 7.25, 3.0] * 5,
                                                                  Category=["Toys", "Books"] * 10)
    path = tmp_path / "two_sheets.xlsx"
    with pd.ExcelWriter(path) as xl:
        lines.to_excel(xl, sheet_name="Lines", index=False)
        sales.to_excel(xl, sheet_name="Sales", index=False)
    app.file_uploader(key="uploader").upload(path.name, path.read_bytes(),
                                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    app.run()
    assert not app.exception and _field(app, "Unit price").value == "Unit Price"
    assert _field(app, "Amount (line revenue)").value == "— none —"
    _field(app, "Excel sheet").set_value("Sales").run()
    assert not app.exception
    assert (_field(app, "Amount (line revenue)").value, _field(app, "Category").value) == ("Sales", "Category")
    assert _field(app, "Unit price").value == "— none —"
