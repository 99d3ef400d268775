"""QwenEngine end to end on the tiny checkpoints: clone, prompt cache, design, errors."""

from __future__ import annotations

import numpy as np
import pytest

from utter.adapters.tts import qwen_inference as qi
from utter.adapters.tts.base import DesignJob, EngineError, EngineUnsupported, SpeechEngine, SpeechJob, VoiceReference
from utter.adapters.tts.qwen import QwenEngine

from .conftest import MAX_NEW_TOKENS, SAMPLES_PER_TOKEN, MemoryPromptCache, write_wav


@pytest.fixture
def engine(qwen_settings):
    engine = QwenEngine(qwen_settings, reason="test", max_new_tokens=MAX_NEW_TOKENS)
    yield engine
    engine.close()


@pytest.fixture
def prompt_builds(monkeypatch):
    """Counts how often the slow reference processing runs (a spy; the real function runs)."""
    calls = []
    real = qi.build_clone_prompt

    def counting(loaded, audio, rate, transcript):
        calls.append(transcript)
        return real(loaded, audio, rate, transcript)

    monkeypatch.setattr(qi, "build_clone_prompt", counting)
    return calls


def voice(path, transcript="This is my reference clip.", version="v1"):
    return VoiceReference(voice_id="voice-1", audio_path=path, transcript=transcript, version=version)


def speak(engine, job, cache=None) -> np.ndarray:
    chunks = list(engine.synthesize(job, cache))
    assert chunks and all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    return np.concatenate(chunks)


def test_engine_info(engine):
    assert isinstance(engine, SpeechEngine)
    caps = engine.info.capabilities
    assert (engine.info.name, caps.can_clone, caps.can_design, caps.sample_rate) == ("qwen", True, True, 24000)
    engine.load()
    assert engine.info.details["device"] == "cpu"
    assert "en" in engine.info.capabilities.languages


@pytest.mark.parametrize("transcript, mode", [("This is my reference clip.", "icl"), (None, "x-vector")])
def test_clone_both_modes(engine, reference_wav, transcript, mode):
    cache = MemoryPromptCache()
    audio = speak(engine, SpeechJob("Hello from a cloned voice.", "en", voice(reference_wav, transcript)), cache)
    assert 0 < audio.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN
    assert np.abs(audio).max() > 1e-3
    (prompt,) = qi.deserialise_prompt(engine._base, cache.entries[("voice-1", "v1")])
    assert prompt.icl_mode is (mode == "icl")
    assert prompt.x_vector_only_mode is (mode == "x-vector")


def test_auto_language(engine, reference_wav):
    assert speak(engine, SpeechJob("Bonjour.", "auto", voice(reference_wav))).size > 0


def test_cached_prompt_skips_reference_processing(engine, reference_wav, prompt_builds):
    cache = MemoryPromptCache()
    job = SpeechJob("Hello again.", "en", voice(reference_wav))
    speak(engine, job, cache)
    speak(engine, job, cache)
    speak(engine, SpeechJob("Something else.", "en", voice(reference_wav)), cache)
    assert len(prompt_builds) == 1 and cache.saves == 1

    # A changed voice has a new version: its prompt is rebuilt and stored under it.
    write_wav(reference_wav, seed=7)
    speak(engine, SpeechJob("Hello again.", "en", voice(reference_wav, version="v2")), cache)
    assert len(prompt_builds) == 2
    assert set(cache.entries) == {("voice-1", "v1"), ("voice-1", "v2")}


def test_unreadable_cache_entry_is_rebuilt(engine, reference_wav, prompt_builds):
    cache = MemoryPromptCache()
    cache.entries[("voice-1", "v1")] = b"corrupt"
    speak(engine, SpeechJob("Hello.", "en", voice(reference_wav)), cache)
    assert len(prompt_builds) == 1
    assert qi.deserialise_prompt(engine._base, cache.entries[("voice-1", "v1")]) is not None


def test_without_a_cache_every_call_builds(engine, reference_wav, prompt_builds):
    job = SpeechJob("Hello.", "en", voice(reference_wav))
    speak(engine, job)
    speak(engine, job)
    assert len(prompt_builds) == 2


def test_unsupported_language(engine, reference_wav, prompt_builds):
    with pytest.raises(EngineError) as err:
        engine.synthesize(SpeechJob("Hej.", "sv", voice(reference_wav)))
    assert err.value.code == "unsupported_language"
    assert prompt_builds == []  # rejected before the reference was processed


def test_voice_required(engine):
    with pytest.raises(EngineError) as err:
        engine.synthesize(SpeechJob("Hello.", "en", None))
    assert err.value.code == "voice_required"


