"""The request guard: Host names the server answers to, no writes from other sites, headers on every answer."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_bad_input import assert_error
from tests.compat.helpers import upload_voice

SILENCE_WAV = b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xc0]\x00\x00\x80\xbb\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"


def test_a_foreign_host_is_refused_except_by_the_health_check(server):
    for path in ("/api/voices", "/", "/v1/voices"):
        response = httpx.get(server.url + path, headers={"Host": "attacker.example"})
        assert_error(response, 421, "host_not_allowed")
        assert "UTTER_PUBLIC_URL" in response.json()["error"]["message"]
    assert httpx.get(server.url + "/api/health", headers={"Host": "healthcheck.railway.app"}).status_code == 200
    for host in ("localhost", "127.0.0.1:8000", "[::1]:8000"):
        assert httpx.get(server.url + "/api/voices", headers={"Host": host}).status_code == 200


def test_the_public_url_and_listed_hosts_are_answered(make_server):
    server = make_server(public_url="https://voices.example.com", allowed_hosts="studio.lan, 10.0.0.5")
    for host in ("voices.example.com", "studio.lan:8000", "10.0.0.5"):
        assert httpx.get(server.url + "/api/voices", headers={"Host": host}).status_code == 200
    assert httpx.get(server.url + "/api/voices", headers={"Host": "other.example.com"}).status_code == 421
    anywhere = make_server(allowed_hosts="*")
    assert httpx.get(anywhere.url + "/api/voices", headers={"Host": "192.168.1.20:8000"}).status_code == 200


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # another port or subdomain is another origin
    {"Origin": "https://attacker.example"},
    {"Origin": "null"},
])
def test_writes_sent_by_pages_on_other_sites_are_refused(client, server, headers):
    response = client.post("/api/clone", data={"name": "Stolen"}, files={"audio": ("a.wav", SILENCE_WAV)},
                           headers=headers)
    assert_error(response, 403, "cross_site_request")
    assert client.get("/api/voices").json()["voices"] == []
    # Reading is not refused (the pages' own scripts read), and nor is a program that sends no browser headers.
    assert client.get("/api/voices", headers=headers).status_code == 200


def test_writes_from_the_studios_own_pages_and_from_programs_pass(client, server, speech_clips):
    same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": server.url}
    with open(speech_clips["wav"], "rb") as clip:
        created = client.post("/api/clone", data={"name": "Mine"}, files={"audio": ("a.wav", clip)}, headers=same_origin)
    assert created.status_code == 201, created.text
    assert client.patch(f"/api/voices/{created.json()['id']}", json={"name": "Renamed"},
                        headers={"Origin": server.url}).status_code == 200
    assert upload_voice(client, speech_clips["wav"])["id"]  # no Origin, no Sec-Fetch-Site: an API client


def test_every_answer_says_nosniff_and_no_framing(client, speech_clips):
    voice = upload_voice(client, speech_clips["wav"])
    for path in ("/api/voices", "/api/nowhere", voice["reference_url"], "/", "/docs", "/static/css/style.css"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", "frame-ancestors 'none'")
    assert client.get("/api/voices").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "https://cdn.jsdelivr.net" in client.get("/docs").headers["content-security-policy"]


def test_urls_utter_builds_follow_the_public_url_not_the_request(make_server, speech_clips):
    server = make_server(public_url="https://voices.example.com", allowed_hosts="*")
    with server.client() as client:
        upload_voice(client, speech_clips["wav"])
        listed = client.get("/v1/voices", headers={"Host": "attacker.example"}).json()["voices"]
    assert listed[0]["preview_url"].startswith("https://voices.example.com/uploads/references/")
