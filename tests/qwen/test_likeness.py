"""Likeness (issue 17): how alike a result is to the cloned voice, by the Base model's own speaker encoder."""

from __future__ import annotations

import numpy as np
import pytest

from tests.api.test_bad_input import post_clone
from tests.support.app_fixtures import wait_for_generation
from utter.adapters.tts.base import VoiceReference
from utter.adapters.tts.qwen import QwenEngine
from utter.audio import codec

from .conftest import MAX_NEW_TOKENS, MemoryPromptCache, write_wav


@pytest.fixture
def engine(qwen_settings):
    engine = QwenEngine(qwen_settings, reason="test", max_new_tokens=MAX_NEW_TOKENS)
    yield engine
    engine.close()


def test_the_reference_is_most_like_itself(engine, tmp_path, monkeypatch):
    """Through the real speaker encoder (tiny random weights): the reference's own speech scores ~1, other
    speech less; the reference's embedding is the one its clone prompt holds, built once."""
    import utter.adapters.tts.qwen_inference as qi

    embedded = []
    real = qi.speaker_similarity
    monkeypatch.setattr(qi, "speaker_similarity", lambda *a: embedded.append(1) or real(*a))
    reference = write_wav(tmp_path / "a.wav", seed=1)
    voice = VoiceReference(voice_id="a", audio_path=reference, transcript=None, version="1")
    prompts = MemoryPromptCache()
    same = codec.decode(reference, target_rate=24000).samples
    # Other "speech": noise and a high tone, nothing like the reference's low tones.
    t = np.arange(3 * 24000) / 24000
    other = 0.3 * np.random.default_rng(3).standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 2500 * t)
    itself = engine.likeness(voice, same, 24000, prompts)
    elsewhere = engine.likeness(voice, other.astype(np.float32), 24000, prompts)
    # A tiny random encoder separates little; the real one is trained to (not checkable here).
    assert itself > 0.999 and elsewhere < itself - 0.01, (itself, elsewhere)
    assert prompts.saves == 1 and len(embedded) == 2  # the prompt was built once
    # At another rate the audio is brought to the encoder's 24 kHz first (not read as if it were 24 kHz).
    at_16k = codec.decode(reference, target_rate=16000).samples
    resampled = engine.likeness(voice, codec.resample(at_16k, 16000, 24000), 24000, prompts)
    assert engine.likeness(voice, at_16k, 16000, prompts) == pytest.approx(resampled, abs=1e-4)
    assert abs(engine.likeness(voice, at_16k, 24000, prompts) - resampled) > 1e-3


def test_a_cloned_generation_stores_its_likeness(qwen_server, speech_clips):
    with qwen_server.client() as client:
        voice = post_clone(client, speech_clips["wav"], transcript="The quick brown fox jumps over the lazy dog.").json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello there.", "language": "en"})
        done = wait_for_generation(client, queued.json()["status_url"], timeout=180)
        listed = client.get("/api/generations").json()["generations"][0]
    assert done["status"] == "done"
    likeness = done["checks"]["likeness"]
    assert -1 <= likeness["whole"] <= 1 and -1 <= likeness["reference_half"] <= 1
    assert listed["checks"]["likeness"] == likeness  # stored with the generation, not computed on read
    assert "Likeness to the reference" in done["checks"]["summary"]
    assert done["checks"]["checked"] is False  # speech recognition is off in this server: not heard back
