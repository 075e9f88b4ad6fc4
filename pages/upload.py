"""Upload: built-in samples, file upload, column mapping editor (with reasons), cleaning report (with warnings),
preview."""

import pandas as pd
import streamlit as st

from app import currency_ui, keys, labels_ui, state, ui, upload_ui, welcome
from app.source_ui import database_form
from pipeline.errors import DataError
from pipeline.ingest import SAMPLES, build_dataset, inspect_file, sample_dataset

ws = state.workspace()
st.title("Upload")
welcome.intro(bool(ws.list_datasets()))
st.caption("Transactions (one row per order line: customer, date, and an amount, quantity × price, or nothing — a "
           "basket log counts items) or a customer table (one row per customer). CSV/TSV/TXT with any common "
           "delimiter, whitespace-aligned text, with or without a header row, in any common encoding; JSON Lines or "
           "JSON arrays of records; Excel (.xlsx; the sheet that holds transactions is found) or Parquet; any of "
           "these compressed (.gz, .bz2, .zst) or in a .zip.")


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def _inspect(path: str, filename: str, sheet: str | None):
    return inspect_file(path, filename, sheet)


cols = st.columns(len(SAMPLES) + 1)
cols[0].markdown("**No file at hand?**")
for col, (key, (label, desc)) in zip(cols[1:], SAMPLES.items()):
    if col.button(f"Load {label}", key=f"sample_{key}", help=desc, icon=":material/dataset:"):
        upload_ui.save(lambda key=key: sample_dataset(key), label)
        st.rerun()

up = st.file_uploader("Upload a file (CSV, TSV, TXT, JSON, Excel .xlsx, Parquet; also .gz, .bz2, .zst, .zip)",
                      key="uploader")
if up is not None and st.session_state.get(keys.UPLOAD_DONE) != up.file_id:
    st.session_state[keys.UPLOAD_DONE] = up.file_id
    path = ws.stage_upload(up.getvalue(), up.name)
    st.session_state[keys.STAGED] = state.UploadTarget(path.name, up.name)
    if upload_ui.save(lambda: build_dataset(path, up.name), up.name):
        st.rerun()                                    # the sidebar, drawn before this page, lists it at once
    try:                                              # it failed: keep it for the mapping editor only if readable
        _inspect(str(path), up.name, None)
    except Exception:  # noqa: BLE001 - unreadable: the message says why; nothing to map
        st.session_state[keys.STAGED] = None

database_form()                                       # or read by a SQL query (remembered for refresh)

message = st.session_state.pop(keys.LAST_MESSAGE, None)
if message is not None and message.kind == "error":
    st.error(message.text, icon=":material/error:")
elif message is not None:
    st.success(message.text, icon=":material/check_circle:")
    st.page_link(ui.RFM_PAGE, label="See the RFM segments", icon=":material/arrow_forward:")

# ---- mapping editor: for an upload that failed, else for the current dataset ----------------------------------
ds = state.current_dataset()
staged = st.session_state.get(keys.STAGED)
target = staged or (state.UploadTarget(ds.extra.get("upload"), ds.name, ds) if ds else None)
upload = ws.upload_path(target.path) if target else None
insp = None
if upload is not None:
    base = target.dataset
    st.subheader(f"Column mapping: {ui.md(target.filename)}",
                 help="Which column holds what, guessed from this file's names and values (the reason is beside each "
                      "role); correct it and apply.")
    try:
        first = _inspect(str(upload), target.filename, None)
        sheets = list(first.info.sheets)
        current = base.extra.get("sheet") if base else first.sheet
        lines = {p.name: p.line for p in first.parts}                  # "Orders — 1,204 rows × 8 columns: …"
        label = "File in the archive" if first.info.container == "zip" else "Excel sheet"
        sheet = st.selectbox(label, sheets, index=sheets.index(current) if current in sheets else 0,
                             format_func=lambda n: lines.get(n, n),
                             key=keys.upload_field(upload.name, "sheet")) if sheets else None
        insp = _inspect(str(upload), target.filename, sheet)
        same_sheet = base is not None and base.extra.get("sheet") in (None, insp.sheet)
        prev = base if same_sheet else None          # another sheet of the file starts from its own guesses
    except DataError as e:
        st.error(str(e), icon=":material/error:")
    except Exception as e:  # noqa: BLE001 - never a traceback on the page
        st.error(f"This file could not be read ({type(e).__name__}). Upload a CSV, Excel (.xlsx) or Parquet table.",
                 icon=":material/error:")
if insp is not None:
    upload_ui.mapping_form(insp, prev, upload, target.filename, sheet)

# ---- cleaning report and preview of the current dataset ---------------------------------------------------------
if ds is None:
    st.stop()
st.subheader(f"Current dataset: {ds.name}")
currency_ui.currency_picker(ds)
rep = ds.report
if ds.kind == "transactions":
    items = rep.get("monetary_unit") == "items"
    ui.metrics_row({"Rows read": f"{rep['rows_in']:,}", "Rows kept": f"{rep['rows_out']:,}",
                    "Customers": f"{rep['customers']:,}", "Invoices": f"{rep['invoices']:,}",
                    ui.words("Revenue"): ui.money(rep["revenue"], 0)})            # "Items bought: 4,816 items"
    upload_ui.cleaning_report(ds, ws.upload_path(ds.extra.get("upload")))
    st.markdown("**Preview** (first 200 cleaned rows)")
    preview = ds.transactions.head(200).dropna(axis=1, how="all")           # no column of empty cells
    if items:                                                               # a line is worth its quantity
        preview = preview.drop(columns=["unit_price", "amount"], errors="ignore")
    preview = preview.fillna({c: "–" for c in preview.columns if not pd.api.types.is_numeric_dtype(preview[c])
                              and not pd.api.types.is_datetime64_any_dtype(preview[c])})
    st.dataframe(preview, hide_index=True, column_config=labels_ui.column_config(
        preview.columns, date=st.column_config.DatetimeColumn("Date", format="YYYY-MM-DD HH:mm")))
else:
    ui.metrics_row({"Customers (rows)": f"{len(ds.customers):,}", "Columns": f"{ds.customers.shape[1] - 1}"})
    st.caption(f"A customer table: used by the Clusters and Model lab pages (RFM needs transactions). "
               f"{ui.md(rep.get('kind_reason', ''))}")
    st.dataframe(ds.customers.head(200), hide_index=True)
