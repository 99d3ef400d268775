"""Word timings and subtitles (issue 18), on real Piper speech over HTTP: the words of the typed text in
order, landing on the audio at speed 1.5 and around a break; subtitles that a real parser reads, with
every word in one cue; a clear error before the generation is done and when no aligner can run."""

from __future__ import annotations

import re

import httpx
import pysubs2
import pytest

from tests.compat.helpers import upload_voice
from tests.compat.test_openai import WithoutSpeedControl
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import silences
from utter.audio import codec
from utter.generations.subtitles import MAX_CUE_SECONDS, MAX_LINE_CHARS

RATE = 22050
TEXT = ("Good morning, everyone. The library opens at nine on weekdays. "
        "Please return your books before the end of the month, or ask for more time at the desk.")
BEFORE, AFTER = "The first part of the message ends right here.", "And the second part begins after it."


def generate(client: httpx.Client, voice_id: str, text: str, **extra) -> dict:
    queued = client.post("/api/generate", json={"voice_id": voice_id, "text": text, **extra})
    assert queued.status_code == 202, queued.text
    done = wait_for_generation(client, queued.json()["status_url"], timeout=120)
    assert done["status"] == "done", done
    return done


def timings(client: httpx.Client, generation: dict) -> dict:
    response = client.get(f"/api/generations/{generation['id']}/timings")
    assert response.status_code == 200, response.text
    return response.json()


def test_every_typed_word_is_timed_in_order_within_the_audio(server, speech_clips):
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        done = generate(client, voice, TEXT)
        timed = timings(client, done)
    assert done["timings_url"] == f"/api/generations/{done['id']}/timings" and done["timings_error"] is None
    words = timed["words"]
    assert [w["text"] for w in words] == TEXT.split()
    for word in words:
        assert TEXT[word["offset"]: word["offset"] + word["length"]] == word["text"]
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and all(w["start"] <= w["end"] for w in words)
    assert words[0]["start"] >= 0 and words[-1]["end"] <= done["duration_seconds"] + 0.05
    # Spread over the speech, not piled up: the last word starts in the last fifth of the audio.
    assert words[-1]["start"] > 0.8 * done["duration_seconds"] - 1.0
    assert timed["aligner"].startswith("whisper") and timed["language"] == "en"


@pytest.mark.parametrize(("speed", "stretched"), [(1.0, False), (1.5, False), (1.5, True)],
                         ids=["speed-1", "speed-1.5", "speed-1.5-stretched"])
def test_a_breaks_silence_falls_between_the_words_either_side(make_server, piper_engine, speech_clips, speed,
                                                              stretched):
    """Piper speaks faster itself; `stretched` poses it as an engine without a rate control (as Qwen3-TTS
    is), whose audio is stretched on the way out: the timings land on the audio as heard either way."""
    text = f'{BEFORE} <break time="1s"/> {AFTER}'
    server = make_server(engine=WithoutSpeedControl(piper_engine) if stretched else None)
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        done = generate(client, voice, text, speed=speed)
        audio = client.get(done["audio_url"]).content
        words = timings(client, done)["words"]
    samples = codec.decode(audio, target_rate=RATE).samples
    start, length = max(silences(samples, RATE), key=lambda run: run[1])
    assert length >= 1.0
    count = len(BEFORE.split())
    last_before, first_after = words[count - 1], words[count]
    assert (last_before["text"], first_after["text"]) == ("here.", "And")
    # The words either side end and start at the silence's edges (within the quiet tail a word has).
    assert start - 0.25 <= last_before["end"] <= start + 0.05
    assert start + length - 0.05 <= first_after["start"] <= start + length + 0.25
    # And the first and last words lie on the speech at this speed, not at speed 1's places.
    assert words[-1]["end"] == pytest.approx(done["duration_seconds"], abs=0.4)
    assert text[first_after["offset"]:].startswith("And")


