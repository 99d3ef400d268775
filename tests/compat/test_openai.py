"""The official `openai` SDK against a real Utter server, exactly as its users call it."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import replace

import openai
import pytest

from tests.generations.test_worker import FailingAfterFirstPiece
from tests.support.audio_fixtures import make_clip

from .helpers import probe, upload_voice

TEXT = "Hello from Utter. This is a test of the speech endpoint."


def sdk(server, key="anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_consent_voice_speech_and_delete(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with open(speech_clips["ogg"], "rb") as recording:
        consent = client.audio.voice_consents.create(name="Ann agrees", language="en-US", recording=recording)
    assert consent.object == "audio.voice_consent" and consent.language == "en-US"
    assert [c.id for c in client.audio.voice_consents.list()] == [consent.id]
    assert client.audio.voice_consents.retrieve(consent.id).name == "Ann agrees"

    with open(speech_clips["mp3"], "rb") as sample:
        voice = client.audio.voices.create(name="Ann", consent=consent.id, audio_sample=sample)
    assert (voice.object, voice.name, voice.type) == ("audio.voice", "Ann", "audio_sample")

    with server.client() as http:
        # An ordinary Utter voice, in the library the pages show, tied to its consent.
        listed = http.get("/api/voices").json()["voices"]
        assert [(v["id"], v["name"], v["language"]) for v in listed] == [(voice.id, "Ann", "en")]

        # By object and by name; any model name is accepted and the engine is named in a header.
        for reference in ({"id": voice.id}, "ann"):
            response = client.audio.speech.with_raw_response.create(model="tts-1", voice=reference, input=TEXT)
            assert response.headers["x-utter-engine"] == "piper"
            # Piper speaks every voice with its own built-in voice, and says so.
            assert response.headers["x-utter-voice-cloned"] == "false"
            audio = probe(response.content)
            assert audio["codec"].startswith("mp3") and audio["rate"] == 44100
            assert 2 < audio["seconds"] < 10
        generations = http.get("/api/generations").json()
        assert generations["total"] == 2
        assert {g["voice_id"] for g in generations["generations"]} == {voice.id}
        assert all(g["status"] == "done" for g in generations["generations"])

        # The consent is kept while its voice exists.
        with pytest.raises(openai.BadRequestError) as refused:
            client.audio.voice_consents.delete(consent.id)
        assert "delete the voice first" in refused.value.body["message"]

        deleted = client.audio.voices.delete(voice.id)
        assert deleted.deleted and deleted.id == voice.id
        assert http.get("/api/voices").json()["voices"] == []
        with pytest.raises(openai.NotFoundError):
            client.audio.voices.delete(voice.id)
        assert client.audio.voice_consents.delete(consent.id).deleted
        assert list(client.audio.voice_consents.list()) == []


def test_speed_and_instructions(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])
    normal = client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice["id"], input=TEXT, response_format="wav")
    fast = client.audio.speech.with_raw_response.create(model="gpt-4o-mini-tts", voice=voice["id"], input=TEXT,
                                                       response_format="wav", speed=2.0,
                                                       instructions="Speak like a pirate.")
    assert fast.headers["x-utter-instructions"] == "ignored"
    normal_seconds, fast_seconds = probe(normal.content)["seconds"], probe(fast.content)["seconds"]
    assert fast_seconds < normal_seconds * 0.7, (normal_seconds, fast_seconds)


class WithoutSpeedControl(FailingAfterFirstPiece):
    """Piper posing as an engine with no control of its rate, as Qwen3-TTS is; it records what it was asked."""

    def __init__(self, engine):
        super().__init__(engine, RuntimeError("unused"))
        self.info = replace(engine.info, capabilities=replace(engine.info.capabilities, controls_speed=False))
        self.speeds: list[float] = []

    def synthesize(self, job, cache=None):
        self.speeds.append(job.speed)
        return self._engine.synthesize(job, cache)


def test_speed_without_an_engine_control_stretches_the_audio(make_server, piper_engine, speech_clips):
    engine = WithoutSpeedControl(piper_engine)
    server = make_server(engine=engine, asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])
    seconds = {}
    for speed in (1.0, 2.0, 0.5):
        speech = client.audio.speech.create(model="tts-1", voice=voice["id"], input=TEXT, response_format="wav",
                                            speed=speed)
        seconds[speed] = probe(speech.content)["seconds"]
    assert set(engine.speeds) == {1.0}  # the engine always speaks at its own rate
    # Piper's takes differ by a few per cent in length; the rate change is far larger.
    assert seconds[2.0] == pytest.approx(seconds[1.0] / 2, rel=0.1)
    assert seconds[0.5] == pytest.approx(seconds[1.0] * 2, rel=0.1)


def test_every_response_format(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])
    expected = {  # format: (container, codec, sample rate)
        "mp3": ("mp3", "mp3", 44100),
        "opus": ("ogg", "opus", 48000),
        "aac": ("aac", "aac", 24000),
        "flac": ("flac", "flac", 24000),
        "wav": ("wav", "pcm_s16le", 24000),
        "pcm": ("s16le", "pcm_s16le", 24000),
    }
    for fmt, (container, codec, rate) in expected.items():
        response = client.audio.speech.with_raw_response.create(model="tts-1", voice=voice["name"], input=TEXT,
                                                                 response_format=fmt)
        audio = probe(response.content, "pcm_s16le" if fmt == "pcm" else None, rate)
        assert (audio["container"], audio["codec"].removesuffix("float"), audio["rate"], audio["channels"]) == \
            (container, codec, rate, 1), fmt
        # All of the speech, give or take codec padding.
        assert audio["seconds"] == pytest.approx(spoken_seconds(server, response.headers), abs=0.15), fmt


def spoken_seconds(server, headers) -> float:
    with server.client() as http:
        return http.get(f"/api/generations/{headers['x-utter-generation-id']}").json()["duration_seconds"]


class HoldsAfterTheFirstChunk(FailingAfterFirstPiece):
    """Piper that speaks the first chunk at once and the others only when the test lets it."""

    def __init__(self, engine):
        super().__init__(engine, RuntimeError("unused"))
        self.go_on = threading.Event()
        self.chunks = 0

    def synthesize(self, job, cache=None):
        self.chunks += 1
        if self.chunks > 1:
            assert self.go_on.wait(30), "the test never let the rest be spoken"
        return self._engine.synthesize(job, cache)


def test_streaming_and_sse(make_server, piper_engine, speech_clips):
    engine = HoldsAfterTheFirstChunk(piper_engine)
    server = make_server(engine=engine, asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])
    long_text = " ".join([TEXT] * 4)
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice=voice["id"], input=long_text,
                                                            response_format="pcm") as response, server.client() as http:
        assert response.headers["content-type"].startswith("audio/")
        chunks = response.iter_bytes()
        pcm = next(chunks)
        # Audio arrives while the rest of the text is still being spoken.
        status = http.get(f"/api/generations/{response.headers['x-utter-generation-id']}").json()
        assert status["status"] == "running" and status["progress"] < 1, status
        engine.go_on.set()
        pcm += b"".join(chunks)
    assert len(pcm) % 2 == 0 and 8 < len(pcm) / 2 / 24000 < 40

    with client.audio.speech.with_streaming_response.create(model="tts-1", voice=voice["id"], input=TEXT,
                                                            response_format="mp3", stream_format="sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert deltas and all(e["type"] == "speech.audio.delta" for e in events[:-1])
    audio = probe(b"".join(base64.b64decode(e["audio"]) for e in deltas))
    assert audio["codec"].startswith("mp3") and 2 < audio["seconds"] < 10


def test_errors_are_typed_with_utters_message(make_server, speech_clips, speech, tmp_path):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])

    with pytest.raises(openai.NotFoundError) as missing:
        client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    assert "No voice 'alloy'" in missing.value.body["message"] and missing.value.body["code"] == "voice_not_found"

    with pytest.raises(openai.BadRequestError) as empty:
        client.audio.speech.create(model="tts-1", voice=voice["id"], input="   ")
    assert empty.value.body["param"] == "input" and empty.value.body["code"] == "text_empty"

    with pytest.raises(openai.BadRequestError) as bad_format:
        client.audio.speech.create(model="tts-1", voice=voice["id"], input=TEXT, response_format="ogg")
    assert "response_format" in bad_format.value.body["message"] and bad_format.value.body["param"] == "response_format"

    with pytest.raises(openai.BadRequestError) as bad_speed:
        client.audio.speech.create(model="tts-1", voice=voice["id"], input=TEXT, speed=9)
    assert bad_speed.value.body["code"] == "speed_out_of_range"

    with pytest.raises(openai.NotFoundError):
        with open(speech_clips["wav"], "rb") as sample:
            client.audio.voices.create(name="Nobody agreed", consent="cons_missing", audio_sample=sample)

    with open(speech_clips["wav"], "rb") as recording:
        consent = client.audio.voice_consents.create(name="Bob", language="en", recording=recording)
    short = make_clip(tmp_path / "short.wav", speech, 4.0)
    with pytest.raises(openai.BadRequestError) as refused:
        with open(short, "rb") as sample:
            client.audio.voices.create(name="Too short", consent=consent.id, audio_sample=sample)
    assert refused.value.body["code"] == "audio_too_short" and "at least 10 s" in refused.value.body["message"]
    with server.client() as http:
        assert [v["name"] for v in http.get("/api/voices").json()["voices"]] == ["Narrator"]


def test_access_key_and_full_queue(make_server, speech_clips):
    server = make_server(asr="off", api_key="s3cret", max_queue=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        sdk(server, key="wrong").audio.voice_consents.list()
    assert "UTTER_API_KEY" in refused.value.body["message"] and refused.value.body["code"] == "invalid_api_key"
    client = sdk(server, key="s3cret")
    assert list(client.audio.voice_consents.list()) == []

    with server.client(headers={"Authorization": "Bearer s3cret"}) as http:
        voice = upload_voice(http, speech_clips["wav"])
    with pytest.raises(openai.RateLimitError) as full:
        client.audio.speech.create(model="tts-1", voice=voice["id"], input=TEXT)
    assert full.value.body["code"] == "queue_full" and full.value.response.headers["retry-after"] == "30"
