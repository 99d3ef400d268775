"""The gate every request passes once access keys exist: a key, or the cookie of a sign-in, or no entry.

It sits before the routes as ASGI middleware, so nothing is left out: the JSON API, both
compatible APIs, the pages, the API docs and the stored audio. Only the health check, the
static assets and the sign-in page are open. A page asked for without a key is sent to the
sign-in page; anything else is answered 401 in the error shape of the API it belongs to, as
its SDK expects. Each key may make UTTER_RATE_LIMIT_PER_MINUTE requests a minute (a token
bucket, per process); beyond that, 429 with Retry-After.
"""

from __future__ import annotations

import math
import threading
import time
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..compat.errors import elevenlabs_error, openai_error
from ..errors import UtterError, error_json
from .keys import COOKIE_NAME, AccessKeys, Holder

OPEN_PATHS = ("/api/health", "/static/", "/signin", "/favicon.ico")


class RateLimits:
    """A token bucket per key: `per_minute` requests, refilled evenly."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when)

    def wait_needed(self, key_id: str) -> float:
        """0 when the request may go ahead (a token is taken), else seconds until one is back."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, when = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - when) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


def render(path: str, error: UtterError) -> JSONResponse:
    """An error in the shape of the API `path` belongs to."""
    if path.startswith("/v1/audio/"):
        return openai_error(error)
    if path.startswith(("/v1/", "/v2/")):
        return elevenlabs_error(error)
    return error_json(error.status, error.code, error.message, error.field, error.headers)


class AccessGate:
    def __init__(self, app: ASGIApp, rate_limit_per_minute: int):
        self.app = app
        self.limits = RateLimits(rate_limit_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        access: AccessKeys = scope["app"].state.ctx.access
        headers = Headers(scope=scope)
        if not await run_in_threadpool(access.required):
            await self.app(scope, receive, send)
            return
        holder = await run_in_threadpool(_holder, access, headers)
        if holder is None:
            response = self._refuse(scope, headers, path)
        elif wait := self.limits.wait_needed(holder.key_id):
            seconds = max(1, math.ceil(wait))
            response = render(path, UtterError(429, "rate_limited", f"Too many requests with this key; try again in "
                                                                     f"{seconds} s.", headers={"Retry-After": str(seconds)}))
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    @staticmethod
    def _refuse(scope: Scope, headers: Headers, path: str) -> Response:
        if scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
            target = path + ("?" + scope["query_string"].decode() if scope.get("query_string") else "")
            return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303)
        return render(path, UtterError(401, "invalid_api_key",
                                       "This Utter server needs an access key (one made with `utter keys create`, "
                                       "or UTTER_API_KEY): send it as 'Authorization: Bearer <key>' or "
                                       "'xi-api-key: <key>', or sign in at /signin."))


def _holder(access: AccessKeys, headers: Headers) -> Holder | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    for key in (token if scheme.lower() == "bearer" else None, headers.get("xi-api-key")):
        holder = access.holder_of_key(key)
        if holder is not None:
            return holder
    cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
    return access.holder_of_cookie(cookie) if cookie else None
