"""Which engine runs, and the reason it gives: an explicit UTTER_ENGINE always wins; `auto` picks the best.

Unit tests of the registry: what is installed or on disk is set per test (Qwen3-TTS's availability,
whether Piper is installed), the engines are the real classes, built but not loaded.
"""

from __future__ import annotations

import sys

import pytest

import utter.adapters.tts as tts_package
from utter.adapters.tts import piper_engine, qwen
from utter.adapters.tts.base import EngineError
from utter.adapters.tts.piper_engine import PiperEngine
from utter.adapters.tts.qwen import QwenEngine
from utter.adapters.tts.registry import build_engine
from utter.config import Settings

NOTHING_ELSE = "auto: no Modal token, no CUDA GPU and no Qwen3-TTS weights on disk, so the embedded CPU engine runs"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("UTTER_ENGINE", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "UTTER_MODAL_TOKEN_ID",
                 "UTTER_MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def qwen_weights(monkeypatch):
    """Qwen3-TTS counts as available (as with weights on disk), with this reason."""
    asked = []

    def availability(settings):
        asked.append(settings)
        return "Qwen3-TTS weights found at /models/qwen"

    monkeypatch.setattr(qwen, "availability", availability)
    return asked


@pytest.fixture
def no_qwen(monkeypatch):
    monkeypatch.setattr(qwen, "availability", lambda settings: None)


def settings(tmp_path, engine="auto", modal=False) -> Settings:
    tokens = {"MODAL_TOKEN_ID": "ak-test", "MODAL_TOKEN_SECRET": "as-test"} if modal else {}
    return Settings(_env_file=None, data_dir=tmp_path, engine=engine, **tokens)


def modal_engine_or_skip():
    pytest.importorskip("modal")
    from utter.adapters.tts.modal_client import ModalCalls
    from utter.adapters.tts.remote import RemoteEngine

    return RemoteEngine, ModalCalls


def test_explicit_piper_wins_over_modal_and_qwen(tmp_path, qwen_weights):
    engine = build_engine(settings(tmp_path, "piper", modal=True))
    assert type(engine) is PiperEngine
    assert engine.info.reason == "chosen by UTTER_ENGINE=piper"
    assert qwen_weights == []  # an explicit choice does not look for weights


def test_explicit_qwen_wins_over_a_modal_token(tmp_path, no_qwen):
    chosen = settings(tmp_path, "qwen", modal=True)
    engine = build_engine(chosen)
    assert type(engine) is QwenEngine
    assert engine.info.reason == "chosen by UTTER_ENGINE=qwen"
    assert engine.settings is chosen


def test_explicit_modal_is_the_modal_client(tmp_path, qwen_weights):
    RemoteEngine, ModalCalls = modal_engine_or_skip()
    chosen = settings(tmp_path, "modal")
    engine = build_engine(chosen)
    assert type(engine) is RemoteEngine and type(engine.calls) is ModalCalls
    assert engine.info.reason == "chosen by UTTER_ENGINE=modal"
    assert engine.calls.settings is chosen


def test_auto_prefers_modal_when_its_token_is_configured(tmp_path, qwen_weights):
    RemoteEngine, ModalCalls = modal_engine_or_skip()
    chosen = settings(tmp_path, modal=True)
    engine = build_engine(chosen)
    assert type(engine) is RemoteEngine and type(engine.calls) is ModalCalls
    assert engine.info.reason == "auto: a Modal token is configured"
    assert engine.calls.settings is chosen
    assert qwen_weights == []


def test_auto_needs_both_halves_of_the_modal_token(tmp_path, no_qwen):
    half = Settings(_env_file=None, data_dir=tmp_path, MODAL_TOKEN_ID="ak-test")
    assert type(build_engine(half)) is PiperEngine


def test_auto_takes_qwen_when_it_is_available_and_says_why(tmp_path, qwen_weights):
    chosen = settings(tmp_path)
    engine = build_engine(chosen)
    assert type(engine) is QwenEngine
    assert engine.info.reason == "auto: Qwen3-TTS weights found at /models/qwen"
    assert engine.settings is chosen
    assert qwen_weights == [chosen]


def test_auto_falls_back_to_piper_and_says_why(tmp_path, no_qwen):
    engine = build_engine(settings(tmp_path))
    assert type(engine) is PiperEngine
    assert engine.info.reason == NOTHING_ELSE


def test_auto_falls_back_to_piper_when_the_qwen_module_cannot_be_imported(tmp_path, monkeypatch):
    # As on an install whose qwen module fails to import: the registry must not crash, just skip it.
    monkeypatch.setitem(sys.modules, "utter.adapters.tts.qwen", None)
    monkeypatch.delattr(tts_package, "qwen")
    engine = build_engine(settings(tmp_path))
    assert type(engine) is PiperEngine
    assert engine.info.reason == NOTHING_ELSE


def test_no_engine_installed_is_a_clear_error(tmp_path, no_qwen, monkeypatch):
    monkeypatch.setattr(piper_engine, "piper_installed", lambda: False)
    for choice in ("auto", "piper"):
        with pytest.raises(EngineError) as caught:
            build_engine(settings(tmp_path, choice))
        assert caught.value.code == "engine_not_installed"
        assert caught.value.message == ("No speech engine is installed. Install the embedded CPU engine with: "
                                        "pip install 'utter[piper]'")
