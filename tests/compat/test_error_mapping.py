"""The compatible APIs' errors: every failure a route can meet, in the shape and status each SDK expects.

A small app with one route per kind of failure, under each API's route class, called in-process
(no server): what its SDK would see is the status, the headers and the JSON body.
"""

from __future__ import annotations

import logging

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from utter.adapters.storage import ObjectMissing, StorageError
from utter.compat.errors import (
    ElevenLabsRoute,
    OpenAIRoute,
    elevenlabs_error,
    openai_error,
    public_status,
    route_class,
)
from utter.errors import UtterError


class Body(BaseModel):
    voice: str


def failing_app(openai_route=None, elevenlabs_route=None) -> FastAPI:
    """Routes that fail in every way; the route classes are made here from the renderers by default."""
    app = FastAPI()
    routes = (("/openai", openai_route or route_class(openai_error)),
              ("/elevenlabs", elevenlabs_route or route_class(elevenlabs_error)))
    for prefix, route in routes:
        router = APIRouter(prefix=prefix, route_class=route)

        @router.get("/utter")
        def utter_error():
            raise UtterError(422, "text_empty", "Type something to say.", field="input")

        @router.get("/full")
        def full():
            raise UtterError(503, "queue_full", "Too many waiting.", headers={"Retry-After": "5"})

        @router.post("/validated")
        def validated(body: Body):
            return {"voice": body.voice}

        @router.get("/http")
        def http_error():
            raise StarletteHTTPException(405, "Use POST here.")

        @router.get("/http-detail")
        def http_detail():
            raise StarletteHTTPException(409, detail={"not": "a string"})

        @router.get("/storage-down")
        def storage_down():
            raise StorageError("storage_unavailable", "The bucket cannot be reached.")

        @router.get("/missing")
        def missing():
            raise ObjectMissing("generated/x.mp3")

        @router.get("/crash")
        def crash():
            raise ZeroDivisionError("boom")

        @router.get("/fine")
        def fine():
            return {"ok": True}

        app.include_router(router)
    return app


@pytest.fixture
def client():
    with TestClient(failing_app(), raise_server_exceptions=False) as client:
        yield client


def test_the_exported_route_classes_render_their_own_apis_shape():
    with TestClient(failing_app(OpenAIRoute, ElevenLabsRoute)) as client:
        assert client.get("/openai/utter").json()["error"]["code"] == "text_empty"
        assert client.get("/elevenlabs/utter").json()["detail"]["status"] == "text_empty"
        assert client.get("/openai/crash").json()["error"]["code"] == "internal_error"


def test_a_route_that_works_is_left_alone(client):
    for api in ("openai", "elevenlabs"):
        response = client.get(f"/{api}/fine")
        assert (response.status_code, response.json()) == (200, {"ok": True})


def test_refused_input_is_400_in_each_apis_shape(client):
    openai = client.get("/openai/utter")
    assert openai.status_code == 400
    assert openai.json() == {"error": {"message": "Type something to say.", "type": "invalid_request_error",
                                       "param": "input", "code": "text_empty"}}
    assert openai.headers["x-should-retry"] == "false"
    eleven = client.get("/elevenlabs/utter")
    assert eleven.status_code == 400
    assert eleven.json() == {"detail": {"status": "text_empty", "message": "Type something to say."}}
    assert "x-should-retry" not in eleven.headers


def test_a_full_queue_is_429_worth_retrying_after_the_given_time(client):
    openai = client.get("/openai/full")
    assert openai.status_code == 429
    assert openai.json()["error"]["type"] == "rate_limit_error"
    assert openai.json()["error"]["code"] == "queue_full"
    assert openai.headers["x-should-retry"] == "true"
    assert openai.headers["retry-after"] == "5"
    eleven = client.get("/elevenlabs/full")
    assert eleven.status_code == 429 and eleven.headers["retry-after"] == "5"
    assert eleven.json()["detail"]["status"] == "queue_full"