def test_subtitles_parse_and_hold_every_word_once(server, speech_clips):
    sentences = [f"This is sentence number {n}, and it is a little longer than the one before it." for n in range(1, 7)]
    text = " ".join(sentences[:3]) + ' <break time="1s"/> ' + " ".join(sentences[3:])
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        done = generate(client, voice, text)
        words = timings(client, done)["words"]
        srt = client.get(f"/api/generations/{done['id']}/subtitles.srt")
        vtt = client.get(f"/api/generations/{done['id']}/subtitles.vtt")
        download = client.get(f"/api/generations/{done['id']}/subtitles.srt?download=1")
    assert srt.status_code == vtt.status_code == 200
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert vtt.headers["content-type"].startswith("text/vtt") and vtt.text.startswith("WEBVTT\n")
    assert re.search(r'attachment; filename=".+\.srt"', download.headers["content-disposition"])
    for body, fmt in ((srt.text, "srt"), (vtt.text, "vtt")):
        events = pysubs2.SSAFile.from_string(body, format_=fmt).events
        assert len(events) > 3
        cue_words = [word for event in events for word in event.plaintext.split()]
        assert cue_words == [w["text"] for w in words]  # every word, once, in order
        for event in events:
            lines = event.plaintext.split("\n")
            assert len(lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in lines), lines
            assert 0 < event.end - event.start <= MAX_CUE_SECONDS * 1000
        assert all(a.end <= b.start for a, b in zip(events, events[1:]))
        # A sentence's last word ends its cue.
        assert all(not word.endswith(".") for event in events for word in event.plaintext.split()[:-1])
        # The break's silence is between two cues, not inside one.
        assert any(b.start - a.end >= 900 for a, b in zip(events, events[1:]))


def test_timings_of_a_generation_not_done_are_a_409_with_its_status(make_server, speech_clips):
    server = make_server(workers=0)  # nothing takes it off the queue
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        queued = client.post("/api/generate", json={"voice_id": voice, "text": "Not yet."}).json()
        for path in ("timings", "subtitles.srt", "subtitles.vtt"):
            response = client.get(f"/api/generations/{queued['id']}/{path}")
            assert response.status_code == 409
            error = response.json()["error"]
            assert error["code"] == "generation_not_ready" and "queued" in error["message"]


def test_without_an_aligner_the_generation_succeeds_and_says_why_it_has_no_timings(make_server, speech_clips):
    server = make_server(asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        done = generate(client, voice, "Spoken, but not timed.")
        assert done["timings_url"] is None
        assert done["timings_error"]["code"] == "timings_unavailable"
        assert "UTTER_ASR=off" in done["timings_error"]["message"]
        for path in ("timings", "subtitles.srt", "subtitles.vtt"):
            response = client.get(f"/api/generations/{done['id']}/{path}")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "timings_unavailable"


def test_a_word_said_through_an_alias_takes_the_time_of_the_alias(server, speech_clips):
    text = "We store it in SQL every day."
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])["id"]
        made = client.post("/api/pronunciation-dictionaries", json={"name": "Tech", "rules": [
            {"string_to_replace": "SQL", "type": "alias", "alias": "a structured query language database"}]})
        assert made.status_code == 201, made.text
        done = generate(client, voice, text, pronunciation_dictionary_ids=[made.json()["id"]])
        words = timings(client, done)["words"]
    assert done["spoken_text"] == "We store it in a structured query language database every day."
    assert [w["text"] for w in words] == text.split()
    by_text = {w["text"]: w for w in words}
    # "SQL" lasts as long as the five words said in its place, far longer than a word.
    sql = by_text["SQL"]
    assert sql["end"] - sql["start"] > 1.0
    assert by_text["in"]["end"] <= sql["start"] + 0.05 and sql["end"] <= by_text["every"]["start"] + 0.05
    assert words[-1]["end"] == pytest.approx(done["duration_seconds"], abs=0.4)
