"""The whole web flow with the in-process Qwen3-TTS engine selected (tiny random checkpoint)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.api.test_bad_input import post_clone
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import decoded_duration

from tests.support.qwen_fixtures import QWEN_TEST_MAX_NEW_TOKENS as MAX_NEW_TOKENS

from .conftest import SAMPLES_PER_TOKEN


def test_auto_picks_qwen_when_its_weights_are_on_disk(tiny_qwen_base_dir, tiny_qwen_design_dir):
    from utter.config import Settings
    from utter.adapters.tts.registry import build_engine

    engine = build_engine(Settings(_env_file=None, engine="auto", qwen_model=str(tiny_qwen_base_dir),
                                   qwen_design_model=str(tiny_qwen_design_dir)))
    assert engine.info.name == "qwen"
    assert "weights found" in engine.info.reason
    assert engine.info.capabilities.can_clone and engine.info.capabilities.can_design


def test_clone_generate_download_with_qwen(qwen_server, speech_clips):
    server = qwen_server
    with server.client() as client:
        health = client.get("/api/health").json()
        assert health["engine"]["name"] == "qwen" and health["engine"]["capabilities"]["can_clone"] is True

        voice = post_clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello there.", "language": "en"})
        assert queued.status_code == 202, queued.text
        done = wait_for_generation(client, queued.json()["status_url"], timeout=180)
        assert done["status"] == "done", done
        assert done["engine"] == "qwen" and done["voice_cloned"] is True and done["notice"] is None
        seconds = decoded_duration(client.get(done["audio_url"]).content)
        # Random weights never stop on their own: the runaway guard caps each chunk.
        assert 0 < seconds <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN / 24000 + 0.2

        # The voice-clone prompt was built once and kept in storage for this revision of the voice.
        storage = server.ctx.storage
        assert storage.list_keys(f"prompts/{voice['id']}") == [f"prompts/{voice['id']}/r1.bin"]

        # Correcting the transcript makes a new revision: the old prompt is dropped, a new one is built.
        client.patch(f"/api/voices/{voice['id']}", json={"transcript": "Something else entirely."})
        assert storage.list_keys(f"prompts/{voice['id']}") == []
        again = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Once more."}).json()
        assert wait_for_generation(client, again["status_url"], timeout=180)["status"] == "done"
        assert storage.list_keys(f"prompts/{voice['id']}") == [f"prompts/{voice['id']}/r2.bin"]

        # Deleting the voice removes its cached prompt with it.
        client.delete(f"/api/voices/{voice['id']}")
        assert storage.list_keys(f"prompts/{voice['id']}") == []


def test_qwen_lists_the_models_languages(qwen_server, speech_clips):
    server = qwen_server
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        languages = {entry["code"] for entry in client.get("/api/engine").json()["capabilities"]["languages"]}
        assert {"auto", "en", "zh"} <= languages
        response = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hi.", "language": "ar"})
        assert response.status_code == 422 and response.json()["error"]["code"] == "language_unknown"


class HeldAfterFirstAudio:
    """The Qwen engine, whose speech is handed to the worker until `audio_seconds` of it have come, then
    held until the test lets it go on. The core goes on making frames meanwhile; only the hand-over waits."""

    def __init__(self, engine, audio_seconds: float):
        self._engine = engine
        self.info = engine.info
        self.audio_seconds = audio_seconds
        self.held = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def speak(self, request, task):
        pieces = self._engine.speak(request, task)
        seconds = 0.0
        try:
            for piece in pieces:
                yield piece
                seconds += len(piece.samples) / piece.sample_rate
                if seconds >= self.audio_seconds and not self.held.is_set():
                    self.held.set()
                    assert self.go.wait(60)
        finally:
            pieces.close()


FRAMES = 120  # frames a part may take here (9.6 s): far more than is handed over before the hold


@pytest.fixture
def held(make_server, qwen_engine, monkeypatch):
    monkeypatch.setattr(qwen_engine, "max_new_tokens", FRAMES + 1)  # qwen-tts never makes the last token's frame
    engine = HeldAfterFirstAudio(qwen_engine, audio_seconds=0.6)
    yield make_server(engine=engine, asr="off"), engine
    engine.go.set()


def listen(url: str, received: list[bytes], first_bytes: threading.Event) -> threading.Thread:
    def run():
        with httpx.stream("GET", url, timeout=60) as response:
            for data in response.iter_bytes():
                received.append(data)
                first_bytes.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_first_audio_streams_before_its_part_is_spoken(held, speech_clips):
    """The core's frames reach /stream as they are decoded: a listener hears the opening of a part while
    that part is still being spoken, and the stream is byte for byte the file kept."""
    server, engine = held
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello there, how are you?"}).json()
        received: list[bytes] = []
        first_bytes = threading.Event()
        listener = listen(server.url + queued["stream_url"], received, first_bytes)
        assert engine.held.wait(60) and first_bytes.wait(30), "no audio arrived while the part was being spoken"
        status = client.get(queued["status_url"]).json()
        assert status["status"] == "running" and status["chunks_done"] == 0 and status["chunks_total"] == 1
        # What was handed over: 0.6 s and the rest of the core's piece (at most 8 frames, 0.64 s)
        heard_early = decoded_duration(b"".join(received))
        assert 0.1 < heard_early < 1.5
        engine.go.set()
        listener.join(60)
        done = wait_for_generation(client, queued["status_url"], timeout=120)
        final = client.get(done["audio_url"]).content
    assert done["status"] == "done" and done["engine"] == "qwen"
    assert b"".join(received) == final
    assert decoded_duration(final) > heard_early + 1.0


def test_cancel_mid_part_stops_the_core_and_frees_its_slot(held, qwen_engine, speech_clips):
    """Cancelling a generation while the core speaks it cancels the core's stream: it stops making
    frames long before its cap, its slot is freed, and the next generation is spoken."""
    server, engine = held
    qwen_engine.load()  # its speed is measured with a generation when it loads: not counted below
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
        core = qwen_engine._base.core
        steps_before = core.steps
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello there, how are you?"}).json()
        assert engine.held.wait(60)
        assert core.active == 1  # 0.6 s handed over, of up to 9.6 s: the core is still speaking it
        assert client.post(f"/api/generations/{queued['id']}/cancel").json()["status"] == "cancelled"
        engine.go.set()
        assert wait_for_generation(client, queued["status_url"])["status"] == "cancelled"
        deadline = time.monotonic() + 30
        while core.active and time.monotonic() < deadline:
            time.sleep(0.02)
        assert core.active == 0
        assert core.steps - steps_before < FRAMES - 1, "the core spoke the cancelled part to its cap"

        engine.held.clear()
        again = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Once more."}).json()
        assert wait_for_generation(client, again["status_url"], timeout=120)["status"] == "done"
        server.stop()
    assert server.ctx.storage.list_keys("generated") == [f"generated/{again['id']}.mp3"]
