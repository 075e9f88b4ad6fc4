"""Table columns and chart labels in plain words: ``st.column_config`` for any table from :mod:`pipeline.labels`
(human header, help, money with the dataset's currency, shares as percentages), so pages never show raw names."""
from __future__ import annotations

from typing import Iterable

import streamlit as st

from app import ui
from pipeline.labels import help_text, label, value_format

__all__ = ["column_config", "column"]


def column(name: str):
    """The ``st.column_config`` entry of one column, from its label and format."""
    fmt, text, tip = value_format(name), ui.words(label(name)), help_text(name)     # "Share of items bought"
    if fmt in ("money", "money0"):
        return ui.money_column(text, 0 if fmt == "money0" else 2, help=tip)
    if fmt == "share":
        return st.column_config.NumberColumn(text, format="percent", help=tip)
    if fmt == "days":
        return st.column_config.NumberColumn(text, format="%,.0f", help=tip)       # whole days
    if fmt in ("count", "score"):
        return st.column_config.NumberColumn(text, format="localized", help=tip)
    if fmt == "decimal":
        return st.column_config.NumberColumn(text, format="%,.2f", help=tip)
    if fmt == "date":
        return st.column_config.DateColumn(text, format="YYYY-MM-DD", help=tip)
    return st.column_config.TextColumn(text, help=tip)


def column_config(columns: Iterable[str], **overrides) -> dict:
    """``column_config`` for ``st.dataframe`` / ``st.data_editor``: every column labelled; ``overrides`` win."""
    return {c: column(c) for c in columns} | overrides
