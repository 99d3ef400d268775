"""What every request passes before it reaches a route: the Host it names, where a browser sent it
from, and the headers every answer carries.

- **Host allow-list.** A page on another site can make a browser resolve its own name to this
  server (DNS rebinding) and then read and write as if it were the studio's own page. Requests
  must name this server: a loopback name, the host of UTTER_PUBLIC_URL, or one listed in
  UTTER_ALLOWED_HOSTS ("*" allows any, for a studio reached by changing addresses on a LAN). The
  health check answers any Host, since platforms probe it by their own names.
- **No cross-site writes.** A browser says where a request comes from (Sec-Fetch-Site, Origin);
  a request that changes something and comes from another site is refused, so a page elsewhere
  cannot post a form to a studio running on localhost. API clients and SDKs send neither header.
- **Headers on every answer**: no MIME sniffing, no framing, and a Content-Security-Policy on
  responses that do not set their own (the pages set a stricter one; /docs loads Swagger UI).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ANY_HOST_PATHS = ("/api/health",)
# FastAPI's docs pages load Swagger UI / ReDoc from jsDelivr and start them with an inline script.
_DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
             "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
             "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
             "https://cdn.redoc.ly; worker-src blob:; frame-ancestors 'none'")
# For JSON: nothing in an API answer may load or run anything, should a browser ever render one.
_JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def host_of(value: str) -> str:
    """The host name in a Host header or origin, lower-cased, without port or IPv6 brackets."""
    value = value.strip().lower()
    if "://" in value:
        value = urlsplit(value).netloc
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The Host names requests may carry; None when any is allowed."""
    listed = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
    if "*" in listed:
        return None
    if settings.public_url:
        listed.add(host_of(settings.public_url))
    return frozenset(LOOPBACK_HOSTS | {host_of(h) for h in listed})


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.hosts = allowed_hosts(settings)
        self.public_origin = settings.public_url.rstrip("/").lower() if settings.public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope.get("path", "")
        host = headers.get("host", "")
        if self.hosts is not None and not path.startswith(_ANY_HOST_PATHS) and host_of(host) not in self.hosts:
            await _refuse(send, 421, "host_not_allowed",
                          f"This server does not answer to the name {host_of(host)!r}. If that is how people reach "
                          "it, set UTTER_PUBLIC_URL (or add the name to UTTER_ALLOWED_HOSTS).")
            return
        if scope["method"] not in _SAFE_METHODS and self._cross_site(headers, host):
            await _refuse(send, 403, "cross_site_request",
                          "A page on another site cannot change anything here. Use Utter's own pages, or call the "
                          "API from a program rather than from a browser page on another site.")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.setdefault("x-content-type-options", "nosniff")
                out.setdefault("x-frame-options", "DENY")
                out.setdefault("referrer-policy", "same-origin")
                if path in ("/docs", "/redoc"):
                    out.setdefault("content-security-policy", _DOCS_CSP)
                elif out.get("content-type", "").startswith("application/json"):
                    out.setdefault("content-security-policy", _JSON_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cross_site(self, headers: Headers, host: str) -> bool:
        site = headers.get("sec-fetch-site")
        if site is not None:
            return site not in ("same-origin", "none")
        origin = headers.get("origin")
        if origin is None:
            return False
        origin = origin.rstrip("/").lower()
        if origin == "null":
            return True  # a sandboxed frame or a file: page
        if self.public_origin and origin == self.public_origin:
            return False
        return urlsplit(origin).netloc != host.strip().lower()


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]})
    await send({"type": "http.response.body", "body": body})