def test_request_validation_names_the_field(client):
    for api, code_of in (("openai", lambda b: b["error"]["code"]), ("elevenlabs", lambda b: b["detail"]["status"])):
        response = client.post(f"/{api}/validated", json={"colour": "blue"})
        assert response.status_code == 400
        assert code_of(response.json()) == "invalid_request"
    assert client.post("/openai/validated", json={}).json()["error"]["param"] == "voice"
    assert client.post("/openai/validated", json={"voice": "alloy"}).json() == {"voice": "alloy"}


def test_http_exceptions_keep_their_status_and_a_readable_message(client):
    openai = client.get("/openai/http")
    assert openai.status_code == 405
    assert openai.json()["error"] == {"message": "Use POST here.", "type": "invalid_request_error", "param": None,
                                      "code": "http_error"}
    eleven = client.get("/elevenlabs/http-detail")
    assert eleven.status_code == 409
    assert eleven.json() == {"detail": {"status": "http_error", "message": "Request failed."}}


def test_storage_failures_say_whether_to_retry(client):
    down = client.get("/openai/storage-down")
    assert down.status_code == 503
    assert down.json()["error"] == {"message": "The bucket cannot be reached.", "type": "server_error",
                                    "param": None, "code": "storage_unavailable"}
    assert down.headers["retry-after"] == "30"
    # The SDK would retry a 503 unless told not to: only a full queue is worth it.
    assert down.headers["x-should-retry"] == "false"
    missing = client.get("/elevenlabs/missing")
    assert missing.status_code == 404
    assert missing.json()["detail"]["status"] == "object_missing"
    assert "retry-after" not in missing.headers


def test_a_crash_is_a_logged_500_that_shows_nothing_inside(client, caplog):
    with caplog.at_level(logging.ERROR, logger="utter.compat"):
        openai = client.get("/openai/crash")
    assert openai.status_code == 500
    assert openai.json()["error"] == {"message": "Something went wrong on the server. The error was logged.",
                                      "type": "server_error", "param": None, "code": "internal_error"}
    assert "boom" not in openai.text
    crashed = [r for r in caplog.records if r.name == "utter.compat"]
    assert [r.getMessage() for r in crashed] == ["request.crashed path=/openai/crash"]
    assert crashed[0].exc_info[0] is ZeroDivisionError
    eleven = client.get("/elevenlabs/crash")
    assert eleven.status_code == 500
    assert eleven.json()["detail"]["status"] == "internal_error"


@pytest.mark.parametrize(("status", "code", "public"), [
    (422, "text_empty", 400), (503, "queue_full", 429), (401, "unauthorized", 401), (404, "voice_not_found", 404),
    (400, "invalid_key", 400), (500, "internal_error", 500), (409, "conflict", 409),
])
def test_public_status(status, code, public):
    assert public_status(UtterError(status, code, "m")) == public


@pytest.mark.parametrize(("status", "kind"), [
    (401, "invalid_request_error"), (404, "invalid_request_error"), (499, "invalid_request_error"),
    (500, "server_error"), (502, "server_error"),
])
def test_openai_error_types(status, kind):
    import json

    response = openai_error(UtterError(status, "some_code", "Some message."))
    assert response.status_code == status
    assert json.loads(response.body)["error"]["type"] == kind


def test_openai_keeps_headers_it_is_given_and_an_explicit_retry_advice():
    import json

    error = UtterError(503, "engine_busy", "Busy.", headers={"Retry-After": "9", "x-should-retry": "true"})
    response = openai_error(error)
    assert response.headers["retry-after"] == "9"
    assert response.headers.getlist("x-should-retry") == ["true"]
    assert json.loads(response.body)["error"]["message"] == "Busy."
    assert error.headers == {"Retry-After": "9", "x-should-retry": "true"}  # the error itself is not changed
    plain = openai_error(UtterError(404, "voice_not_found", "No voice."))
    assert plain.headers["x-should-retry"] == "false"


def test_elevenlabs_passes_headers_through():
    response = elevenlabs_error(UtterError(503, "storage_unavailable", "Down.", headers={"Retry-After": "30"}))
    assert response.status_code == 503 and response.headers["retry-after"] == "30"
    assert elevenlabs_error(UtterError(404, "voice_not_found", "No voice.")).headers.get("retry-after") is None
