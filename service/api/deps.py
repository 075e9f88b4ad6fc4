"""Shared dependencies: the API key (checked against a short in-process cache, so a request holds no database
connection for it) with a scope check and rate limit, an ``Idempotency-Key``, a session for routes that read, the
loaded scorer."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.idempotency import HEADER, IdempotentRequest, valid_key
from service.keys import KeyInfo

__all__ = ["get_db", "SessionDep", "require_scope", "get_scorer", "ERRORS", "IdempotencyHeader", "idempotent",
           "invalid"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `python -m service api-key create`.")

def get_db(request: Request) -> Iterator[Session]:
    """A session for the request (it takes a connection only when first used)."""
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]

#: ``Idempotency-Key`` header: send a unique key (up to 255 printable characters) to retry a POST safely.
IdempotencyHeader = Annotated[str | None, Header(alias=HEADER, description="a unique key per request (up to 255 "
                                                 "printable ASCII characters): a retry with the same key and body "
                                                 "gets the first answer again and changes nothing")]


def get_scorer(request: Request):
    return request.app.state.scorer


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require_scope(scope: str) -> Callable[..., KeyInfo]:
    """Dependency: a valid, unrevoked key (401), under its rate (429), holding ``scope`` (403). Runs on the event
    loop: a cached key costs no thread and no connection (a miss is looked up in the threadpool)."""

    async def dependency(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                                  Depends(_bearer)]) -> KeyInfo:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise _unauthorized("Authorization: send the header 'Authorization: Bearer <API key>'.")
        keys = request.app.state.keys
        key = keys.cached(credentials.credentials)
        if key is keys.MISS:
            key = await run_in_threadpool(keys.lookup, credentials.credentials)
        if key is None:
            raise _unauthorized("Authorization: this API key is not valid or has been revoked.")
        request.state.key_name = key.name
        limiter = request.app.state.limiter
        ok, wait, rate = limiter.allow(key)
        if not ok:
            raise HTTPException(429, f"rate limit: key {key.name!r} may send {rate:g} requests per second; retry "
                                     "later.", headers={"Retry-After": limiter.retry_after(wait)})
        if scope not in key.scopes:
            raise HTTPException(403, f"scope: key {key.name!r} lacks the '{scope}' scope this endpoint needs "
                                     f"(it has {', '.join(sorted(key.scopes))}).")
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency


def idempotent(key: KeyInfo, header: str | None, request: Request, body) -> IdempotentRequest | None:
    """The request's :class:`IdempotentRequest` (None without the header); 422 for a malformed key."""
    if header is None:
        return None
    if not valid_key(header):
        raise invalid(("header", HEADER), "give 1 to 255 printable ASCII characters without spaces")
    payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
    return IdempotentRequest.of(key.id, header, request.method, request.url.path, payload)


def invalid(loc: tuple, msg: str) -> RequestValidationError:
    """A 422 in FastAPI's validation format (the input is never echoed)."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": "value_error"}])


def _error(description: str) -> dict:
    from service.api.schemas import Problem

    return {"model": Problem, "description": description}


#: Error responses every authenticated route documents (OpenAPI), so clients and Schemathesis know them.
ERRORS: dict[int | str, dict] = {
    400: _error("The body is not readable JSON."),
    401: _error("Missing, invalid or revoked API key."),
    403: _error("The key lacks the scope this endpoint needs."),
    413: _error("The body is larger than the limit."),
    429: _error("The key is over its rate limit; see Retry-After."),
    503: _error("The service is at capacity; retry after Retry-After seconds."),
}
