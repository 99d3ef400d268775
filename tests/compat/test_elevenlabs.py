"""The official `elevenlabs` SDK against a real Utter server, exactly as its users call it."""

from __future__ import annotations

import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core import ApiError

from tests.support.audio_fixtures import make_clip

from .helpers import probe, upload_voice

TEXT = "Hello from Utter. This is a test of the speech endpoint."


def sdk(server, key="anything") -> ElevenLabs:
    return ElevenLabs(base_url=server.url, api_key=key, timeout=60)


def test_clone_from_several_files_speak_list_and_delete(make_server, speech_clips, speech, tmp_path):
    server = make_server(asr="off")
    client = sdk(server)
    first = make_clip(tmp_path / "first.mp3", speech, 6.0, "mp3")
    second = make_clip(tmp_path / "second.ogg", speech, 6.0, "ogg")
    with open(first, "rb") as one, open(second, "rb") as two:
        added = client.voices.ivc.create(name="Grace", files=[one, two], description="Two short samples",
                                         labels={"accent": "british", "language": "en"})
    assert added.requires_verification is False

    with server.client() as http:
        # Two 6 s samples make one 12 s voice (each alone is too short to clone from).
        voice = http.get(f"/api/voices/{added.voice_id}").json()
        assert (voice["name"], voice["description"], voice["language"]) == ("Grace", "Two short samples", "en")
        assert 11 < voice["reference_seconds"] < 13.5

    listed = client.voices.get_all().voices
    assert [(v.voice_id, v.name, v.category) for v in listed] == [(added.voice_id, "Grace", "cloned")]
    fetched = client.voices.get(added.voice_id)
    assert fetched.preview_url.startswith(server.url) and fetched.samples[0].duration_secs > 11

    audio = b"".join(client.text_to_speech.convert(added.voice_id, text=TEXT, model_id="eleven_multilingual_v2",
                                                   voice_settings={"stability": 0.3, "speed": 1.0}))
    decoded = probe(audio)
    assert decoded["codec"].startswith("mp3") and decoded["rate"] == 44100 and 2 < decoded["seconds"] < 10

    # The generation is an ordinary one, in Utter's history and in ElevenLabs' history.
    history = client.history.list()
    assert [(h.voice_id, h.text, h.state) for h in history.history] == [(added.voice_id, TEXT, "created")]
    item = history.history[0]
    with server.client() as http:
        assert http.get("/api/generations").json()["generations"][0]["id"] == item.history_item_id
    assert client.history.get(item.history_item_id).text == TEXT
    assert probe(b"".join(client.history.get_audio(item.history_item_id)))["codec"].startswith("mp3")

    models = client.models.list()
    assert models[0].can_do_text_to_speech and models[0].model_id == "utter"
    assert "Cannot clone" in models[0].description  # the CPU engine says what it cannot do

    client.voices.delete(added.voice_id)
    with pytest.raises(ApiError) as gone:
        client.voices.get(added.voice_id)
    assert gone.value.status_code == 404 and gone.value.body["detail"]["status"] == "voice_not_found"
    # Its speech stays in the history.
    assert client.history.list().history[0].history_item_id == item.history_item_id


