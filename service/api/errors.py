"""Error answers for bad requests that can always be sent: 422 for a body or parameter that breaks the schema (or
is not JSON), 400 for a body that cannot be read at all.

FastAPI's own 422 handler echoes each offending ``input``; NaN, ±inf and lone surrogates cannot be written as JSON,
so that answer itself failed with a 500. Here every answer names the location and the rule broken; an input is
echoed only when it is short and plainly writable, and every text (message, location) is made writable first.
"""
from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.api.schemas import CAMPAIGN_ID_PATTERN, ID_PATTERN, TEXT_PATTERN, forbidden_character

__all__ = ["MAX_ERRORS", "body_unreadable", "validation_failed", "writable"]

#: At most this many errors are listed (a 1,000-line body with a bad field on every line says so 50 times).
MAX_ERRORS = 50
_ECHO_CHARS = 100

_MESSAGES = {
    "finite_number": "Input should be a finite number: NaN, Infinity, -Infinity and numbers too large for a "
                     "64-bit float (e.g. 1e400) are refused",
    "string_unicode": "Input should be text without lone surrogates (U+D800-U+DFFF)",
}
#: What a pattern means, said in words (path ids are checked by pattern only).
_PATTERNS = {
    ID_PATTERN: "String should not contain control characters (U+0000-U+001F, U+007F)",
    TEXT_PATTERN: "String should not contain control characters (U+0000-U+001F, U+007F)",
    CAMPAIGN_ID_PATTERN: "String should be a campaign id: letters, digits, '_', '-', '.' (1-64 characters)",
}


def writable(value: str, limit: int = 500) -> str:
    """``value`` as text any JSON encoder can write: lone surrogates and control characters escaped (``\\ud800``,
    ``\\x00``), cut to ``limit`` characters."""
    if forbidden_character(value) is not None:
        value = "".join(ch.encode("unicode_escape").decode("ascii") if forbidden_character(ch) else ch
                        for ch in value)
    return value if len(value) <= limit else value[:limit] + "…"


def _echo(value: Any) -> tuple[bool, Any]:
    """Whether ``value`` may be echoed as the error's ``input``, and how."""
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, int):
        return abs(value) < 10**15, value
    if isinstance(value, float):
        return math.isfinite(value), value
    if isinstance(value, str):
        return len(value) <= _ECHO_CHARS and forbidden_character(value) is None, value
    return False, None


def _location(loc: Any) -> list[str | int]:
    parts = loc if isinstance(loc, (list, tuple)) else [loc]
    return [p if isinstance(p, int) and not isinstance(p, bool) else writable(str(p), 100) for p in parts]


def _describe(error: dict) -> dict:
    kind = str(error.get("type", "value_error"))
    loc = _location(error.get("loc", ()))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "not JSON")
        pos = loc[1] if len(loc) > 1 else "?"
        msg = f"the body is not valid JSON: {reason} at character {pos}"
    elif kind == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") in _PATTERNS:
        msg = _PATTERNS[error["ctx"]["pattern"]]
    else:
        msg = _MESSAGES.get(kind) or str(error.get("msg", "invalid value"))
    value = error.get("input")
    if isinstance(value, (bytes, bytearray)):
        msg += " (the body was not read as JSON: send it with 'Content-Type: application/json')"
    out: dict[str, Any] = {"loc": loc, "msg": writable(msg), "type": writable(kind, 100)}
    ok, shown = _echo(value)
    if ok and kind != "json_invalid" and "input" in error:
        out["input"] = shown
    return out


async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 for every validation error, never echoing what cannot be written back."""
    errors = list(exc.errors())
    detail = [_describe(e) for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        detail.append({"loc": ["body"], "msg": f"{len(errors) - MAX_ERRORS} more errors not listed",
                       "type": "too_many_errors"})
    return JSONResponse({"detail": detail}, status_code=422)


def _unreadable(cause: BaseException) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return (f"request body: not UTF-8 (byte 0x{cause.object[cause.start]:02x} at position {cause.start}); "
                "send JSON encoded as UTF-8.")
    if isinstance(cause, RecursionError):
        return "request body: JSON nested too deeply to read."
    return f"request body: not readable as JSON ({writable(str(cause), 200)})."


async def body_unreadable(request: Request, exc: HTTPException) -> JSONResponse:
    """FastAPI answers 400 'There was an error parsing the body' for a body ``json.loads`` fails on other than by
    a syntax error (not UTF-8, nested too deeply, an integer of more than 4,300 digits): say which. Every other
    HTTP error is answered as FastAPI does."""
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, (UnicodeDecodeError, ValueError, RecursionError)):
        return JSONResponse({"detail": _unreadable(cause)}, status_code=400)
    return await http_exception_handler(request, exc)
