"""Open the containers a table may come in: compressed streams (gzip, bzip2, zstd), zip archives, folders and globs.

Only bytes here: which codec a file is compressed with (by its magic number, never its name), its first decompressed
bytes for sniffing, a decompressed copy in a temporary file (capped, so that a small "zip bomb" cannot fill the
disk), the files of an archive, a folder or a glob. Deciding what the bytes inside are is
:mod:`pipeline.ingest.sniff`; choosing which member of an archive to read is :mod:`pipeline.ingest.parts`.
Decompression uses pyarrow's codecs (already a dependency): DuckDB reads gzip and zstd itself but not bzip2, and a
copy decompressed once is read in parallel and as fast (measured on Online Retail: 1.0 s either way).
"""
from __future__ import annotations

import codecs
import glob
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import pyarrow as pa

from pipeline.config import max_upload_bytes
from pipeline.errors import DataError

__all__ = ["CODEC_NAMES", "compression_of", "copy_file", "decompress", "extract_member", "inner_name", "is_pattern",
           "list_files", "peek", "temp_path", "unpacked_limit", "zip_members"]

#: magic number -> codec (pyarrow's name)
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd"))
#: codec -> how messages name it
CODEC_NAMES = {"gzip": "gzip", "bz2": "bzip2", "zstd": "zstd", "zip": "zip"}
_SUFFIXES = (".gz", ".gzip", ".bz2", ".bzip2", ".zst", ".zstd")
#: a decompressed file may be this many times the upload limit
UNPACK_FACTOR = 20
_CHUNK = 1 << 22
#: what zipfile raises on a damaged archive or member (zlib.error: a corrupt deflate stream)
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, zlib.error)


def temp_path(suffix: str) -> Path:
    """A new empty temporary file (its descriptor closed: only the name is kept); the caller removes it."""
    fd, name = tempfile.mkstemp(suffix=suffix)
    os.close(fd)
    return Path(name)


def unpacked_limit() -> int:
    """Largest decompressed size read: :data:`UNPACK_FACTOR` times the upload limit."""
    return UNPACK_FACTOR * max_upload_bytes()


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bz2`` or ``zstd`` when the bytes start with that codec's magic number, else None."""
    for magic, codec in _MAGIC:
        if head.startswith(magic) and (codec != "bz2" or head[3:4].isdigit()):
            return codec
    return None


def inner_name(name: str) -> str:
    """The name of the file inside a compressed one: ``orders.csv.gz`` -> ``orders.csv``, ``export.gz`` -> ``export``.
    """
    low = name.lower()
    for s in _SUFFIXES:
        if low.endswith(s):
            return name[:-len(s)]
    return name


def _corrupt(codec: str, e: Exception) -> DataError:
    why = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    return DataError(f"This {CODEC_NAMES[codec]} file is corrupt or cut short ({why}). Compress the export again, "
                     "or upload it uncompressed.")


def peek(path: Path, codec: str, n: int) -> bytes:
    """The first ``n`` decompressed bytes of a compressed file."""
    try:
        with pa.input_stream(str(path), compression=codec) as src:
            return src.read(n)
    except (OSError, pa.ArrowException) as e:
        raise _corrupt(codec, e) from e


def decompress(path: Path, codec: str, suffix: str = "") -> tuple[Path, bool]:
    """A decompressed copy of ``path`` in a temporary file (the caller removes it) and whether all of it is UTF-8.

    Raises
    ------
    DataError
        The stream is corrupt or cut short, or it decompresses to more than :func:`unpacked_limit` bytes.
    """
    out = temp_path(suffix or ".unpacked")
    try:
        with pa.input_stream(str(path), compression=codec) as src, open(out, "wb") as dst:
            utf8 = _copy(src, dst, CODEC_NAMES[codec])
    except (OSError, pa.ArrowException) as e:
        out.unlink(missing_ok=True)
        raise _corrupt(codec, e) from e
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out, utf8


def copy_file(path: Path, suffix: str = "") -> tuple[Path, bool]:
    """A copy of an uncompressed file in a temporary file (the caller removes it) and whether all of it is UTF-8."""
    out = temp_path(suffix or path.suffix or ".copy")
    try:
        with open(path, "rb") as src, open(out, "wb") as dst:
            utf8 = _copy(src, dst, "copied")
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out, utf8


def _copy(src, dst, what: str) -> bool:
    """Copy ``src`` to ``dst`` in chunks up to :func:`unpacked_limit` bytes; whether the bytes are all UTF-8."""
    decoder, utf8, total, limit = codecs.getincrementaldecoder("utf-8")(), True, 0, unpacked_limit()
    while chunk := src.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise DataError(f"This {what} file unpacks to more than {limit / 2**20:,.0f} MB "
                            f"({UNPACK_FACTOR}x the upload limit). Export a shorter period, or save it as Parquet.")
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
        dst.write(chunk)
    return utf8


def zip_members(path: Path) -> list[str]:
    """The files of a zip archive in archive order (folders, ``__MACOSX/`` and hidden files left out)."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except _ZIP_ERRORS as e:
        raise DataError(f"This zip archive is corrupt or cut short ({str(e)[:120]}). Zip the files again, or "
                        "upload the table inside.") from e
    return [i.filename for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")
            and not Path(i.filename).name.startswith((".", "~$")) and i.file_size > 0]


def extract_member(path: Path, member: str) -> tuple[Path, bool]:
    """A zip member copied to a temporary file with its own suffix (the caller removes it), and whether it is all
    UTF-8; capped at :func:`unpacked_limit` bytes."""
    out = temp_path("".join(Path(member).suffixes[-2:]) or ".unpacked")
    try:
        with zipfile.ZipFile(path) as z, z.open(member) as src, open(out, "wb") as dst:
            utf8 = _copy(src, dst, "zip")
    except RuntimeError as e:           # zipfile's "File ... is encrypted, password required"
        out.unlink(missing_ok=True)
        raise DataError(f"{member!r} in this zip archive is password-protected. Zip it without a password, or "
                        "upload the table inside.") from e
    except _ZIP_ERRORS as e:
        out.unlink(missing_ok=True)
        raise DataError(f"{member!r} in this zip archive could not be read ({str(e)[:120]}). Zip the files "
                        "again, or upload the table inside.") from e
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out, utf8


def is_pattern(text: str) -> bool:
    """True when ``text`` is a glob pattern (``exports/2011-*.csv``)."""
    return any(ch in text for ch in "*?[")


def list_files(location: str | Path) -> list[Path]:
    """The data files a folder (every file below it, partition folders included; hidden and ``_`` files left out)
    or a glob names, sorted.

    Raises
    ------
    DataError
        Nothing matches.
    """
    p = Path(location)
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file() and not any(
            part.startswith((".", "_")) for part in f.relative_to(p).parts))
    else:
        found = sorted(Path(f) for f in glob.glob(str(location), recursive=True) if Path(f).is_file())
    if not found:
        what = "folder holds no files" if p.is_dir() else "pattern matches no file"
        raise DataError(f"{str(location)!r}: this {what}. Name a file, a folder of exports or a pattern such as "
                        "exports/2011-*.csv.")
    return found
