"""ElevenLabs' text to speech with timestamps (issue 18), driven by the official SDK over real HTTP on
real Piper speech: every character of the text, with times that never go back and lie in the audio."""

from __future__ import annotations

import base64

import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core import ApiError

from .helpers import probe, upload_voice

TEXT = 'Hello from Utter. <break time="0.5s"/> The tickets cost $45 each, and the doors open at seven.'


def sdk(server) -> ElevenLabs:
    return ElevenLabs(base_url=server.url, api_key="anything", timeout=120)


def check(alignment, text: str, seconds: float) -> None:
    assert "".join(alignment.characters) == text
    starts, ends = alignment.character_start_times_seconds, alignment.character_end_times_seconds
    assert len(starts) == len(ends) == len(text)
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(start <= end for start, end in zip(starts, ends))
    assert 0 <= starts[0] and ends[-1] <= seconds + 0.05
    # The characters are spread over the speech, not bunched at one end.
    assert starts[len(text) // 2] == pytest.approx(seconds / 2, abs=seconds / 4)


def test_convert_with_timestamps(server, speech_clips):
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])["id"]
    result = sdk(server).text_to_speech.convert_with_timestamps(voice, text=TEXT)
    audio = probe(base64.b64decode(result.audio_base_64))
    assert audio["codec"].startswith("mp3")
    check(result.alignment, TEXT, audio["seconds"])
    normalized = result.normalized_alignment
    spoken = "".join(normalized.characters)
    assert "Hello from Utter." in spoken and "<break" not in spoken
    assert normalized.character_end_times_seconds[-1] <= audio["seconds"] + 0.05
    # The break's half second of silence lies between "Utter." and "The".
    utter_end = result.alignment.character_end_times_seconds[TEXT.index("Utter.") + 5]
    the_start = result.alignment.character_start_times_seconds[TEXT.index("The")]
    assert the_start - utter_end >= 0.45
    with server.client() as http:  # an ordinary generation, with its timings
        generation = http.get("/api/generations").json()["generations"][0]
        assert generation["text"] == TEXT and generation["timings_url"]


def test_stream_with_timestamps(server, speech_clips):
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])["id"]
    pieces = list(sdk(server).text_to_speech.stream_with_timestamps(voice, text=TEXT, output_format="mp3_44100_128"))
    assert len(pieces) >= 2  # the audio came in pieces as it was made
    audio = probe(b"".join(base64.b64decode(piece.audio_base_64) for piece in pieces))
    assert [piece.alignment is not None for piece in pieces] == [False] * (len(pieces) - 1) + [True]
    check(pieces[-1].alignment, TEXT, audio["seconds"])


def test_with_timestamps_is_refused_before_speaking_when_no_aligner_can_run(make_server, speech_clips):
    server = make_server(asr="off")
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])["id"]
    client = sdk(server)
    with pytest.raises(ApiError) as refused:
        client.text_to_speech.convert_with_timestamps(voice, text=TEXT)
    # ElevenLabs says 400 for a request it understood but cannot do (Utter's 422), with the reason.
    assert refused.value.status_code == 400
    assert refused.value.body["detail"]["status"] == "timings_unavailable"
    assert "UTTER_ASR=off" in refused.value.body["detail"]["message"]
    with pytest.raises(ApiError):
        list(client.text_to_speech.stream_with_timestamps(voice, text=TEXT))
    with server.client() as http:
        assert http.get("/api/generations").json()["total"] == 0  # nothing was queued


SCRIPT = [("Ann", "The red fox jumped over the garden fence."), ("Ben", "My brother bought a new car yesterday.")]


def test_dialogue_with_timestamps_places_each_line_and_its_characters(server, speech_clips):
    """The SDK's text_to_dialogue.convert_with_timestamps: the characters of the lines joined by spaces, and
    each line's voice segment in seconds and in characters; the streamed variant says the same at its end."""
    with server.client() as http:
        ids = {name: upload_voice(http, speech_clips["wav"], name=name)["id"] for name, _ in SCRIPT}
    inputs = [{"voice_id": ids[name], "text": text} for name, text in SCRIPT]
    joined = " ".join(text for _, text in SCRIPT)
    client = sdk(server)
    result = client.text_to_dialogue.convert_with_timestamps(inputs=inputs)
    seconds = probe(base64.b64decode(result.audio_base_64))["seconds"]
    check(result.alignment, joined, seconds)
    segments = result.voice_segments
    assert [(s.voice_id, s.dialogue_input_index) for s in segments] == [(ids["Ann"], 0), (ids["Ben"], 1)]
    assert [joined[s.character_start_index: s.character_end_index] for s in segments] == [t for _, t in SCRIPT]
    assert 0 <= segments[0].start_time_seconds < segments[0].end_time_seconds < segments[1].start_time_seconds
    assert segments[1].end_time_seconds <= seconds + 0.05
    # Each line's characters are spoken inside its own segment.
    starts = result.alignment.character_start_times_seconds
    for segment in segments:
        first = starts[segment.character_start_index]
        last = result.alignment.character_end_times_seconds[segment.character_end_index - 1]
        assert segment.start_time_seconds - 0.05 <= first < last <= segment.end_time_seconds + 0.05

    pieces = list(client.text_to_dialogue.stream_with_timestamps(inputs=inputs, output_format="mp3_44100_128"))
    assert len(pieces) >= 2
    audio = probe(b"".join(base64.b64decode(piece.audio_base_64) for piece in pieces))
    assert [piece.alignment is not None for piece in pieces] == [False] * (len(pieces) - 1) + [True]
    check(pieces[-1].alignment, joined, audio["seconds"])
    assert [s.dialogue_input_index for s in pieces[-1].voice_segments] == [0, 1]
