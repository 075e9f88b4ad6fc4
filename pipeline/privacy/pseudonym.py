"""Pseudonymised exports: customer ids replaced by keyed hashes (HMAC-SHA-256, 64 hex characters) for sharing a
campaign list or an RFM table with an agency, and joined back when its results come home.

The key belongs to one workspace and is kept outside its files: ``SEGMENTS_PSEUDONYM_KEY`` (a secret of the
deployment; each workspace's key is derived from it and the workspace id), else a random 32-byte key in
``$XDG_CONFIG_HOME/segments/<workspace id>.key`` (default ``~/.config/segments``), created on first use with mode
``0600``. A key folder inside the workspace is refused, and the key is never logged or written to an export. The same
id gives the same hash within a workspace and a different one in another workspace; without the key a hash cannot
be tied to a customer, with it :func:`reidentify` maps hashes back through the dataset's own ids.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import DataError

__all__ = ["KEY_ENV", "key_folder", "workspace_key", "hash_ids", "pseudonymise", "reidentify"]

KEY_ENV = "SEGMENTS_PSEUDONYM_KEY"


def _folder_of(workspace: Any) -> Path:
    if workspace is None:
        from pipeline.config import workspace_root

        return workspace_root()
    return Path(getattr(workspace, "path", workspace))


def key_folder() -> Path:
    """Where workspace keys are kept: ``$XDG_CONFIG_HOME/segments`` (default ``~/.config/segments``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "segments"


def workspace_key(workspace: Any = None) -> bytes:
    """The pseudonym key of ``workspace`` (a Workspace, its folder, or None: the workspace root).

    Derived from ``SEGMENTS_PSEUDONYM_KEY`` and the workspace id when that is set; else read from (or created in)
    :func:`key_folder`. DataError when the key folder lies inside the workspace or the key file is unreadable."""
    folder = _folder_of(workspace).resolve()
    ws_id = folder.name
    secret = os.environ.get(KEY_ENV, "")
    if secret:
        return hmac.new(secret.encode("utf-8"), f"segments-pseudonym:{ws_id}".encode("utf-8"),
                        hashlib.sha256).digest()
    from pipeline.config import workspace_root

    keys = key_folder().resolve()
    if any(keys == f or f in keys.parents for f in (folder, workspace_root().resolve())):
        raise DataError(f"pseudonym key: the key folder {str(keys)!r} lies inside the workspace files; set "
                        f"XDG_CONFIG_HOME or {KEY_ENV} so the key is kept outside them.")
    path = keys / f"{ws_id}.key"
    if not path.is_file():
        keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:                          # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
                fh.flush()
                os.fsync(fh.fileno())
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise DataError(f"pseudonym key {str(path)!r} cannot be read ({type(exc).__name__}); restore it from its "
                        f"backup, or set {KEY_ENV}.") from None
    if len(key) < 16:
        raise DataError(f"pseudonym key {str(path)!r} is shorter than 16 bytes; restore it from its backup.")
    return key


def hash_ids(ids: Iterable[Any], key: bytes) -> list[str]:
    """HMAC-SHA-256 of each id's text under ``key``, as 64 hex characters."""
    return [hmac.new(key, str(i).encode("utf-8"), hashlib.sha256).hexdigest() for i in ids]


def pseudonymise(frame: pd.DataFrame, workspace: Any = None, column: str = "customer_id") -> pd.DataFrame:
    """A copy of ``frame`` with ``column`` replaced by the workspace's keyed hashes (every other column kept)."""
    if column not in frame:
        raise DataError(f"pseudonymise: the table has no column {column!r}.")
    key = workspace_key(workspace)
    out = frame.copy()
    out[column] = hash_ids(frame[column], key)
    return out


def reidentify(frame: pd.DataFrame, column: str, known_ids: Iterable[Any], workspace: Any = None) -> pd.DataFrame:
    """A copy of ``frame`` whose keyed hashes in ``column`` are replaced by the ids they were made from, found among
    ``known_ids`` (the dataset's customer ids) with the workspace's key. Values that are no hash of a known id are
    kept as they are, so a list with plain ids reads the same (and costs nothing: no key is read when no value
    looks like a hash). DataError when the column is missing."""
    if column not in frame:
        raise DataError(f"reidentify: the table has no column {column!r}.")
    out = frame.copy()
    values = out[column].astype(str)
    if not values.str.fullmatch(r"[0-9a-f]{64}").any():      # no hash in the file: nothing to join back
        return out
    ids = list(dict.fromkeys(str(i) for i in known_ids))
    back = dict(zip(hash_ids(ids, workspace_key(workspace)), ids, strict=True))
    out[column] = values.map(back).fillna(values)
    return out
