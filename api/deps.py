"""FastAPI dependencies, as `Annotated` aliases the routes declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from api.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.state.app
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_conn(state: State) -> AsyncIterator[asyncpg.Connection]:
    async with state.pool.acquire() as conn:
        yield conn


Conn = Annotated[asyncpg.Connection, Depends(get_conn)]
