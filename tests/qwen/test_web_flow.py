"""The whole web flow with the in-process Qwen3-TTS engine selected (tiny random checkpoint)."""

from __future__ import annotations

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
