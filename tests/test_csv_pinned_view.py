"""A UTF-8 CSV behind a view is read with the dialect sniffed once made explicit (issue 22, one pass): later
statements bind without re-running DuckDB's sniffer, and the rows are the ones the auto-detecting reader gives."""
from __future__ import annotations

import re

import duckdb
import pytest

from pipeline.ingest.read import open_file

_OPTIONS = ("all_varchar=true, quote='\"', escape='\"', strict_mode=false, max_line_size=20000000")


def _view_sql(raw) -> str:
    return raw.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'raw'").fetchone()[0]


def _auto_rows(path, delim: str, header: bool, extra: str = "") -> list[tuple]:
    q = f"SELECT * FROM read_csv('{path}', delim='{delim}', header={str(header).lower()}, {_OPTIONS}{extra})"
    return duckdb.connect().execute(q).fetchall()


@pytest.mark.parametrize("text, delim", [
    ('id,date,amount\r\nC1,2011-01-02,"1,5"\r\nC2,2011-01-03,"a\r\nb"\r\nC\'3,2011-01-04,7\r\n', ","),
    ("kund;datum;belopp;kund\nK1;02.01.2011;3,50;x\nK2;03.01.2011;4;y\n", ";"),
])
def test_view_is_pinned_and_rows_equal_the_auto_detected_read(tmp_path, text, delim):
    p = tmp_path / "t.csv"
    p.write_bytes(text.encode())
    raw = open_file(p)
    sql = _view_sql(raw)
    assert re.search(r"auto_detect\s*=\s*false", sql), sql
    assert "columns" in sql
    assert raw.con.execute("SELECT * FROM raw").fetchall() == _auto_rows(p, delim, True)
    names = [r[0] for r in duckdb.connect().execute(
        f"DESCRIBE SELECT * FROM read_csv('{p}', delim='{delim}', header=true, {_OPTIONS})").fetchall()]
    assert raw.columns == names          # duplicate header names renamed as the sniffer does (kund, kund_1)


def test_file_without_header_row_is_pinned_and_named_column_1(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("C1\t2011-01-02\t3.5\nC2\t2011-01-03\t4\nC3\t2011-01-04\t7\n")
    raw = open_file(p)
    assert re.search(r"auto_detect\s*=\s*false", _view_sql(raw))
    assert raw.columns == ["column_1", "column_2", "column_3"]
    assert raw.con.execute("SELECT * FROM raw").fetchall() == [
        ("C1", "2011-01-02", "3.5"), ("C2", "2011-01-03", "4"), ("C3", "2011-01-04", "7")]


def test_short_rows_still_padded_with_nulls(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,date,amount\nC1,2011-01-02,3\nC2,2011-01-03\nC3,2011-01-04,7\n")
    raw = open_file(p)
    assert raw.con.execute("SELECT * FROM raw").fetchall() == [
        ("C1", "2011-01-02", "3"), ("C2", "2011-01-03", None), ("C3", "2011-01-04", "7")]


def test_folder_of_files_with_one_header_still_read_by_name(tmp_path):
    (tmp_path / "a.csv").write_text("id,amount\nC1,3\n")
    (tmp_path / "b.csv").write_text("amount,id\n4,C2\n")
    raw = open_file(tmp_path)
    assert sorted(raw.con.execute("SELECT id, amount FROM raw").fetchall()) == [("C1", "3"), ("C2", "4")]
