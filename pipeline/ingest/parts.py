"""Which part of a file to read: the sheet of a workbook or the file of a zip archive, chosen by its content.

A workbook whose first sheet is a cover page of notes, or an archive holding a README, the orders and the customers,
is read from the part that reads as transactions, then the one that reads as a customer table, then any other table
(the first in file order among equals). Every part is described in one line (name, rows, what it looks like) so
the Upload page and the CLI can list the others; the user picks another with ``sheet=`` (``--sheet``). What a part
looks like comes from :func:`pipeline.ingest.mapping.propose_mapping` on its rows, as for a whole file.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.ingest.mapping import propose_mapping
from pipeline.ingest.sniff import cell_type

__all__ = ["Part", "judge", "unreadable", "best_part", "KIND_RANK"]

#: how strongly a part of each kind is preferred when none is named
KIND_RANK = {"transactions": 4, "customers": 3, "table": 2, "notes": 1, "empty": 0, "unreadable": -1}


@dataclass(frozen=True)
class Part:
    """One sheet of a workbook or one file of a zip archive, as the inspection lists it."""

    name: str
    rows: int | None          # data rows (None: not read)
    columns: int
    kind: str                 # a key of KIND_RANK, or "not read"
    what: str                 # what it looks like, in a few words

    @property
    def line(self) -> str:
        """``Orders — 1,204 rows × 8 columns: transactions: dates in `Date` and …``."""
        if self.rows is None:
            return f"{self.name}: {self.what}"
        size = f"{self.rows:,} row{'s' * (self.rows != 1)} × {self.columns} column{'s' * (self.columns != 1)}"
        return f"{self.name} — {size}: {self.what}"

    def to_dict(self) -> dict:
        return {"name": self.name, "rows": self.rows, "columns": self.columns, "kind": self.kind, "what": self.what,
                "line": self.line}


def judge(name: str, frame: pd.DataFrame, rows: int | None = None) -> Part:
    """What the rows ``frame`` (a sample, or the whole part; ``rows`` the part's row count when it is a sample) of
    part ``name`` look like: transactions, a customer table, another table, notes or nothing."""
    body = frame.dropna(how="all").dropna(axis=1, how="all") if len(frame.columns) else frame
    n = len(frame) if rows is None else rows
    if body.empty:
        return Part(name, n, len(body.columns), "empty", "empty")
    if body.shape[1] < 2:
        head = str(body.columns[0])[:40]
        return Part(name, n, 1, "notes", f"notes or a list, one column ({head!r})")
    guess = propose_mapping([str(c) for c in body.columns], body.head(2000).astype(object))
    if guess.kind == "transactions":
        return Part(name, n, body.shape[1], "transactions", guess.kind_reason.removeprefix("transactions: "))
    text_share = _text_share(body)
    if guess.id_column is not None and text_share < 0.9:
        return Part(name, n, body.shape[1], "customers", f"a customer table (one row per `{guess.id_column}`)")
    if text_share >= 0.9:
        return Part(name, n, body.shape[1], "notes", "notes or a legend: text only, no dates or numbers")
    return Part(name, n, body.shape[1], "table", "a table without a customer id or dates")


def unreadable(name: str, why: str) -> Part:
    """A part that could not be read, with the one-line reason."""
    first = why.split(". ")[0].rstrip(".")
    return Part(name, None, 0, "unreadable", f"not a table ({first[:120]})")


def best_part(parts: list[Part]) -> Part | None:
    """The part to read when none is named: transactions, else a customer table, else any table, else notes (first
    in file order among equals); None when every part is empty or unreadable."""
    ranked = [p for p in parts if KIND_RANK.get(p.kind, -1) >= KIND_RANK["notes"]]
    return max(ranked, key=lambda p: (KIND_RANK[p.kind], -parts.index(p))) if ranked else None


def _text_share(frame: pd.DataFrame) -> float:
    """Share of the filled cells of ``frame`` that are neither numbers nor dates (notes and legends are ~1)."""
    sample = frame.head(200)
    kinds = [cell_type(str(v)) for v in sample.to_numpy().ravel() if v is not None and not pd.isna(v)]
    kinds = [k for k in kinds if k]
    return sum(k == "text" for k in kinds) / len(kinds) if kinds else 1.0