def test_unreadable_reference(engine, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    with pytest.raises(EngineError) as err:
        engine.synthesize(SpeechJob("Hello.", "en", voice(bad)))
    assert err.value.code == "reference_failed"


def test_design(engine):
    audio = engine.design(DesignJob("Hello, I am new here.", "en", "A calm, low voice with a slight rasp."))
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0 < audio.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN
    assert engine._design.kind == "voice_design"
    with pytest.raises(EngineError) as err:
        engine.design(DesignJob("Hello.", "xx", "A voice."))
    assert err.value.code == "unsupported_language"


def test_design_unconfigured(qwen_settings):
    engine = QwenEngine(qwen_settings.model_copy(update={"qwen_design_model": ""}), max_new_tokens=MAX_NEW_TOKENS)
    assert engine.info.capabilities.can_design is False
    with pytest.raises(EngineUnsupported) as err:
        engine.design(DesignJob("Hello.", "en", "A voice."))
    assert err.value.code == "design_unsupported"


def test_weights_missing(qwen_settings, tmp_path, monkeypatch, reference_wav):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = qwen_settings.model_copy(update={"qwen_model": "Qwen/Qwen3-TTS-12Hz-0.6B-Base", "models_dir": tmp_path / "models"})
    with pytest.raises(EngineError) as err:
        QwenEngine(settings).synthesize(SpeechJob("Hello.", "en", voice(reference_wav)))
    assert err.value.code == "weights_missing"
    assert "utter download-models" in err.value.message


def test_weights_found_in_models_dir(qwen_settings, tiny_qwen_base_dir, tmp_path, reference_wav):
    """`utter download-models` puts an HF id's weights in models_dir/<name>; the engine finds them."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "Qwen3-TTS-12Hz-0.6B-Base").symlink_to(tiny_qwen_base_dir, target_is_directory=True)
    settings = qwen_settings.model_copy(update={"qwen_model": "Qwen/Qwen3-TTS-12Hz-0.6B-Base", "models_dir": models})
    engine = QwenEngine(settings, max_new_tokens=MAX_NEW_TOKENS)
    assert speak(engine, SpeechJob("Hello.", "en", voice(reference_wav))).size > 0
    assert engine._base.source == str(models / "Qwen3-TTS-12Hz-0.6B-Base")


def test_design_weights_missing(qwen_settings, tmp_path, monkeypatch):
    """Design configured but its weights missing: a clear error, then no more promises."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    settings = qwen_settings.model_copy(
        update={"qwen_model": "Qwen/Qwen3-TTS-12Hz-0.6B-Base", "qwen_design_model": str(tmp_path / "no-design-model")}
    )
    engine = QwenEngine(settings, max_new_tokens=MAX_NEW_TOKENS)
    assert engine.info.capabilities.can_design is True
    with pytest.raises(EngineError) as err:
        engine.design(DesignJob("Hello.", "en", "A voice."))
    assert err.value.code == "weights_missing"
    assert engine.info.capabilities.can_design is False


def test_design_not_promised_beside_local_base_weights(qwen_settings, monkeypatch):
    """Base weights on disk but VoiceDesign only as a hub id: `download-models` left it out."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    settings = qwen_settings.model_copy(update={"qwen_design_model": "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign"})
    assert QwenEngine(settings).info.capabilities.can_design is False


def test_speech_is_decoded_by_the_fast_core_and_streams(engine, reference_wav):
    engine.load()
    assert engine.info.details["decoder"].startswith("fast core: static KV cache, eager")
    pieces = list(engine.synthesize(SpeechJob("Hello from the core.", "en", voice(reference_wav)), MemoryPromptCache()))
    # The first piece is out after two frames, before the generation is over.
    assert len(pieces) >= 2 and pieces[0].size == 2 * SAMPLES_PER_TOKEN


def test_without_the_core_qwen_tts_generate_speaks_and_engine_says_why(qwen_settings, reference_wav, monkeypatch):
    from utter.adapters.tts import qwen_core

    monkeypatch.setattr(qwen_core, "unsupported_reason", lambda model: "a decoder block it does not know")
    engine = QwenEngine(qwen_settings, reason="test", max_new_tokens=MAX_NEW_TOKENS)
    try:
        engine.load()
        assert engine._base.core is None
        assert engine.info.details["decoder"] == ("qwen-tts generate (the fast core cannot run this model: "
                                                  "a decoder block it does not know)")
        audio = speak(engine, SpeechJob("Hello.", "en", voice(reference_wav)))
        assert 0 < audio.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN
    finally:
        engine.close()
