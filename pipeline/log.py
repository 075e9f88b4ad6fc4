"""Structured logging of pipeline steps: one JSON line per step with its duration and sizes.

Only counts, timings, names of columns and options are logged — never customer-level values (ids, amounts of a
customer, product names). Level: ``SEGMENTS_LOG_LEVEL`` (DEBUG, INFO, WARNING…; default INFO).
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from contextlib import contextmanager

__all__ = ["logger", "step", "logged"]

logger = logging.getLogger("pipeline")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                   "logger": record.name, "event": record.getMessage()}
        payload.update(getattr(record, "fields", {}))
        return json.dumps(payload, default=str)


if not logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_JsonFormatter())
    logger.addHandler(_handler)
    logger.propagate = False
logger.setLevel(os.environ.get("SEGMENTS_LOG_LEVEL", "INFO").upper())


@contextmanager
def step(name: str, **fields):
    """Time a pipeline step; the block may add aggregate fields (counts, sizes) to the yielded dict."""
    info: dict = dict(fields)
    t0 = time.perf_counter()
    try:
        yield info
    except Exception as e:
        info.update(seconds=round(time.perf_counter() - t0, 4), error=type(e).__name__)
        logger.info(name, extra={"fields": info})
        raise
    info["seconds"] = round(time.perf_counter() - t0, 4)
    logger.info(name, extra={"fields": info})


def logged(name: str):
    """Decorator: log a step for every call with its duration, the row count of the first table argument and of
    the result (when they have a length) — sizes only, never values."""
    def wrap(func):
        @functools.wraps(func)
        def inner(*args, **kwargs):
            table = next((a for a in args if hasattr(a, "shape")), None)
            with step(name, **({"rows_in": int(table.shape[0])} if table is not None else {})) as log:
                out = func(*args, **kwargs)
                if hasattr(out, "shape"):
                    log["rows_out"] = int(out.shape[0])
            return out
        return inner
    return wrap
