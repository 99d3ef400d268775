"""Pauses (issue 18), heard in real Piper speech over HTTP: a break tag is a silence of its length in
the MP3, in a long text that streams, and through the compatible APIs' SDKs; a paragraph pauses
longer than a sentence; a break past the cap is refused and nothing is queued."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core import ApiError

from tests.compat.helpers import upload_voice
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import silences
from utter.audio import codec
from utter.audio.markup import MAX_BREAK_SECONDS, PARAGRAPH_PAUSE_SECONDS

RATE = 22050  # Piper's
BEFORE, AFTER = "The first part of the message ends right here.", "And the second part begins right after it."


def silences_within(audio: bytes) -> list[tuple[float, float]]:
    """(start, length) of the silences between the words (not those at the very start and end)."""
    samples = codec.decode(audio, target_rate=RATE).samples
    end = len(samples) / RATE
    return [(start, length) for start, length in silences(samples, RATE)
            if start > 0.05 and start + length < end - 0.05]


def gaps(audio: bytes) -> list[float]:
    return [length for _, length in silences_within(audio)]


def speak(client: httpx.Client, voice_id: str, text: str) -> bytes:
    queued = client.post("/api/generate", json={"voice_id": voice_id, "text": text})
    assert queued.status_code == 202, queued.text
    done = wait_for_generation(client, queued.json()["status_url"])
    assert done["status"] == "done", done
    return client.get(done["audio_url"]).content


@pytest.mark.parametrize(("time", "seconds"), [("1.5s", 1.5), ("500ms", 0.5)])
def test_a_break_is_a_silence_of_its_length(make_server, speech_clips, time, seconds):
    server = make_server(asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        natural = max(gaps(speak(client, voice, f"{BEFORE} {AFTER}")))
        paused = max(gaps(speak(client, voice, f'{BEFORE}<break time="{time}"/>{AFTER}')))
    # The pause is all silence, and it is the asked silence on top of the voice's own gap between sentences.
    assert paused >= seconds
    assert paused - natural == pytest.approx(seconds, abs=0.1)


def test_a_paragraph_pauses_longer_than_a_sentence(make_server, speech_clips):
    server = make_server(asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        audio = speak(client, voice, f"{BEFORE} {AFTER}\n\nA new paragraph starts here.")
    # The two longest silences are those after the two sentences, in order (pauses inside a sentence are short).
    longest = sorted(sorted(silences_within(audio), key=lambda run: run[1])[-2:])
    (_, sentence_gap), (_, paragraph_gap) = longest
    assert paragraph_gap - sentence_gap == pytest.approx(PARAGRAPH_PAUSE_SECONDS, abs=0.12)


def test_a_break_inside_a_long_text_is_heard_in_its_stream(make_server, speech_clips):
    """Many chunks; the break falls between two of them mid-text and the stream carries it as it is made."""
    sentences = [f"Sentence number {n} of this rather long story is being spoken now." for n in range(1, 25)]
    text = " ".join(sentences[:12]) + '<break time="2s"/>' + " ".join(sentences[12:])
    server = make_server(asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        queued = client.post("/api/generate", json={"voice_id": voice, "text": text}).json()
        received: list[bytes] = []

        def listen():
            with httpx.stream("GET", server.url + queued["stream_url"], timeout=120) as response:
                received.extend(response.iter_bytes())

        listener = threading.Thread(target=listen)
        listener.start()
        done = wait_for_generation(client, queued["status_url"], timeout=120)
        listener.join(120)
        final = client.get(done["audio_url"]).content
    assert done["status"] == "done" and done["chunks_total"] > 3
    assert b"".join(received) == final
    streamed = gaps(b"".join(received))
    assert max(streamed) >= 2.0 and sorted(streamed)[-2] < 1.0  # one long pause; the others are sentence gaps


def test_a_break_too_long_is_refused_and_nothing_is_queued(client, speech_clips):
    voice = upload_voice(client, speech_clips["wav"])["id"]
    too_long = f"Wait for it.<break time=\"{MAX_BREAK_SECONDS + 1:g}s\"/>Now."
    refused = client.post("/api/generate", json={"voice_id": voice, "text": too_long})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("break_too_long", "text")
    assert f"at most {MAX_BREAK_SECONDS:g} s" in error["message"]
    malformed = client.post("/api/generate", json={"voice_id": voice, "text": "Wait <break time=2s/> now."})
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "break_invalid")
    only_a_break = client.post("/api/generate", json={"voice_id": voice, "text": '<break time="1s"/>'})
    assert only_a_break.json()["error"]["code"] == "text_empty"
    assert client.get("/api/generations").json()["total"] == 0


def test_breaks_through_the_elevenlabs_and_openai_sdks(make_server, speech_clips):
    server = make_server(asr="off")
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])["id"]
    eleven = ElevenLabs(base_url=server.url, api_key="anything", timeout=60)
    wav = b"".join(eleven.text_to_speech.convert(voice, text=f'{BEFORE}<break time="1.2s"/>{AFTER}',
                                                 output_format="wav_22050"))
    assert max(gaps(wav)) >= 1.2
    with pytest.raises(ApiError) as refused:
        b"".join(eleven.text_to_speech.convert(voice, text=f'{BEFORE}<break time="9s"/>{AFTER}'))
    assert refused.value.status_code == 400 and refused.value.body["detail"]["status"] == "break_too_long"

    client = openai.OpenAI(base_url=server.url + "/v1", api_key="anything", max_retries=0, timeout=60)
    mp3 = client.audio.speech.create(model="tts-1", voice=voice, input=f'{BEFORE}<break time="800ms"/>{AFTER}').content
    assert max(gaps(mp3)) >= 0.8
    with server.client() as http:
        assert http.get("/api/generations").json()["total"] == 2  # the refused one was never queued


def test_a_break_on_a_remote_engine_is_exact_silence_and_no_tag_reaches_the_engine(make_server, speech_clips):
    """Modal's path (a stand-in answering each call with 2 s of tone): the pause is put between its calls."""
    from tests.generations.test_remote_speech import SECONDS, RemoteSpeaker
    from utter.adapters.tts.remote import RemoteEngine

    speaker = RemoteSpeaker()
    server = make_server(engine=RemoteEngine(speaker), asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        audio = speak(client, voice, 'One.<break time="1.5s"/>Two.\n\nThree.')
    assert [job.text for job in speaker.jobs.values()] == ["One.", "Two.", "Three."]
    samples = codec.decode(audio, target_rate=RATE).samples
    runs = silences(samples, RATE)
    assert [length for _, length in runs] == [pytest.approx(1.5, abs=0.03),
                                              pytest.approx(PARAGRAPH_PAUSE_SECONDS, abs=0.03)]
    assert runs[0][0] == pytest.approx(SECONDS, abs=0.05)
