"""The input package's structure: one DuckDB connection factory, one read path, modules in layers (each imports only
the layers below it; import cycles anywhere are tests/test_architecture.py's)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

from fixtures import as_bytes, frame
from pipeline.config import DuckDBConfig
from pipeline.ingest import clean_file, clean_frame, connect, open_file, open_frame
from pipeline.ingest.read import PREVIEW_ROWS

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"

#: modules of pipeline.ingest, lowest layer first: each may import only modules before it
LAYERS = ["db", "unpack", "sniff", "excel", "jsonfile", "csvfile", "dates", "values", "lines", "orderfill", "platforms",
          "mapping", "parts", "read", "clean", "samples", "datasets"]


def _settings(con) -> tuple:
    return con.execute("SELECT current_setting('memory_limit'), current_setting('threads'), "
                       "current_setting('temp_directory'), current_setting('preserve_insertion_order')").fetchone()


def test_connect_applies_memory_limit_threads_and_spill_folder(tmp_path):
    mem, threads, temp, order = _settings(connect(DuckDBConfig(memory_limit="512MB", threads=1,
                                                               temp_directory=str(tmp_path))))
    assert mem.endswith("MiB") and float(mem.split()[0]) < 512 and threads == 1
    assert temp == str(tmp_path) and order is False


def test_connect_default_memory_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEGMENTS_DUCKDB_MEMORY", "256MB")
    mem, *_ = _settings(connect())
    assert mem.endswith("MiB") and float(mem.split()[0]) < 256


def test_no_duckdb_connection_is_opened_outside_the_factory():
    """Bounded memory everywhere: no module opens its own (unbounded) DuckDB connection or uses the default one."""
    pattern = re.compile(r"duckdb\.(connect|sql|query|execute|read_csv|from_df)\(")
    offenders = [str(p.relative_to(PIPELINE)) for p in PIPELINE.rglob("*.py")
                 if p != PIPELINE / "ingest" / "db.py" and pattern.search(p.read_text())]
    assert offenders == []


def test_rfm_table_uses_the_factory(monkeypatch):
    import pipeline.rfm as rfm

    calls = []

    def counting(config=None):
        calls.append(config)
        return connect(config)

    monkeypatch.setattr(rfm, "connect", counting)
    rfm.rfm_table(clean_frame(frame()).transactions)
    assert len(calls) == 1


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_ingest_modules_import_only_lower_layers():
    files = {p.stem for p in (PIPELINE / "ingest").glob("*.py")} - {"__init__"}
    assert files == set(LAYERS)
    for i, mod in enumerate(LAYERS):
        used = {m.split(".")[2] for m in _imports(PIPELINE / "ingest" / f"{mod}.py")
                if m.startswith("pipeline.ingest.")}
        assert used <= set(LAYERS[:i]), f"pipeline.ingest.{mod} imports {sorted(used - set(LAYERS[:i]))}"
        assert "pipeline.ingest" not in _imports(PIPELINE / "ingest" / f"{mod}.py")


def test_one_read_path_for_files_and_frames(tmp_path):
    name, data = as_bytes("csv_utf8")
    path = tmp_path / name
    path.write_bytes(data)
    from_file, from_frame = open_file(path), open_frame(frame())
    assert from_file.columns == from_frame.columns == list(frame().columns)
    assert from_file.n_rows() == from_frame.n_rows() == len(frame()) == len(from_file.frame())
    assert len(from_file.sample) == len(frame()) <= PREVIEW_ROWS and from_file.info.format == "csv"
    assert from_frame.info is None and from_file.frame(limit=2).shape == (2, len(frame().columns))
    a, b = clean_file(path), clean_frame(frame())
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    assert a.report.to_dict() == b.report.to_dict() and a.mapping == b.mapping


@pytest.mark.parametrize("rows", [PREVIEW_ROWS + 500])
def test_raw_sample_is_the_first_preview_rows(rows):
    df = pd.DataFrame({"CustomerID": [str(i) for i in range(rows)], "InvoiceDate": ["2011-01-01"] * rows,
                       "Amount": ["1.5"] * rows})
    raw = open_frame(df)
    assert len(raw.sample) == PREVIEW_ROWS and raw.n_rows() == rows
    assert list(raw.sample["CustomerID"]) == [str(i) for i in range(PREVIEW_ROWS)]
