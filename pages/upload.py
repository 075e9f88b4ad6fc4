"""Upload: built-in samples, file upload, column mapping editor, cleaning report, preview."""

import streamlit as st

from app import currency_ui, keys, state, ui, welcome
from pipeline.config import ROLES, CleaningOptions
from pipeline.errors import DataError
from pipeline.ingest import REASONS, SAMPLES, build_dataset, inspect_file, sample_dataset

ws = state.workspace()
st.title("Upload")
welcome.intro(bool(ws.list_datasets()))
st.caption("Transactions (one row per order line: customer, date, amount or quantity × price) or a customer table "
           "(one row per customer). CSV with any common delimiter or encoding, Excel (.xlsx) or Parquet.")


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def _inspect(path: str, filename: str, sheet: str | None):
    return inspect_file(path, filename, sheet)


def _save(make, label: str) -> None:
    """Build a dataset, save it and make it current; on bad input say why and keep everything as it was."""
    try:
        with st.spinner(f"Reading and cleaning {label}…"):
            ds = ws.save_dataset(make())
    except DataError as e:
        st.session_state[keys.LAST_MESSAGE] = state.Message("error", str(e))
        return
    state.set_current(ds.id)
    st.session_state[keys.STAGED] = None
    st.session_state[keys.LAST_MESSAGE] = state.Message("success", f"Loaded '{ds.name}'.")


cols = st.columns(len(SAMPLES) + 1)
cols[0].markdown("**No file at hand?**")
for col, (key, (label, desc)) in zip(cols[1:], SAMPLES.items()):
    if col.button(f"Load {label}", key=f"sample_{key}", help=desc, icon=":material/dataset:"):
        _save(lambda key=key: sample_dataset(key), label)
        st.rerun()

up = st.file_uploader("Upload a file (CSV, TSV, TXT, Excel .xlsx, Parquet)", key="uploader")
if up is not None and st.session_state.get(keys.UPLOAD_DONE) != up.file_id:
    st.session_state[keys.UPLOAD_DONE] = up.file_id
    path = ws.stage_upload(up.getvalue(), up.name)
    st.session_state[keys.STAGED] = state.UploadTarget(path.name, up.name)
    _save(lambda: build_dataset(path, up.name), up.name)
    if st.session_state.get(keys.STAGED):            # it failed: keep it for the mapping editor only if readable
        try:
            _inspect(str(path), up.name, None)
        except DataError:
            st.session_state[keys.STAGED] = None      # unreadable: the message says why; nothing to map

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
if upload is not None:
    prev = target.dataset
    st.subheader("Column mapping", help="Which column holds what. Guessed from the names; correct it and apply.")
    try:
        first = _inspect(str(upload), target.filename, None)
        sheets = list(first.info.sheets)
        current = prev.extra.get("sheet") if prev else first.sheet
        sheet = st.selectbox("Excel sheet", sheets, index=sheets.index(current) if current in sheets else 0,
                             key="sheet") if sheets else None
        insp = _inspect(str(upload), target.filename, sheet)
    except DataError as e:
        st.error(str(e), icon=":material/error:")
        insp = None
if upload is not None and insp is not None:
    with st.form("mapping"):
        kinds = ["transactions", "customers"]
        kind = st.radio("This file holds", kinds, index=kinds.index(prev.kind if prev else insp.kind),
                        format_func={"transactions": "Transactions", "customers": "A customer table"}.get,
                        horizontal=True)
        none = "— none —"
        options = [none] + insp.columns
        mapping = (prev.mapping if prev and prev.kind == "transactions" else None) or insp.mapping
        grid = st.columns(5)
        picked = {}
        for i, (role, label) in enumerate(ROLES.items()):
            cur = mapping.get(role)
            picked[role] = grid[i % 5].selectbox(label, options, index=options.index(cur) if cur in options else 0,
                                                 key=f"map_{role}")
        id_options = ["(row number)"] + insp.columns
        id_default = insp.id_column if insp.id_column in insp.columns else None
        id_col = st.selectbox("Customer table: id column", id_options,
                              index=id_options.index(id_default) if id_default else 0)
        with st.expander("Cleaning options"):
            prefix = st.text_input("Cancelled invoices start with", "C", max_chars=5)
            dedup = st.checkbox("Drop exact duplicate rows", True)
            dayfirst = st.checkbox("Ambiguous dates are day-first (31/12/2011)", False)
        if st.form_submit_button("Apply mapping and clean", type="primary"):
            roles = {r: (c if c != none else None) for r, c in picked.items()}
            opts = CleaningOptions(cancellation_prefix=prefix, drop_duplicates=dedup, dayfirst=dayfirst)
            _save(lambda: build_dataset(upload, target.filename, mapping=roles, kind=kind, options=opts,
                                        sheet=sheet, id_column=None if id_col == id_options[0] else id_col),
                  target.filename)
            st.rerun()

# ---- cleaning report and preview of the current dataset ---------------------------------------------------------
if ds is None:
    st.stop()
st.subheader(f"Current dataset: {ds.name}")
currency_ui.currency_picker(ds)
rep = ds.report
if ds.kind == "transactions":
    ui.metrics_row({"Rows read": f"{rep['rows_in']:,}", "Rows kept": f"{rep['rows_out']:,}",
                    "Customers": f"{rep['customers']:,}", "Invoices": f"{rep['invoices']:,}",
                    "Revenue": ui.money(rep["revenue"], 0)})
    st.markdown("**Cleaning report**")
    dropped = [{"rule": REASONS[k], "rows dropped": v, "share of rows": v / max(rep["rows_in"], 1)}
               for k, v in rep["dropped"].items()]
    st.dataframe(dropped, hide_index=True, column_config={
        "share of rows": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})
    st.caption(f"Dates read as {rep['date_format']} · {rep['date_min']} to {rep['date_max']} · "
               f"{rep['return_lines']:,} return lines kept aside for return rates.")
    for note in rep.get("notes", []):
        st.info(note, icon=":material/info:")
    st.markdown("**Preview** (first 200 cleaned rows)")
    st.dataframe(ds.transactions.head(200), hide_index=True)
else:
    ui.metrics_row({"Customers (rows)": f"{len(ds.customers):,}", "Columns": f"{ds.customers.shape[1] - 1}"})
    st.caption("A customer table: used by the Clusters and Model lab pages (RFM needs transactions).")
    st.dataframe(ds.customers.head(200), hide_index=True)