def test_search_pages_through_voices(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        for name in ("Alpha One", "Alpha Two", "Beta"):
            upload_voice(http, speech_clips["wav"], name=name)
    first = client.voices.search(search="alpha", page_size=1)
    assert (first.total_count, first.has_more, len(first.voices)) == (2, True, 1)
    second = client.voices.search(search="alpha", page_size=1, next_page_token=first.next_page_token)
    assert (second.has_more, second.next_page_token) == (False, None)
    assert {first.voices[0].name, second.voices[0].name} == {"Alpha One", "Alpha Two"}
    assert client.voices.search().total_count == 3


def _expected(fmt: str) -> tuple[str, int, int | None]:
    """(codec, sample rate, bitrate) that an ElevenLabs output format name promises."""
    codec, rate, *kbps = fmt.split("_")
    codecs = {"mp3": "mp3", "pcm": "pcm_s16le", "wav": "pcm_s16le", "ulaw": "pcm_mulaw", "alaw": "pcm_alaw",
              "opus": "opus"}
    return codecs[codec], int(rate), int(kbps[0]) * 1000 if kbps else None


CONVERT_FORMATS = [
    "mp3_22050_32", "mp3_24000_48", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128", "mp3_44100_192",
    "pcm_8000", "pcm_16000", "pcm_22050", "pcm_24000", "pcm_32000", "pcm_44100", "pcm_48000",
    "ulaw_8000", "alaw_8000",
    "opus_48000_32", "opus_48000_64", "opus_48000_96", "opus_48000_128", "opus_48000_192",
    "wav_8000", "wav_16000", "wav_22050", "wav_24000", "wav_32000", "wav_44100", "wav_48000",
]


def test_every_output_format(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])
    text = "Every format."  # short: 28 requests
    for fmt in CONVERT_FORMATS:
        codec, rate, bitrate = _expected(fmt)
        with client.text_to_speech.with_raw_response.convert(voice["id"], text=text, output_format=fmt) as response:
            data = b"".join(response.data)
            generation_id = response.headers["history-item-id"]
        raw = codec if fmt.split("_")[0] in ("pcm", "ulaw", "alaw") else None
        audio = probe(data, raw, rate)
        assert (audio["codec"].removesuffix("float"), audio["rate"], audio["channels"]) == (codec, rate, 1), fmt
        if fmt.startswith("mp3"):
            assert audio["bitrate"] == bitrate, fmt
        if fmt.startswith("opus"):
            assert audio["container"] == "ogg"
        if fmt.startswith("wav"):
            assert audio["container"] == "wav" and data[4:8] != b"\xff\xff\xff\xff"  # real sizes when whole
        # All of the speech, give or take codec padding.
        with server.client() as http:
            spoken = http.get(f"/api/generations/{generation_id}").json()["duration_seconds"]
        assert audio["seconds"] == pytest.approx(spoken, abs=0.15), fmt


def test_stream(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])
    long_text = " ".join([TEXT] * 4)
    # Ogg Opus re-encoded as the MP3 arrives (the MP3 passed through streams in the OpenAI tests).
    for fmt, codec, rate in (("opus_48000_64", "opus", 48000),):
        chunks = [c for c in client.text_to_speech.stream(voice["id"], text=long_text, output_format=fmt) if c]
        assert len(chunks) > 1, fmt
        audio = probe(b"".join(chunks))
        assert (audio["codec"].removesuffix("float"), audio["rate"]) == (codec, rate) and 8 < audio["seconds"] < 40


def test_errors_carry_utters_message(make_server, speech_clips, speech, tmp_path):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        voice = upload_voice(http, speech_clips["wav"])

    def error(call) -> ApiError:
        with pytest.raises(ApiError) as raised:
            result = call()
            if hasattr(result, "__next__"):
                b"".join(result)
        return raised.value

    missing = error(lambda: client.text_to_speech.convert("no-such-voice", text=TEXT))
    assert missing.status_code == 404 and "No voice 'no-such-voice'" in missing.body["detail"]["message"]

    empty = error(lambda: client.text_to_speech.convert(voice["id"], text=" "))
    assert empty.status_code == 400 and empty.body["detail"]["status"] == "text_empty"

    bad_format = error(lambda: client.text_to_speech.convert(voice["id"], text=TEXT, output_format="mp3_8000_8"))
    assert bad_format.status_code == 400 and "output_format" in bad_format.body["detail"]["message"]

    # A refused clone is a 400 (never 5xx or 429, which the SDK would retry without the form fields).
    short = make_clip(tmp_path / "short.wav", speech, 4.0)
    with open(short, "rb") as sample:
        refused = error(lambda: client.voices.ivc.create(name="Too short", files=[sample]))
    assert refused.status_code == 400 and refused.body["detail"]["status"] == "audio_too_short"
    assert "at least 10 s" in refused.body["detail"]["message"]
    with open(tmp_path / "noise.bin", "wb") as junk:
        junk.write(b"not audio at all" * 100)
    with open(tmp_path / "noise.bin", "rb") as junk, open(short, "rb") as sample:
        unreadable = error(lambda: client.voices.ivc.create(name="Junk", files=[sample, junk]))
    assert unreadable.status_code == 400 and "Sample 2 (noise.bin)" in unreadable.body["detail"]["message"]
    assert [v.name for v in client.voices.get_all().voices] == ["Narrator"]


