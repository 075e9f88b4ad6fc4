"""UI pieces of the Upload page: the column-mapping form (with the reason behind every guessed role), the cleaning
report with its warnings (each with a one-click switch for the rule), and the guarded save.

Nothing here reads or cleans data itself: that is :mod:`pipeline.ingest`; this module draws its results and turns
every failure into one ``st.error`` (never a traceback).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from app import keys, state, ui
from pipeline import units
from pipeline.config import ROLES, CleaningOptions
from pipeline.errors import DataError
from pipeline.ingest import REASONS, Inspection, build_dataset
from pipeline.store import Dataset

__all__ = ["save", "options_of", "mapping_form", "cleaning_report"]

_NONE = "— none —"
_KINDS = {"transactions": "Transactions", "customers": "A customer table"}


def _reason(text: str) -> str:
    """A guess's reason as Markdown: the column names it quotes in backticks shown as code (Markdown inside a code
    span is not interpreted), the rest escaped; escaped whole when the backticks do not pair up."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:
        return ui.md(text)
    return "".join(f"`{p}`" if i % 2 else ui.md(p) for i, p in enumerate(parts))


def save(make: Callable[[], Dataset], label: str, how: str = "") -> bool:
    """Build a dataset, save it and make it current; on bad input (or any failure) say why in one message and keep
    everything as it was; ``how`` ends the success message (e.g. " with the mapping below"). Returns True when
    saved."""
    ws = state.workspace()
    try:
        with st.spinner(f"Reading and cleaning {label}…"):
            ds = ws.save_dataset(make())
    except DataError as e:
        st.session_state[keys.LAST_MESSAGE] = state.Message("error", str(e))
        return False
    except Exception as e:  # noqa: BLE001 - the page never shows a traceback; the message names the problem
        st.session_state[keys.LAST_MESSAGE] = state.Message(
            "error", f"{label} could not be read ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                     "). Check that it is a CSV, Excel (.xlsx) or Parquet table; your saved datasets are unchanged.")
        return False
    state.set_current(ds.id)
    st.session_state[keys.STAGED] = None
    st.session_state[keys.LAST_MESSAGE] = state.Message("success", f"Loaded '{ds.name}'{how}.")
    return True


def options_of(ds: Dataset | None) -> CleaningOptions:
    """The cleaning options a dataset was built with (defaults for samples and older saves)."""
    saved = (ds.extra.get("options") if ds else None) or {}
    names = {f.name for f in dataclasses.fields(CleaningOptions)}
    return CleaningOptions(**{k: v for k, v in saved.items() if k in names})


