"""Read JSON records into a DuckDB table of text columns: JSON Lines, a JSON array of objects, or one object that
wraps the list of records (``{"orders": [...]}``, as many APIs return).

Nested objects are flattened into dotted column names (``customer.email``, ``customer.address.city``); a list
(``line_items``) stays one column holding its JSON text. Values are kept as written (``"1997-01-01T12:00:00Z"`` is
not turned into a timestamp here): typing is cleaning's job, as for CSV.
"""
from __future__ import annotations

import json
import re

import duckdb

from pipeline.errors import DataError
from pipeline.ingest.db import quote_ident
from pipeline.ingest.excel import unique_names

__all__ = ["load_json", "json_columns"]

_HOW = "Export JSON Lines (one object per line) or an array of objects with named fields."


def load_json(con: duckdb.DuckDBPyConnection, files_sql: str, table: str) -> list[str]:
    """Load the JSON records of ``files_sql`` (a quoted path or a SQL list of paths, UTF-8) into table ``table``;
    return its column names.

    Raises
    ------
    DataError
        Malformed JSON, no records, or records that are not objects; one line each.
    """
    objects = f"(SELECT json AS j FROM read_json_objects({files_sql}, format = 'auto'))"
    n, structure = _structure(con, objects)
    if n == 1 and isinstance(structure, dict):       # one object wrapping the records: {"orders": [{...}, ...]}
        inner = [k for k, v in structure.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if inner:
            objects = f"(SELECT unnest(json_extract(j, {_path([inner[0]])} || '[*]')) AS j FROM {objects})"
            n, structure = _structure(con, objects)
    if n == 0:
        raise DataError(f"The JSON file holds no records (it is empty or an empty array). {_HOW}")
    if not isinstance(structure, dict) or not structure:
        raise DataError(f"The JSON records are not objects with named fields. {_HOW}")
    columns = json_columns(structure)
    names = unique_names([".".join(keys) for keys in columns])
    select = ", ".join(f"json_extract_string(j, {_path(keys)}) AS {quote_ident(name)}"
                       for keys, name in zip(columns, names))
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM {objects}")
    except duckdb.Error as e:
        raise _unreadable(e) from e
    return names


def _structure(con: duckdb.DuckDBPyConnection, objects: str) -> tuple[int, object]:
    """Number of records and their merged structure (``json_group_structure``) as Python objects."""
    try:
        n, structure = con.execute(f"SELECT count(*), json_group_structure(j) FROM {objects}").fetchone()
    except duckdb.Error as e:
        raise _unreadable(e) from e
    return int(n), json.loads(structure) if structure is not None else None


def _unreadable(e: duckdb.Error) -> DataError:
    why = re.sub(r'^[A-Za-z ]*Error: | in file "[^"]*"', "", str(e).splitlines()[0]).strip()
    return DataError(f"The JSON file could not be read ({why[:160]}). {_HOW}")


def json_columns(structure: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The leaf key paths of a merged record structure, in order: objects are walked, lists and values are leaves."""
    out: list[tuple[str, ...]] = []
    for key, value in structure.items():
        keys = (*prefix, str(key))
        if isinstance(value, dict) and value:
            out += json_columns(value, keys)
        else:
            out.append(keys)
    return out


def _path(keys: list[str] | tuple[str, ...]) -> str:
    """A JSON path literal with every key quoted (keys may hold dots or spaces)."""
    quoted = "".join('."' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)
    return "'$" + quoted.replace("'", "''") + "'"
