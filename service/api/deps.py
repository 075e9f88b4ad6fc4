"""Shared dependencies: a database session per request, the API key with a scope check and rate limit, the
loaded scorer."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.keys import KeyInfo, find_key

__all__ = ["get_db", "SessionDep", "require_scope", "get_scorer", "ERRORS"]

_bearer = HTTPBearer(auto_error=False, description="An API key from `python -m pipeline api-key create`.")


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def get_scorer(request: Request):
    return request.app.state.scorer


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require_scope(scope: str) -> Callable[..., KeyInfo]:
    """Dependency: a valid, unrevoked key (401), under its rate (429), holding ``scope`` (403)."""

    def dependency(request: Request, session: SessionDep,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> KeyInfo:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise _unauthorized("Authorization: send the header 'Authorization: Bearer <API key>'.")
        key = find_key(session, credentials.credentials)
        if key is None:
            raise _unauthorized("Authorization: this API key is not valid or has been revoked.")
        request.state.key_name = key.name
        settings = request.app.state.settings
        rate = key.rate_per_second or settings.rate_limit_per_second
        ok, wait = request.app.state.limiter.allow(key.id, rate, max(settings.rate_limit_burst, rate))
        if not ok:
            raise HTTPException(429, f"rate limit: key {key.name!r} may send {rate:g} requests per second; retry "
                                     "later.", headers={"Retry-After": request.app.state.limiter.retry_after(wait)})
        if scope not in key.scopes:
            raise HTTPException(403, f"scope: key {key.name!r} lacks the '{scope}' scope this endpoint needs "
                                     f"(it has {', '.join(sorted(key.scopes))}).")
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency


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
}
