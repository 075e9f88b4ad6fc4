"""Input: from a file (CSV, Excel, Parquet), a frame or a built-in sample to canonical transactions in DuckDB.

The layers, each with one owner: :mod:`~pipeline.ingest.db` (the one DuckDB connection factory),
:mod:`~pipeline.ingest.sniff` (what a file is: format, encoding, delimiter, sheets), :mod:`~pipeline.ingest.read`
(the one read path into a text table, :class:`RawTable`), :mod:`~pipeline.ingest.dates` and
:mod:`~pipeline.ingest.values` (how dates, numbers and ids are read), :mod:`~pipeline.ingest.mapping` (which column
plays which role, which kind of table), :mod:`~pipeline.ingest.clean` (drop rules, report, canonical frames),
:mod:`~pipeline.ingest.samples` (built-in data) and :mod:`~pipeline.ingest.datasets` (an upload or sample to a
:class:`pipeline.store.Dataset`). Anything that decides how user input is read, typed or refused belongs here.
"""
from __future__ import annotations

from pipeline.ingest.clean import (
    REASONS, RULE_SWITCHES, CleaningReport, CleanResult, clean_file, clean_frame, clean_raw, clean_table,
    fetch_transactions,
)
from pipeline.ingest.datasets import SAMPLES, Inspection, build_dataset, customer_table, inspect_file, sample_dataset
from pipeline.ingest.dates import DATE_FORMATS, describe_format, detect_date_format
from pipeline.ingest.db import connect
from pipeline.ingest.mapping import (
    SYNONYMS, MappingGuess, detect_kind, guess_customer_id, guess_mapping, propose_mapping, validate_mapping,
)
from pipeline.ingest.read import RawTable, first_data_sheet, load_raw, open_file, open_frame, read_raw
from pipeline.ingest.samples import cdnow_path, generate_raw, generate_transactions, load_cdnow
from pipeline.ingest.sniff import FileInfo, sniff

__all__ = [
    # db
    "connect",
    # sniff and read
    "FileInfo", "sniff", "RawTable", "open_file", "open_frame", "load_raw", "read_raw", "first_data_sheet",
    # dates and mapping
    "DATE_FORMATS", "detect_date_format", "describe_format", "SYNONYMS", "MappingGuess", "propose_mapping",
    "guess_mapping", "detect_kind", "guess_customer_id", "validate_mapping",
    # cleaning
    "REASONS", "RULE_SWITCHES", "CleaningReport", "CleanResult", "clean_table", "clean_raw", "clean_frame", "clean_file",
    "fetch_transactions",
    # samples and datasets
    "generate_raw", "generate_transactions", "load_cdnow", "cdnow_path",
    "SAMPLES", "Inspection", "inspect_file", "build_dataset", "customer_table", "sample_dataset",
]
