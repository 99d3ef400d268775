"""Signing in with a key (a cookie for the pages), and managing keys over the API and on /keys."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..api.deps import ContextDep
from ..errors import ErrorResponse, UtterError
from ..models import AccessKey
from ..web.pages import render_page
from .keys import COOKIE_NAME, SESSION_SECONDS

router = APIRouter(tags=["access"])


class KeyPublic(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    created_at: str
    revoked: bool


class NewKeyPublic(KeyPublic):
    key: str = Field(description="The key itself: shown this once, never again")


class NewKey(BaseModel):
    name: str = Field(description="Who or what will use the key")


def _public(row: AccessKey) -> dict:
    return dict(id=str(row.id), name=row.name, prefix=row.prefix, created_at=row.created_at.isoformat(),
                revoked=row.revoked_at is not None)


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
def signin_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render_page(request, "signin.html", "signin", "Sign in", next=_safe_next(next), error=None)


@router.post("/signin", include_in_schema=False)
def signin(request: Request, ctx: ContextDep, key: Annotated[str, Form()] = "",
           next: Annotated[str | None, Form()] = None) -> Response:
    try:
        cookie = ctx.access.cookie_for(key)
    except UtterError as exc:
        page = render_page(request, "signin.html", "signin", "Sign in", next=_safe_next(next), error=exc.message)
        page.status_code = 401
        return page
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE_NAME, cookie, max_age=SESSION_SECONDS, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/signout", include_in_schema=False)
def signout() -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/api/keys", response_model=list[KeyPublic])
async def list_keys(ctx: ContextDep) -> list[dict]:
    """The access keys, newest first (never the keys themselves)."""
    return [_public(row) for row in await run_in_threadpool(ctx.access.list)]


@router.post("/api/keys", status_code=201, response_model=NewKeyPublic,
             responses={422: {"model": ErrorResponse}})
async def create_key(request: NewKey, ctx: ContextDep) -> dict:
    """A new key. From now on (if it is the first) every request needs a key."""
    row, key = await run_in_threadpool(ctx.access.create, request.name)
    return _public(row) | {"key": key}


@router.delete("/api/keys/{reference}", response_model=KeyPublic, responses={404: {"model": ErrorResponse}})
async def revoke_key(reference: str, ctx: ContextDep) -> dict:
    """Revoke a key (by id or prefix): it and the sign-ins made with it stop working within seconds."""
    return _public(await run_in_threadpool(ctx.access.revoke, reference))


@router.get("/keys", response_class=HTMLResponse, include_in_schema=False)
def keys_page(request: Request) -> HTMLResponse:
    return render_page(request, "keys.html", "keys", "Access keys")
