"""Does a file hold a customer id? Each kind of file read as what it is: Parquet and JSON parsed, zip members
(``.skops``, ``.xlsx``, ``.keras``) opened, ``.npz`` arrays read without pickles, gzip/bzip2/xz/zstd inflated, anything
else searched as Latin-1 and UTF-16 text. An id matches as a whole token (``C-17`` is not found in ``C-170``).
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["token", "count_in_bytes", "count_in_text", "mentions", "sqlite_files", "DB_SUFFIXES"]

#: Files of SQLite databases (searched as bytes: deleted rows linger in free pages until a vacuum).
DB_SUFFIXES = (".db", ".db-wal", ".db-shm", ".sqlite", ".sqlite3")


def token(cid: str) -> re.Pattern[str]:
    """The id as a whole token: not preceded or followed by a letter or digit."""
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(cid) + r"(?![A-Za-z0-9])")


def _in_json(obj: Any, rx: re.Pattern[str]) -> int:
    if isinstance(obj, str):
        return len(rx.findall(obj))
    if isinstance(obj, dict):
        return sum(_in_json(k, rx) + _in_json(v, rx) for k, v in obj.items())
    if isinstance(obj, list):
        return sum(_in_json(v, rx) for v in obj)
    return 0


def _in_parquet(data: bytes, rx: re.Pattern[str]) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    n = _in_json(table.schema.metadata and {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                                            for k, v in table.schema.metadata.items() if k != b"pandas"}, rx)
    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            n += int(pc.sum(pc.count_substring_regex(col, rx.pattern)).as_py() or 0)
    return n


def _in_npz(data: bytes, rx: re.Pattern[str]) -> int:
    import numpy as np

    n = 0
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        for name in z.files:
            arr = z[name]
            if arr.dtype.kind in "US":
                n += sum(len(rx.findall(str(v))) for v in arr.ravel())
    return n


def count_in_text(data: bytes, rx: re.Pattern[str]) -> int:
    texts = [data.decode("latin-1")]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[1:2] == b"\x00":
        texts.append(data.decode("utf-16", errors="ignore"))
    return sum(len(rx.findall(t)) for t in texts)


def count_in_bytes(name: str, data: bytes, rx: re.Pattern[str], depth: int = 0) -> int:
    """Mentions of the id in one file's bytes, read by what the file is."""
    low = name.lower()
    try:
        if low.endswith(".parquet") or data[:4] == b"PAR1":
            return _in_parquet(data, rx)
        if low.endswith(".npz"):
            return _in_npz(data, rx)
        if low.endswith((".json", ".jsonl")):
            try:
                return _in_json(json.loads(data), rx)
            except json.JSONDecodeError:
                return count_in_text(data, rx)
        if depth < 2 and zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                return sum(count_in_bytes(m, z.read(m), rx, depth + 1) for m in z.namelist()
                           if not m.endswith("/"))
        for magic, opener in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress),
                              (b"\xfd7zXZ", lzma.decompress)):
            if data.startswith(magic) and depth < 2:
                return count_in_bytes(low.rsplit(".", 1)[0], opener(data), rx, depth + 1)
        if data.startswith(b"\x28\xb5\x2f\xfd") and depth < 2:
            import zstandard

            inflated = zstandard.ZstdDecompressor().decompressobj().decompress(data)
            return count_in_bytes(low.rsplit(".", 1)[0], inflated, rx, depth + 1)
    except Exception:  # noqa: BLE001 - a file that does not parse as its kind is read as text below
        pass
    return count_in_text(data, rx)


def mentions(path: Path, customer_id: str) -> int:
    """How many times ``customer_id`` (a whole token) is held in the file ``path``."""
    return count_in_bytes(Path(path).name, Path(path).read_bytes(), token(customer_id))


def sqlite_files(url: str | None) -> list[Path]:
    """The files of a SQLite database URL (the database, its WAL and shared-memory files); [] for another."""
    if not url or not url.startswith("sqlite:///"):
        return []
    db = Path(url[len("sqlite:///"):].split("?")[0])
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
