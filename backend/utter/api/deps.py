"""Request dependencies, named once so handlers read like prose."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ..context import AppContext
from ..database import session_scope


async def get_context(request: Request) -> AppContext:
    # async only so FastAPI calls it on the event loop rather than sending it to a worker thread.
    return request.app.state.ctx


def get_session(request: Request) -> Iterator[Session]:
    """A unit of work per request: committed when the handler succeeds, rolled back otherwise."""
    with session_scope(request.app.state.ctx.sessions) as session:
        yield session


ContextDep = Annotated[AppContext, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session)]
