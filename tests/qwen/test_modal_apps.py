"""The Modal apps' classes run in-process with `.local()` against the tiny checkpoints:
the same methods a GPU container runs, minus the GPU and the volume."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from utter.adapters.tts.base import REFERENCE_NEEDED, EngineError
from utter.adapters.tts.modal_client import decode_result

from .conftest import MAX_NEW_TOKENS, SAMPLES_PER_TOKEN

pytest.importorskip("modal")
pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally.*:UserWarning")

APPS = Path(__file__).resolve().parents[2] / "modal_app" / "qwen3_tts"


def load_app(filename: str):
    spec = importlib.util.spec_from_file_location(f"utter_test_{filename[:-3]}", APPS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def base_app(monkeypatch, tiny_qwen_base_dir):
    monkeypatch.setenv("UTTER_QWEN_MODEL_PATH", str(tiny_qwen_base_dir))
    return load_app("app.py")


@pytest.fixture
def design_app(monkeypatch, tiny_qwen_design_dir):
    monkeypatch.setenv("UTTER_QWEN_DESIGN_MODEL_PATH", str(tiny_qwen_design_dir))
    return load_app("app_voice_design.py")


def test_app_definitions(base_app, design_app):
    assert base_app.app.name == "utter-qwen3-tts"
    assert design_app.app.name == "utter-qwen3-tts-voice-design"
    assert base_app.MODEL_ID == "Qwen/Qwen3-TTS-12Hz-0.6B-Base"
    assert design_app.MODEL_ID == "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign"


@pytest.mark.parametrize("transcript", ["This is my reference clip.", None])
def test_clone_method(base_app, reference_wav, transcript):
    result = base_app.Qwen3TTS().generate.local(
        text="Hello from the GPU side.",
        language="en",
        reference_audio=reference_wav.read_bytes(),
        transcript=transcript,
        voice_key="voice-1:v1",
        max_new_tokens=MAX_NEW_TOKENS,
    )
    audio, rate = decode_result(result)  # what ModalCalls.poll does with it
    assert rate == 24000 and audio.dtype == np.float32
    assert 0 < audio.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN


def test_later_calls_name_the_voice_and_a_new_container_asks_for_the_recording(base_app, reference_wav):
    """Utter sends the recording with a text's first call only; the warm container keeps the prompt."""
    warm = base_app.Qwen3TTS()
    first = warm.generate.local(text="The first chunk.", language="en", reference_audio=reference_wav.read_bytes(),
                                voice_key="voice-1:r1", max_new_tokens=MAX_NEW_TOKENS)
    later = warm.generate.local(text="The second chunk.", language="en", reference_audio=None,
                                voice_key="voice-1:r1", max_new_tokens=MAX_NEW_TOKENS)
    assert decode_result(first)[0].size > 0 and decode_result(later)[0].size > 0
    # Another container, or the same voice after its recording changed (a new version in the key).
    for container, key in ((base_app.Qwen3TTS(), "voice-1:r1"), (warm, "voice-1:r2")):
        result = container.generate.local(text="The third chunk.", language="en", reference_audio=None,
                                          voice_key=key, max_new_tokens=MAX_NEW_TOKENS)
        assert result["error"]["code"] == REFERENCE_NEEDED


def test_clone_method_speaks_long_text_in_chunks(base_app, reference_wav):
    """Qwen3-TTS drifts after ~30 s, so the Modal method splits long text as the worker does locally."""
    text = " ".join(["This sentence is one of many in a long article about nothing much."] * 10)
    result = base_app.Qwen3TTS().generate.local(
        text=text, language="en", reference_audio=reference_wav.read_bytes(), max_new_tokens=MAX_NEW_TOKENS
    )
    audio, _ = decode_result(result)
    # Three chunks of at most 300 characters, each capped, joined with short crossfades.
    assert MAX_NEW_TOKENS * SAMPLES_PER_TOKEN * 2 < audio.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN * 3


def test_clone_method_reports_errors_as_data(base_app, reference_wav):
    result = base_app.Qwen3TTS().generate.local(
        text="Hej.", language="sv", reference_audio=reference_wav.read_bytes(), max_new_tokens=MAX_NEW_TOKENS
    )
    assert result["error"]["code"] == "unsupported_language"
    with pytest.raises(EngineError):
        decode_result(result)


def test_design_method(design_app):
    result = design_app.Qwen3TTSVoiceDesign().design.local(
        text="Hello, I am new here.", language="en", description="A bright, fast voice.", max_new_tokens=MAX_NEW_TOKENS
    )
    audio, rate = decode_result(result)
    assert rate == 24000 and 0 < audio.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN
