"""Transcripts are bounded work: a clone waiting for its transcript holds no server thread, clips
waiting their turn hold no audio, and beyond a limit a clone is refused with queue_full."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.test_bad_input import assert_error
from tests.transcripts.test_clone_transcripts import post_clone
from utter.voices import transcription

pytestmark = pytest.mark.slow


class HeldTranscriber:
    """The real recogniser, held back until the test lets it work."""

    def __init__(self, real):
        self.real = real
        self.name = real.name
        self.go = threading.Event()
        self.started = threading.Semaphore(0)

    def transcribe(self, samples, sample_rate, language=None, **kwargs):
        self.started.release()
        assert self.go.wait(60), "the test never let the recogniser work"
        return self.real.transcribe(samples, sample_rate, language, **kwargs)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_clones_waiting_for_transcripts_hold_no_threads(make_server, transcriber, speech_clips):
    held = HeldTranscriber(transcriber)
    server = make_server(transcriber=held, asr_wait_seconds=30)

    def clone(n):
        with open(speech_clips["wav"], "rb") as clip:
            return httpx.post(server.url + "/api/clone", data={"name": f"Voice {n}"},
                              files={"audio": ("clip.wav", clip, "audio/wav")}, timeout=90)

    # More clones than the server has threads (40), each waiting up to 30 s for its transcript.
    with ThreadPoolExecutor(42) as clients:
        waiting = [clients.submit(clone, n) for n in range(42)]
        assert held.started.acquire(timeout=60)  # the first transcript is under way; the others wait their turn
        deadline = time.monotonic() + 120
        while server.ctx.transcriptions.waiting < 16 and time.monotonic() < deadline:
            time.sleep(0.1)  # the backlog fills (16 wait; the clones beyond it are refused)
        start = time.monotonic()
        health = httpx.get(server.url + "/api/health", timeout=10)
        assert health.status_code == 200 and time.monotonic() - start < 1.0
        held.go.set()
        answered = [w.result().status_code for w in waiting]
    assert answered.count(201) >= 16 and set(answered) <= {201, 503}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_clone_beyond_the_transcript_backlog_is_refused(make_server, transcriber, speech_clips, monkeypatch):
    monkeypatch.setattr(transcription, "WAITING_LIMIT", 2)
    held = HeldTranscriber(transcriber)
    server = make_server(transcriber=held, asr_wait_seconds=0)
    with server.client() as client:
        first, second = (post_clone(client, speech_clips["wav"], name=f"V{n}") for n in range(2))
        assert first.status_code == second.status_code == 201
        assert first.json()["transcription"] == "transcribing"
        refused = post_clone(client, speech_clips["wav"], name="Third")
        assert_error(refused, 503, "queue_full", None)
        assert refused.headers["retry-after"] == "30"
        assert len(client.get("/api/voices").json()["voices"]) == 2  # nothing of the refused clone is kept
        held.go.set()
        deadline = time.monotonic() + 60
        while any(v["transcription"] == "transcribing" for v in client.get("/api/voices").json()["voices"]):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert post_clone(client, speech_clips["wav"], name="Later").status_code == 201
