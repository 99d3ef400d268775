"""Clients that give up while they wait for audio hold nothing: the server keeps answering at once.

Nothing runs the generations here (no worker threads), so every request waits for audio that
never comes, the way a long queue or a slow GPU would make it wait; each client gives up after
a second. Before, each such wait held one of the server's 40 worker threads for up to 10 minutes
(speech) or an hour (streams), and 60 of them stopped the health check and the pages.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.compat.helpers import upload_voice

pytestmark = pytest.mark.slow


def _gives_up(call) -> None:
    try:
        call()
    except httpx.TimeoutException:
        return
    raise AssertionError("the request was answered; it should still have been waiting for audio")


def _answers_quickly(server, path: str) -> float:
    start = time.monotonic()
    response = httpx.get(server.url + path, timeout=10)
    assert response.status_code == 200, response.text
    return time.monotonic() - start


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_abandoned_speech_and_streams_leave_the_server_responsive(make_server, speech_clips):
    server = make_server(workers=0, max_queue=500, asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = [client.post("/api/generate", json={"voice_id": voice["id"], "text": f"Waiting {n}."}).json()
                  for n in range(45)]

    def speech():
        httpx.post(server.url + "/v1/audio/speech", timeout=1.0,
                   json={"model": "tts-1", "voice": voice["id"], "input": "Nobody will hear this."})

    def stream(generation):
        with httpx.stream("GET", server.url + generation["stream_url"], timeout=1.0) as response:
            for _ in response.iter_bytes():
                pass

    with ThreadPoolExecutor(105) as clients:
        abandoned = [clients.submit(_gives_up, speech) for _ in range(60)]
        abandoned += [clients.submit(_gives_up, lambda g=g: stream(g)) for g in queued]
        for waiting in abandoned:
            waiting.result()

    # 105 clients have come and gone; their waits must not be holding the server's threads.
    times = [_answers_quickly(server, path) for path in ("/api/health", "/", "/api/health", "/generate")]
    assert max(times) < 1.0, times
