"""Access keys: open until one exists; then every route but the health check and the static files
needs one (API, compatible APIs, pages, docs, stored audio), a browser signs in with one, a revoked
key stops working, and each key is rate-limited."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from tests.api.test_bad_input import assert_error
from tests.compat.helpers import upload_voice
from utter.access.gate import OPEN_PATHS

DUMMY = "00000000-0000-0000-0000-000000000000"


def _make_key(client, name="Laptop") -> str:
    made = client.post("/api/keys", json={"name": name})
    assert made.status_code == 201, made.text
    return made.json()["key"]


def _routes(routes, prefix=""):
    """The app's routes, those of included routers too (FastAPI keeps them behind a wrapper)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes, prefix + route.include_context.prefix)
        else:
            yield prefix, route


def _probes(app):
    """Every route the app serves, as (method, path) with its parameters filled in."""
    for prefix, route in _routes(app.routes):
        if isinstance(route, APIRoute):
            path = prefix + re.sub(r"\{[^}]+\}", DUMMY, route.path)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, path
        elif isinstance(route, Mount):
            yield "GET", route.path + "/css/style.css"
        elif getattr(route, "path", None):
            yield "GET", route.path  # /docs, /openapi.json, /redoc


def test_open_until_a_key_exists_then_every_route_needs_one(server, speech_clips):
    with server.client() as client:
        assert client.get("/api/voices").status_code == 200  # the laptop run: open, nothing configured
        upload_voice(client, speech_clips["wav"])
        key = _make_key(client)
    probed = 0
    with server.client() as anonymous, server.client(headers={"Authorization": f"Bearer {key}"}) as keyed:
        for method, path in _probes(server.app):
            response = anonymous.request(method, path)
            if path.startswith(OPEN_PATHS):  # answered by the route itself, not refused by the gate
                assert "needs an access key" not in response.text, (method, path)
                continue
            probed += 1
            assert response.status_code == 401, (method, path, response.status_code)
            assert keyed.request(method, path).status_code != 401, (method, path)
    assert probed > 40
    # The same with xi-api-key, as ElevenLabs' SDK sends it.
    assert httpx.get(server.url + "/v1/voices", headers={"xi-api-key": key}).status_code == 200


def test_refusals_come_in_each_apis_own_shape(server):
    with server.client() as client:
        _make_key(client)
        openai = client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "x", "model": "tts-1"})
        assert openai.status_code == 401 and openai.json()["error"]["code"] == "invalid_api_key"
        assert openai.json()["error"]["type"] == "invalid_request_error"
        eleven = client.get("/v1/voices")
        assert eleven.status_code == 401 and eleven.json()["detail"]["status"] == "invalid_api_key"
        assert_error(client.get("/api/voices"), 401, "invalid_api_key")
        assert client.get("/api/health").status_code == 200


def test_a_browser_signs_in_and_out_with_a_key(server, speech_clips):
    with server.client() as setup:
        voice = upload_voice(setup, speech_clips["wav"])
        key = _make_key(setup)
    with server.client(follow_redirects=False) as browser:
        page = browser.get("/voices", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/signin?next=/voices"
        assert browser.get("/signin").status_code == 200
        wrong = browser.post("/signin", data={"key": "utk_wrong", "next": "/voices"})
        assert wrong.status_code == 401 and "not an access key" in wrong.text
        signed = browser.post("/signin", data={"key": key, "next": "//attacker.example/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/"  # never off to another site
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
        assert browser.get("/voices", headers={"Accept": "text/html"}).status_code == 200
        assert browser.get(voice["reference_url"]).status_code == 200  # stored audio, with the cookie
        assert browser.post("/signout").status_code == 303
        assert browser.get("/api/voices").status_code == 401
    assert httpx.get(server.url + voice["reference_url"]).status_code == 401  # and without it


def test_a_revoked_key_and_its_sign_ins_stop_working(server):
    with server.client() as client:
        key = _make_key(client, "Leaving")
    with server.client(headers={"Authorization": f"Bearer {key}"}) as client:
        spare = _make_key(client, "Staying")  # once a key exists, making another needs one
    with server.client(headers={"Authorization": f"Bearer {spare}"}) as owner, server.client() as browser:
        browser.post("/signin", data={"key": key})
        assert browser.get("/api/voices").status_code == 200
        listed = owner.get("/api/keys").json()
        leaving = next(k for k in listed if k["name"] == "Leaving")
        assert "key" not in leaving and leaving["prefix"] == key[:10]
        assert owner.delete(f"/api/keys/{leaving['prefix']}").json()["revoked"] is True
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if (httpx.get(server.url + "/api/voices", headers={"Authorization": f"Bearer {key}"}).status_code == 401
                    and browser.get("/api/voices").status_code == 401):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the revoked key still worked after 15 s")
        assert owner.get("/api/voices").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_key_is_rate_limited(make_server):
    server = make_server(rate_limit_per_minute=5)
    with server.client() as client:
        key = _make_key(client)
    with server.client(headers={"Authorization": f"Bearer {key}"}) as keyed:
        statuses = [keyed.get("/api/voices").status_code for _ in range(5)]
        limited = keyed.get("/v1/audio/voice_consents")
    assert statuses == [200] * 5
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error" and limited.json()["error"]["code"] == "rate_limited"
