"""Each compatible API answers errors in its own shape, so its SDK raises its own typed exceptions.

Handlers raise Utter's UtterError as everywhere else; a route class per API catches it
(and request-validation errors) and renders the body that API's clients expect.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import UtterError, _describe_validation

Render = Callable[[UtterError], JSONResponse]


def route_class(render: Render, validation_status: int) -> type[APIRoute]:
    """An APIRoute whose errors are rendered by `render`; malformed requests get `validation_status`."""

    class CompatRoute(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def handle(request: Request):
                try:
                    return await handler(request)
                except UtterError as exc:
                    return render(exc)
                except RequestValidationError as exc:
                    message, field = _describe_validation(exc)
                    return render(UtterError(validation_status, "invalid_request", message, field=field))
                except StarletteHTTPException as exc:
                    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
                    return render(UtterError(exc.status_code, "http_error", message))

            return handle

    return CompatRoute


# Utter refuses unusable input with 422; both APIs say 400 for a request they understood but cannot do.
def public_status(status: int) -> int:
    return 400 if status == 422 else status


def openai_error(exc: UtterError) -> JSONResponse:
    status = public_status(exc.status)
    kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status)
    kind = kind or ("server_error" if status >= 500 else "invalid_request_error")
    headers = dict(exc.headers or {})
    # The SDK retries 409, 429 and 5xx unless told not to; only a full queue is worth retrying.
    headers.setdefault("x-should-retry", "true" if exc.code == "queue_full" else "false")
    body = {"error": {"message": exc.message, "type": kind, "param": exc.field, "code": exc.code}}
    return JSONResponse(body, status_code=status, headers=headers)


def elevenlabs_error(exc: UtterError) -> JSONResponse:
    body = {"detail": {"status": exc.code, "message": exc.message}}
    return JSONResponse(body, status_code=public_status(exc.status), headers=exc.headers)


OpenAIRoute = route_class(openai_error, validation_status=400)
ElevenLabsRoute = route_class(elevenlabs_error, validation_status=422)