def mapping_form(insp: Inspection, prev: Dataset | None, upload: Path, filename: str, sheet: str | None) -> None:
    """The mapping form of one file: kind, one select box per role (its reason as help and in the list above), the
    customer table's id column and the cleaning options; *Apply* rebuilds the dataset.

    Every field is keyed by the staged file (its content-addressed name) and sheet, so nothing picked or guessed for
    one file reaches another's form: a new file starts from its own guesses (or the mapping its dataset was saved
    with)."""
    scope = f"{upload.name}:{sheet or ''}"

    def key(field: str) -> str:
        return keys.upload_field(scope, field)

    st.caption(f"Guessed for **{ui.md(filename)}**{f' (sheet {ui.md(sheet)})' if sheet else ''} · "
               f"**Kind:** {_reason(insp.kind_reason)}")
    if insp.reasons:
        st.markdown("\n".join(f"- **{ROLES[r]}**: {_reason(why)}" for r, why in insp.reasons.items()))
    with st.form("mapping"):
        kinds = list(_KINDS)
        kind = st.radio("This file holds", kinds, index=kinds.index(prev.kind if prev else insp.kind),
                        format_func=_KINDS.get, horizontal=True, key=key("kind"))
        options = [_NONE] + insp.columns
        mapping = (prev.mapping if prev and prev.kind == "transactions" else None) or insp.mapping
        grid = st.columns(5)
        picked = {}
        for i, (role, label) in enumerate(ROLES.items()):
            cur = mapping.get(role)
            picked[role] = grid[i % 5].selectbox(label, options, index=options.index(cur) if cur in options else 0,
                                                 key=key(role), help=insp.reasons.get(role))
        id_options = ["(row number)"] + insp.columns
        id_default = insp.id_column if insp.id_column in insp.columns else None
        id_col = st.selectbox("Customer table: id column", id_options,
                              index=id_options.index(id_default) if id_default else 0, key=key("id_column"))
        opts = options_of(prev)
        with st.expander("Cleaning options"):
            prefix = st.text_input("Cancelled invoices start with (only where the rest has the shape of the other "
                                   "invoice ids, e.g. C536379 beside 536379)", opts.cancellation_prefix, max_chars=5,
                                   key=key("cancellation_prefix"))
            dedup = st.checkbox("Drop exact duplicate rows", opts.drop_duplicates, key=key("drop_duplicates"))
            dayfirst = st.checkbox("Ambiguous dates are day-first (31/12/2011)", bool(opts.dayfirst),
                                   key=key("dayfirst"))
        if st.form_submit_button("Apply mapping and clean", type="primary"):
            roles = {r: (c if c != _NONE else None) for r, c in picked.items()}
            new = dataclasses.replace(opts, cancellation_prefix=prefix, drop_duplicates=dedup, dayfirst=dayfirst)
            save(lambda: build_dataset(upload, filename, mapping=roles, kind=kind, options=new, sheet=sheet,
                                       id_column=None if id_col == id_options[0] else id_col), filename,
                 " with the mapping and cleaning options below")
            st.rerun()


def cleaning_report(ds: Dataset, upload: Path | None) -> None:
    """Rows dropped per rule, the warnings (rules dropping more than 10% of rows, with two example rows and a
    button that rebuilds the dataset with the rule switched off), the date format read and the notes."""
    rep = ds.report
    for w in rep.get("warnings", []):
        _warning(ds, w, upload)
    st.markdown("**Cleaning report**")
    dropped = pd.DataFrame([{"Rule": REASONS[k], "Rows dropped": f"{v:,}",
                             "Share of rows": units.percent(v / max(rep["rows_in"], 1), 1)}
                            for k, v in rep["dropped"].items()])
    st.table(dropped.set_index("Rule"))                  # a table wraps the rule's words; a grid cut them off
    fmt = rep.get("date_format_label") or rep["date_format"]
    st.caption(f"Dates read as {fmt} · {rep['date_min']} to {rep['date_max']} · "
               f"{rep['return_lines']:,} return lines kept aside for return rates.")
    if rep.get("kind_reason") or rep.get("mapping_reasons"):
        with st.expander("Why these columns"):
            st.markdown("\n".join([f"- **Kind**: {_reason(rep.get('kind_reason', ''))}"] +
                                  [f"- **{ROLES[r]}**: {_reason(why)}"
                                   for r, why in rep.get("mapping_reasons", {}).items()]))
    for note in rep.get("notes", []):
        st.info(note, icon=":material/info:")


def _warning(ds: Dataset, w: dict, upload: Path | None) -> None:
    st.warning(f"**{w['share']:.0%} of the rows ({w['rows']:,}) were dropped by one rule: {w['label'].lower()}.** "
               f"{w['fix']}", icon=":material/warning:")
    if w.get("examples"):                          # the empty cell that made the rule drop a row says so
        st.dataframe([{k: "(empty)" if v is None or v == "" else v for k, v in row.items()} for row in w["examples"]],
                     hide_index=True)
    if w.get("switch") and upload is not None:
        if st.button(f"Keep these rows: switch off “{w['label'].split(' (')[0].lower()}”", key=f"keep_{w['rule']}",
                     icon=":material/undo:"):
            opts = dataclasses.replace(options_of(ds), **{w["switch"]: False})
            save(lambda: build_dataset(upload, ds.extra.get("filename") or ds.name, mapping=ds.mapping,
                                       kind=ds.kind, options=opts, sheet=ds.extra.get("sheet")), ds.name)
            st.rerun()
