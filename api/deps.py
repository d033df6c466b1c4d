"""FastAPI dependencies, as `Annotated` aliases the routes declare."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Access, Scope, Verdict, decide
from api.state import AppState


async def get_state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request for a lookup.
    state: AppState = request.state.app
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_conn(state: State) -> AsyncIterator[asyncpg.Connection]:
    async with state.pool.acquire() as conn:
        yield conn


Conn = Annotated[asyncpg.Connection, Depends(get_conn)]
"""A connection to the primary: for writes, and reads that must see them."""


async def get_read_conn(state: State) -> AsyncIterator[asyncpg.Connection]:
    async with state.reads.acquire() as conn:
        yield conn


ReadConn = Annotated[asyncpg.Connection, Depends(get_read_conn)]
"""A connection for read-only queries: to the replica of CITYSENSE_DATABASE_READ_URL when set and
reachable (api.read_route), else to the primary."""

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key of CITYSENSE_API_KEYS")
_bearer = HTTPBearer(auto_error=False, description="the same key as `Authorization: Bearer <key>`")

# Deliberately terse: a caller learns that it may not, not why.
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def check(state: AppState, presented: str | None, needed: Scope | None) -> Access:
    verdict, access = decide(state.keys, presented, needed, state.settings.public_read)
    if verdict is Verdict.UNAUTHORIZED:
        raise HTTPException(401, "unauthorized", headers=_CHALLENGE)
    if verdict is Verdict.FORBIDDEN:
        raise HTTPException(403, "forbidden")
    return access


def _requiring(needed: Scope | None) -> Callable[..., Access]:
    def dependency(
        state: State,
        x_api_key: Annotated[str | None, Security(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> Access:
        presented = x_api_key or (bearer.credentials if bearer is not None else None)
        return check(state, presented, needed)

    return dependency


def _requiring_with_query_key(needed: Scope) -> Callable[..., Access]:
    # EventSource in a browser cannot set headers: the live feed also takes the key as a query
    # parameter (which ends up in access logs: prefer the header where the client can).
    def dependency(
        state: State,
        x_api_key: Annotated[str | None, Security(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        api_key: Annotated[str | None, Query(description="the API key, for clients that cannot set headers")] = None,
    ) -> Access:
        presented = x_api_key or (bearer.credentials if bearer is not None else None) or api_key
        return check(state, presented, needed)

    return dependency


ReadAccess = Annotated[Access, Depends(_requiring(Scope.READ))]
"""Read scope; anyone when CITYSENSE_PUBLIC_READ=true (then `authenticated` is false)."""
AdminAccess = Annotated[Access, Depends(_requiring(Scope.ADMIN))]
OpenAccess = Annotated[Access, Depends(_requiring(None))]
"""Open data: anyone, but a key shown must be valid."""
LiveReadAccess = Annotated[Access, Depends(_requiring_with_query_key(Scope.READ))]
