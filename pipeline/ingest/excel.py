"""Read the sheets of an .xlsx workbook as text tables (calamine, Rust: ~10x faster than openpyxl).

Date cells become ISO text, whole numbers lose their ``.0``, empty cells are None; the first non-blank row is the
header. Every sheet of the one workbook being read is kept (cached), so that choosing the sheet by its content
(:mod:`pipeline.ingest.parts`) and then loading it costs one read of the file.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import DataError

__all__ = ["workbook_sheets", "sheet_frame", "unique_names"]


def workbook_sheets(path: Path) -> dict[str, pd.DataFrame]:
    """Every sheet of the workbook at ``path`` as a text frame (header from the first non-blank row), in order."""
    return _workbook(Path(path), Path(path).stat().st_mtime_ns)


def sheet_frame(path: Path, sheet: str) -> pd.DataFrame:
    """One sheet as a text frame with unique column names (a copy: the cached frame is never changed).

    Raises
    ------
    DataError
        The sheet is not in the workbook, or it is empty.
    """
    sheets = workbook_sheets(path)
    if sheet not in sheets:
        raise DataError(f"Sheet {sheet!r} is not in this workbook; it has {', '.join(sheets)}.")
    df = sheets[sheet].copy()
    if df.dropna(how="all").empty or df.shape[1] == 0:
        raise DataError(f"Sheet {sheet!r} is empty. Pick the sheet that holds the table.")
    df.columns = unique_names([str(c) for c in df.columns])
    return df


@functools.lru_cache(maxsize=1)
def _workbook(path: Path, mtime_ns: int) -> dict[str, pd.DataFrame]:
    from python_calamine import CalamineWorkbook

    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            return {name: _frame(wb.get_sheet_by_name(name).to_python(skip_empty_area=False))
                    for name in wb.sheet_names}
    except Exception as e:  # calamine raises its own error types for corrupt workbooks
        raise DataError(f"This Excel file could not be read ({type(e).__name__}). Re-save it as .xlsx or CSV.") from e


def _frame(rows: list[list]) -> pd.DataFrame:
    while rows and all(v == "" or v is None for v in rows[0]):      # blank rows above the header
        rows = rows[1:]
    if not rows:
        return pd.DataFrame()
    width = max(len(r) for r in rows)
    header = [_cell_text(v) or f"column_{j + 1}" for j, v in enumerate(list(rows[0]) + [""] * (width - len(rows[0])))]
    body = rows[1:]
    cols = [_excel_column([r[j] if j < len(r) else None for r in body]) for j in range(width)]
    return pa.Table.from_arrays(cols, names=[str(j) for j in range(width)]).to_pandas().set_axis(header, axis=1)


def _excel_column(values: list) -> pa.Array:
    """One column of cells as Arrow text: a column of one type (numbers, dates) is converted in C by Arrow; a mixed
    column (``85123A`` beside ``71053``) cell by cell."""
    values = [None if v == "" else v for v in values]
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_cell_text(v) for v in values], type=pa.string())
    if pa.types.is_timestamp(arr.type):     # a cast, not strftime: the same text 20x faster (0.04 s vs 0.77 s)
        return arr.cast(pa.timestamp("s"), safe=False).cast(pa.string())
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    return pc.cast(arr, pa.string())


def _cell_text(v: object) -> str | None:
    """A calamine cell as text: ``''`` -> None, ``17850.0`` -> ``17850``, a datetime -> ``2010-12-01 08:26:00``."""
    t = type(v)
    if t is str:
        return v or None
    if t is float:
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if v is None:
        return None
    if t is bool or t is int:
        return str(v)
    if hasattr(v, "hour") and hasattr(v, "day"):
        return v.isoformat(sep=" ")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique by suffixes (``Description``, ``Description_1``)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}_{k}")
        seen[n] = k + 1
    return out