def test_access_key(make_server):
    server = make_server(asr="off", api_key="s3cret")
    with pytest.raises(ApiError) as refused:
        sdk(server, key="wrong").voices.get_all()
    assert refused.value.status_code == 401 and "xi-api-key" in refused.value.body["detail"]["message"]
    assert refused.value.body["detail"]["status"] == "invalid_api_key"
    assert sdk(server, key="s3cret").voices.get_all().voices == []


DIALOGUE = [("Ann", "The red fox jumped over the garden fence."),
            ("Ben", "My brother bought a new car yesterday.")]


def test_text_to_dialogue_speaks_each_line_in_order(make_server, speech_clips, transcriber):
    """The SDK's dialogue call, its voices named by id and by name; an ordinary dialogue in both histories."""
    from tests.support.hearing import heard_as_written, words_of
    from utter.audio import codec as audio_codec

    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        ann = upload_voice(http, speech_clips["wav"], name="Ann")["id"]
        upload_voice(http, speech_clips["wav"], name="Ben")
    inputs = [{"voice_id": ann, "text": DIALOGUE[0][1]}, {"voice_id": "Ben", "text": DIALOGUE[1][1]}]
    with client.text_to_dialogue.with_raw_response.convert(inputs=inputs, model_id="eleven_v3",
                                                           settings={"stability": 0.5},
                                                           output_format="wav_22050") as response:
        wav = b"".join(response.data)
        generation_id = response.headers["history-item-id"]
    audio = probe(wav)
    assert (audio["container"], audio["rate"]) == ("wav", 22050)
    heard = transcriber.transcribe(audio_codec.decode(wav, target_rate=22050).samples, 22050, "en").text
    heard_as_written(words_of(heard), words_of(" ".join(t for _, t in DIALOGUE)))
    with server.client() as http:
        generation = http.get(f"/api/generations/{generation_id}").json()
    assert generation["kind"] == "dialogue" and [line["voice_name"] for line in generation["lines"]] == ["Ann", "Ben"]
    assert audio["seconds"] == pytest.approx(generation["duration_seconds"], abs=0.15)
    assert [item.history_item_id for item in client.history.list().history] == [generation_id]


def test_text_to_dialogue_streams_and_refuses_bad_scripts(make_server, speech_clips):
    server = make_server(asr="off")
    client = sdk(server)
    with server.client() as http:
        ann = upload_voice(http, speech_clips["wav"], name="Ann")["id"]
    lines = [{"voice_id": ann, "text": f"Line number {n} of the conversation is said now."} for n in range(1, 6)]
    chunks = [chunk for chunk in client.text_to_dialogue.stream(inputs=lines, output_format="mp3_44100_128") if chunk]
    assert len(chunks) > 1
    audio = probe(b"".join(chunks))
    assert audio["codec"].startswith("mp3") and 8 < audio["seconds"] < 40

    def refused(inputs) -> ApiError:
        with pytest.raises(ApiError) as raised:
            b"".join(client.text_to_dialogue.convert(inputs=inputs))
        return raised.value

    empty = refused([])
    assert (empty.status_code, empty.body["detail"]["status"]) == (400, "script_empty")
    unknown = refused([{"voice_id": ann, "text": "Hello."}, {"voice_id": "Nobody", "text": "Hi."}])
    assert (unknown.status_code, unknown.body["detail"]["status"]) == (404, "voice_not_found")
    assert unknown.body["detail"]["message"].startswith("Line 2: No voice 'Nobody'")
    blank = refused([{"voice_id": ann, "text": " "}])
    assert (blank.status_code, blank.body["detail"]["status"]) == (400, "text_empty")
    with server.client() as http:
        assert http.get("/api/generations").json()["total"] == 1  # the streamed one only
