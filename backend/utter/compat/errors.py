"""Each compatible API answers errors in its own shape, so its SDK raises its own typed exceptions.

Handlers raise Utter's UtterError as everywhere else; a route class per API catches it
(and request-validation errors) and renders the body that API's clients expect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import UtterError, from_storage_error, from_validation_error
from ..adapters.storage import StorageError

log = logging.getLogger("utter.compat")

Render = Callable[[UtterError], JSONResponse]


def route_class(render: Render) -> type[APIRoute]:
    """An APIRoute whose errors, expected or not, are all rendered by `render`."""

    class CompatRoute(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def handle(request: Request):
                try:
                    return await handler(request)
                except UtterError as exc:
                    return render(exc)
                except RequestValidationError as exc:
                    return render(from_validation_error(exc))
                except StarletteHTTPException as exc:
                    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
                    return render(UtterError(exc.status_code, "http_error", message))
                except StorageError as exc:
                    return render(from_storage_error(exc))
                except Exception:
                    log.exception("request.crashed path=%s", request.url.path)
                    return render(UtterError(500, "internal_error",
                                             "Something went wrong on the server. The error was logged."))

            return handle

    return CompatRoute


def public_status(exc: UtterError) -> int:
    """Utter refuses unusable input with 422; both APIs say 400 for a request they understood but cannot do,
    and 429 when there is no room for more work (Utter's full queue)."""
    if exc.code == "queue_full":
        return 429
    return 400 if exc.status == 422 else exc.status


def openai_error(exc: UtterError) -> JSONResponse:
    status = public_status(exc)
    kind = {429: "rate_limit_error"}.get(status)
    kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
    headers = dict(exc.headers or {})
    # The SDK retries 409, 429 and 5xx unless told not to; only a full queue is worth retrying (after Retry-After).
    headers.setdefault("x-should-retry", "true" if exc.code == "queue_full" else "false")
    body = {"error": {"message": exc.message, "type": kind, "param": exc.field, "code": exc.code}}
    return JSONResponse(body, status_code=status, headers=headers)


def elevenlabs_error(exc: UtterError) -> JSONResponse:
    body = {"detail": {"status": exc.code, "message": exc.message}}
    return JSONResponse(body, status_code=public_status(exc), headers=exc.headers)


OpenAIRoute = route_class(openai_error)
ElevenLabsRoute = route_class(elevenlabs_error)
