"""DuckDB SQL, as written once by cleaning and RFM, transpiled to Spark SQL with SQLGlot.

The project's transformations are DuckDB SQL generated in one place (:mod:`pipeline.ingest.clean`,
:mod:`pipeline.ingest.dates`, :mod:`pipeline.ingest.values`, :mod:`pipeline.rfm`, :mod:`pipeline.features`,
:mod:`pipeline.clv.summary`, :mod:`pipeline.engines.history`). Spark runs the same statements: SQLGlot parses
them as DuckDB and writes Spark SQL, and the few DuckDB functions without a Spark twin are rewritten here, once, as
AST transforms:

* ``try_strptime(x, [formats])`` -> ``coalesce(try_to_timestamp(x, java_format), ...)`` (strftime -> Java
  patterns with lenient one-letter fields, so ``12/1/2010 8:26`` reads as it does in DuckDB);
* ``hash(cols)`` -> ``xxhash64(coalesce(col, NUL), ...)`` (64-bit like DuckDB's, NULLs kept in place; only
  equality of hashes is used);
* ``regexp_full_match(x, p)`` -> ``x RLIKE '^(?:p)$'``;
* ``ts + to_microseconds(n)`` -> ``ts + make_dt_interval(0, 0, 0, n / 1e6)`` (Excel serial dates);
* ``timezone('UTC', x)`` -> ``x`` (the Spark session runs in UTC, see :mod:`pipeline.engines.spark`).

``?`` parameters are inlined as typed literals into the parsed statement.
"""
from __future__ import annotations

import datetime as _dt
import functools
import re

import pandas as pd
import sqlglot
from sqlglot import exp

__all__ = ["to_spark", "inline_params", "strftime_to_java"]

#: strftime directive -> Java DateTimeFormatter letters; one-letter fields parse one or two digits, as DuckDB does
_JAVA = {"%Y": "yyyy", "%y": "yy", "%m": "M", "%d": "d", "%H": "H", "%I": "h", "%M": "m", "%S": "s",
         "%b": "MMM", "%B": "MMMM", "%p": "a", "%f": "SSSSSS"}
#: stands for NULL inside a row hash (a control character that text columns do not hold)
_NULL_MARK = "\x00"
#: fixed widths for fields written without separators (``%Y%m%d`` -> ``yyyyMMdd``)
_FIXED = {"%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%I": "hh"}


def strftime_to_java(fmt: str) -> str:
    """A DuckDB strptime format as a Java (Spark) datetime pattern, literal text quoted."""
    parts = re.findall(r"%[A-Za-z]|[^%]+", fmt)
    out = []
    for i, p in enumerate(parts):
        if p.startswith("%"):
            glued = any(q.startswith("%") for q in parts[max(i - 1, 0):i] + parts[i + 1:i + 2])
            out.append((_FIXED.get(p) if glued else None) or _JAVA.get(p, p))
        else:
            out.append("'" + p.replace("'", "''") + "'" if re.search(r"[A-Za-z]", p) else p)
    return "".join(out)


def inline_params(sql: str, params: list | tuple | None) -> str:
    """``sql`` with each ``?`` outside string literals replaced, in order, by the next parameter as a literal."""
    if not params:
        return sql
    values = iter(params)
    parts = re.split(r"('(?:[^']|'')*')", sql)        # odd items are string literals
    return "".join(p if i % 2 else re.sub(r"\?", lambda _m: _literal(next(values)), p) for i, p in enumerate(parts))


def _literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, (pd.Timestamp, _dt.datetime)):
        return f"CAST('{pd.Timestamp(v).strftime('%Y-%m-%d %H:%M:%S.%f')}' AS TIMESTAMP)"
    if isinstance(v, _dt.date):
        return f"CAST('{v.isoformat()}' AS DATE)"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.RegexpFullMatch):
        return _full_match(node.this, node.expression)
    if isinstance(node, exp.StrToTime):       # strptime with one format
        return _try_strptime(node.this, node.args["format"])
    if not isinstance(node, exp.Anonymous):
        return node
    name, args = node.name.lower(), node.expressions
    if name == "try_strptime":
        return _try_strptime(args[0], args[1])
    if name == "hash":      # Spark's hash skips NULLs, so (a, NULL, b) would equal (a, b, NULL): mark them
        return exp.Anonymous(this="XXHASH64", expressions=[
            exp.Coalesce(this=exp.cast(a.copy(), "STRING"), expressions=[exp.Literal.string(_NULL_MARK)]) for a in args])
    if name == "regexp_full_match":
        return _full_match(args[0], args[1])
    if name == "to_microseconds":
        secs = exp.Div(this=exp.cast(args[0], "DECIMAL(20, 0)"), expression=exp.Literal.number(1000000))
        return exp.Anonymous(this="MAKE_DT_INTERVAL", expressions=[exp.Literal.number(0)] * 3 + [secs])
    if name == "timezone" and args[0].name.upper() == "UTC":
        return args[1]
    return node


def _try_strptime(value: exp.Expression, formats: exp.Expression) -> exp.Expression:
    fmts = formats.expressions if isinstance(formats, exp.Array) else [formats]
    calls = [exp.Anonymous(this="TRY_TO_TIMESTAMP",
                           expressions=[value.copy(), exp.Literal.string(strftime_to_java(f.name))]) for f in fmts]
    return calls[0] if len(calls) == 1 else exp.Coalesce(this=calls[0], expressions=calls[1:])


def _full_match(value: exp.Expression, pattern: exp.Expression) -> exp.Expression:
    return exp.RegexpLike(this=value, expression=exp.Literal.string(f"^(?:{pattern.name})$"))


@functools.lru_cache(maxsize=512)
def _transpile(sql: str) -> str:
    return sqlglot.parse_one(sql, read="duckdb").transform(_rewrite).sql(dialect="spark")


def to_spark(sql: str, params: list | tuple | None = None) -> str:
    """DuckDB ``sql`` (with ``?`` parameters ``params``) as one Spark SQL statement."""
    return _transpile(inline_params(sql, params))
