"""One error type for every failure a person can cause, rendered the same way everywhere.

Every 4xx carries a stable `code` that clients can switch on and a `message` a person
understands; `field` names the form field it concerns so pages can show it in place.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .adapters.storage import StorageError

# A bucket that cannot be reached is the server's trouble, not the request's: 503 tells clients to retry.
_STORAGE_STATUS = {"storage_unavailable": 503, "object_missing": 404, "invalid_key": 400}


class UtterError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def not_found(what: str, code: str) -> UtterError:
    return UtterError(404, code, f"No {what} with that id exists (it may have been deleted).")


def error_json(status: int, code: str, message: str, field: str | None = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "form")]
    field = location[0] if location else None
    if first.get("type") == "missing":
        return (f"The field '{field}' is required." if field else "A required field is missing."), field
    if first.get("type") in ("json_invalid", "model_attributes_type", "dict_type"):
        return "The request body must be a JSON object.", None
    detail = first.get("msg", "is invalid")
    return (f"The field '{field}' is invalid: {detail}." if field else f"Invalid request: {detail}."), field


def from_validation_error(exc: RequestValidationError) -> UtterError:
    """A request that failed FastAPI's validation, as one readable error naming the field."""
    message, field = _describe_validation(exc)
    return UtterError(422, "invalid_request", message, field=field)


def from_storage_error(exc: StorageError) -> UtterError:
    """A storage failure as the error a client sees: 503 (retry later) unless the object or key is at fault."""
    logging.getLogger("utter.api").warning("request.storage_error code=%s message=%s", exc.code, exc.message)
    status = _STORAGE_STATUS.get(exc.code, 503)
    return UtterError(status, exc.code, exc.message, headers={"Retry-After": "30"} if status == 503 else None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UtterError)
    async def _utter(_request: Request, exc: UtterError) -> JSONResponse:
        return error_json(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> JSONResponse:
        return await _utter(request, from_storage_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return await _utter(request, from_validation_error(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("utter.api").exception("request.crashed")
        return error_json(500, "internal_error", "Something went wrong on the server. The error was logged.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "There is nothing at this address."
        return error_json(exc.status_code, code, message, headers=getattr(exc, "headers", None))
