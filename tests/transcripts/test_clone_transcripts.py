"""Cloning transcribes and checks the reference (issue 8): real Piper speech, real Whisper, both databases."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sqlalchemy import create_engine, update

from tests.support.audio_fixtures import SPEECH_TEXT, decoded_duration, encode_file
from utter.models import Voice
from utter.audio.reference_check import word_error_rate
from utter.adapters.storage import prompt_prefix

NOISE_SEED = 8
# SPEECH_TEXT as Whisper spells it: "sea shells" and "seashells" are the same words spoken, not two errors.
SPOKEN_TEXT = SPEECH_TEXT.replace("sea shells", "seashells").replace("sea shore", "seashore")


def wer(heard: str) -> float:
    return word_error_rate(SPOKEN_TEXT, heard)


def post_clone(client, path, name="Narrator", **fields):
    with open(path, "rb") as handle:
        return client.post("/api/clone", data={"name": name, **fields},
                           files={"audio": (path.name, handle, "application/octet-stream")})


def clone(client, path, name="Narrator", **fields) -> dict:
    """Clone and return the voice once its transcription is over (on a busy machine it may finish late)."""
    response = post_clone(client, path, name, **fields)
    assert response.status_code == 201, response.text
    return wait_transcribed(client, response.json()["id"])


def wait_transcribed(client, voice_id, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        voice = client.get(f"/api/voices/{voice_id}").json()
        if voice["transcription"] != "transcribing" or time.monotonic() > deadline:
            return voice
        time.sleep(0.2)


def wav(tmp_path, samples, rate, name="clip.wav"):
    return encode_file(tmp_path / name, np.asarray(samples, dtype=np.float32), rate, "wav")


def codes(voice) -> list[str]:
    return [w["code"] for w in voice["check"]["warnings"]]


def assert_nothing_stored(server):
    assert server.ctx.storage.list_keys("references/") == []


def test_automatic_transcript_is_close_to_the_words_spoken(client, speech_clips):
    created = post_clone(client, speech_clips["mp3"])
    assert created.status_code == 201, created.text
    voice = wait_transcribed(client, created.json()["id"])
    assert voice["transcript_source"] == "automatic" and voice["transcription"] == "done"
    assert wer(voice["transcript"]) < 0.15, voice["transcript"]
    assert voice["language"] == "auto" and voice["detected_language"] == "en"

    check = voice["check"]
    assert "tiny.en" in check["asr_model"]
    assert check["heard_text"] == voice["transcript"]
    assert check["transcript_match"] is None  # nothing typed to compare
    assert check["speech_ratio"] > 0.8 and check["speech_seconds"] > 10
    assert check["clipping"] < 0.001 and check["snr_db"] > 30
    assert -30 < check["loudness_dbfs"] < -10
    assert check["warnings"] == []
    # The same transcript and advice come back from the list and the voice's own page.
    assert client.get(f"/api/voices/{voice['id']}").json() == voice
    assert client.get("/api/voices").json()["voices"] == [voice]


def test_typed_transcript_wins_and_is_compared_with_what_was_heard(client, speech_clips):
    right = clone(client, speech_clips["wav"], transcript=SPEECH_TEXT, language="en")
    assert right["transcript"] == SPEECH_TEXT and right["transcript_source"] == "typed"
    assert right["detected_language"] is None  # the person chose the language
    assert right["check"]["transcript_match"] > 0.9
    assert wer(right["check"]["heard_text"]) < 0.15
    assert right["check"]["warnings"] == []

    wrong_text = "Tomorrow the weather in Paris will be cloudy, with rain spreading from the west by evening."
    wrong = clone(client, speech_clips["wav"], transcript=wrong_text)
    assert wrong["transcript"] == wrong_text and wrong["transcript_source"] == "typed"
    assert wrong["check"]["transcript_match"] < 0.5
    assert codes(wrong) == ["transcript_mismatch"]
    assert "does not match" in wrong["check"]["warnings"][0]["message"]


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_clips_without_speech_are_refused(client, server, tmp_path, kind):
    rate = 24000
    if kind == "silence":
        samples = np.zeros(12 * rate)
    else:
        # Steady hiss and hum at a normal recording level: loud, but nobody speaks.
        rng = np.random.default_rng(NOISE_SEED)
        t = np.arange(12 * rate) / rate
        samples = 0.05 * rng.standard_normal(len(t)) + 0.05 * np.sin(2 * np.pi * 50 * t)
    response = post_clone(client, wav(tmp_path, samples, rate))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "audio_no_speech" and error["field"] == "audio"
    assert "No voice could be heard" in error["message"]
    assert_nothing_stored(server)


def test_clipped_clip_is_flagged(client, speech, tmp_path):
    samples, rate = speech
    voice = clone(client, wav(tmp_path, np.clip(samples * 8, -1, 1), rate))
    assert voice["check"]["clipping"] > 0.01
    # Clipping flattens the speech peaks, so the noise estimate may rightly flag it as well.
    assert codes(voice)[0] == "clipping" and set(codes(voice)) <= {"clipping", "noisy"}
    assert "lower the input gain" in voice["check"]["warnings"][0]["message"].lower()
    assert voice["transcript_source"] == "automatic"  # a warning, not a refusal


def test_noisy_clip_gets_a_noise_warning(client, speech, tmp_path):
    samples, rate = speech
    rng = np.random.default_rng(NOISE_SEED)
    speech_power = float(np.mean(samples[np.abs(samples) > 0.01] ** 2))
    noise = rng.standard_normal(len(samples)) * np.sqrt(speech_power / 10 ** (5 / 10))  # 5 dB SNR
    voice = clone(client, wav(tmp_path, np.clip(samples + noise, -1, 1), rate))
    assert voice["check"]["snr_db"] < 15
    assert "noisy" in codes(voice)
    assert voice["check"]["warnings"][0]["message"].startswith("Background noise is high")

    clean = clone(client, wav(tmp_path, samples, rate, "clean.wav"))
    assert clean["check"]["snr_db"] > voice["check"]["snr_db"] + 20


def test_silence_at_the_ends_is_trimmed_from_the_stored_reference(client, speech, tmp_path):
    samples, rate = speech
    padded = np.concatenate([np.zeros(3 * rate), samples, np.zeros(4 * rate)])
    voice = clone(client, wav(tmp_path, padded, rate))
    speech_seconds = len(samples) / rate
    check = voice["check"]
    assert check["original_seconds"] == pytest.approx(speech_seconds + 7, abs=0.05)
    # Piper's own clip starts and ends on speech: about 7 s go, a margin of ≤ 0.25 s stays at each end.
    assert 6.3 < check["trimmed_seconds"] < 7.2
    assert speech_seconds - 0.2 < voice["reference_seconds"] < speech_seconds + 0.6
    stored = client.get(voice["reference_url"]).content
    assert decoded_duration(stored) == pytest.approx(voice["reference_seconds"], abs=0.02)
    assert check["warnings"] == []


def test_minimum_length_counts_after_trimming(client, server, speech, tmp_path):
    samples, rate = speech
    # 14 s long, but only 6 s of it is speech.
    clip = np.concatenate([np.zeros(4 * rate), samples[: 6 * rate], np.zeros(4 * rate)])
    response = post_clone(client, wav(tmp_path, clip, rate))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "audio_too_short" and error["field"] == "audio"
    assert "After trimming the silence" in error["message"] and "10 s" in error["message"]
    assert_nothing_stored(server)


def test_without_speech_recognition_cloning_works_and_says_the_transcript_is_missing(make_server, speech_clips):
    server = make_server(asr="off")
    assert server.ctx.transcriptions is None
    with server.client() as client:
        voice = clone(client, speech_clips["wav"])
        assert voice["transcript"] is None and voice["transcript_source"] is None
        assert voice["transcription"] is None
        assert voice["check"]["asr_model"] is None and voice["check"]["heard_text"] is None
        assert codes(voice) == ["transcript_missing"]
        assert "transcription is off or not installed" in voice["check"]["warnings"][0]["message"]
        # The audio is still checked.
        assert voice["check"]["speech_ratio"] > 0.8

        typed = clone(client, speech_clips["wav"], transcript=SPEECH_TEXT)
        assert typed["transcript_source"] == "typed" and typed["check"]["transcript_match"] is None
        assert typed["check"]["warnings"] == []


def test_editing_the_transcript_marks_it_typed_and_drops_cached_prompts(client, server, speech_clips):
    voice = clone(client, speech_clips["wav"])
    assert voice["transcript_source"] == "automatic"
    storage = server.ctx.storage
    cached = prompt_prefix(voice["id"]) + "1.pt"
    storage.put_bytes(cached, b"prompt", "application/octet-stream")

    url = f"/api/voices/{voice['id']}"
    corrected = client.patch(url, json={"transcript": SPEECH_TEXT}).json()
    assert corrected["transcript"] == SPEECH_TEXT and corrected["transcript_source"] == "typed"
    assert corrected["check"]["transcript_match"] > 0.9 and corrected["check"]["warnings"] == []
    assert not storage.exists(cached)

    wrong = client.patch(url, json={"transcript": "Something else entirely, said on another day."}).json()
    assert wrong["check"]["transcript_match"] < 0.5 and codes(wrong) == ["transcript_mismatch"]

    cleared = client.patch(url, json={"transcript": ""}).json()
    assert cleared["transcript"] is None and cleared["transcript_source"] is None
    assert codes(cleared) == ["transcript_missing"]
    assert client.get(url).json() == cleared


def test_saving_the_automatic_transcript_unchanged_confirms_it(client, speech_clips):
    voice = clone(client, speech_clips["wav"])
    saved = client.patch(f"/api/voices/{voice['id']}", json={"transcript": voice["transcript"]}).json()
    assert saved["transcript"] == voice["transcript"] and saved["transcript_source"] == "typed"
    assert saved["check"]["transcript_match"] == 1.0


def test_openapi_documents_the_transcript_and_check(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    voice = schemas["VoicePublic"]["properties"]
    for name in ("transcript_source", "detected_language", "check"):
        assert name in voice, name
    check = schemas["ReferenceCheckPublic"]["properties"]
    for name in ("speech_ratio", "clipping", "snr_db", "loudness_dbfs", "transcript_match", "warnings"):
        assert name in check, name


def test_long_transcriptions_finish_after_the_clone_returns(make_server, speech_clips):
    server = make_server(asr_wait_seconds=0)
    with server.client() as client:
        created = post_clone(client, speech_clips["wav"])
        assert created.status_code == 201, created.text
        voice = created.json()
        assert voice["transcription"] == "transcribing" and voice["transcript"] is None
        assert voice["check"]["warnings"] == []  # no "missing" while it is on its way
        assert voice["check"]["speech_ratio"] > 0.8  # the audio check is never deferred
        client.get("/api/voices")  # the list is cached until the library changes

        done = wait_transcribed(client, voice["id"])
        assert done["transcription"] == "done" and done["transcript_source"] == "automatic"
        assert wer(done["transcript"]) < 0.15
        assert client.get("/api/voices").json()["voices"] == [done]


def test_a_restarted_server_finishes_transcriptions_left_undone(make_server, database_url, speech_clips):
    first = make_server(asr="off")
    with first.client() as client:
        voice = clone(client, speech_clips["wav"])
    first.stop()
    # As if the process had stopped mid-transcription.
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(update(Voice).values(transcription="transcribing"))
    engine.dispose()

    second = make_server()
    with second.client() as client:
        done = wait_transcribed(client, voice["id"])
    assert done["transcription"] == "done" and done["transcript_source"] == "automatic"
    assert wer(done["transcript"]) < 0.15
