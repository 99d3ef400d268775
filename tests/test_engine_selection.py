"""`UTTER_ENGINE=auto`, as a newcomer runs it: Modal when a Modal token is configured, else Qwen3-TTS
when its weights are on disk (tests/qwen/test_setup.py), else Piper; the reason is always said."""

from __future__ import annotations

import pytest

from utter.adapters.tts.registry import build_engine
from utter.config import Settings


@pytest.fixture
def no_modal_env(monkeypatch, tmp_path):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "UTTER_ENGINE", "UTTER_QWEN_MODEL", "UTTER_MODELS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env, no ./models


def test_auto_picks_modal_when_a_token_is_configured(no_modal_env, monkeypatch):
    pytest.importorskip("modal")
    from utter.adapters.tts.modal_client import ModalCalls
    from utter.adapters.tts.remote import RemoteEngine

    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")
    engine = build_engine(Settings())
    assert isinstance(engine, RemoteEngine) and isinstance(engine.calls, ModalCalls)
    assert engine.info.name == "modal" and engine.info.reason == "auto: a Modal token is configured"
    assert engine.info.capabilities.can_clone


def test_half_a_token_is_not_a_token(no_modal_env, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    engine = build_engine(Settings())
    assert engine.info.name == "piper"


def test_auto_falls_back_to_piper_and_says_why(no_modal_env):
    engine = build_engine(Settings())
    assert engine.info.name == "piper" and not engine.info.capabilities.can_clone
    assert engine.info.reason.startswith("auto: no Modal token, no CUDA GPU and no Qwen3-TTS weights on disk")


def test_an_explicit_choice_wins_over_a_token(no_modal_env, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")
    engine = build_engine(Settings(engine="piper"))
    assert engine.info.name == "piper" and engine.info.reason == "chosen by UTTER_ENGINE=piper"
