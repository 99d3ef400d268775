"""Dialogues (issue 18) over HTTP, in real Piper speech heard by a speech recogniser: one generation whose
audio holds each line in order, each line placed where the recogniser hears it, a beat between speakers,
in the history with its lines; a line spoken again alone reuses the others' audio; bad scripts are refused
with the line named and nothing queued or stored."""

from __future__ import annotations

import re
import threading
import uuid

import httpx
import pytest

from tests.compat.helpers import upload_voice
from tests.support.app_fixtures import wait_for_generation
from tests.support.hearing import heard_as_written, words_of
from tests.support.audio_fixtures import silences
from utter.audio import codec
from utter.bootstrap import build_runner
from utter.generations.dialogue import MAX_LINES
from utter.adapters.tts.base import EngineError
from utter.generations.dialogue_speech import SAME_SPEAKER_PAUSE, SPEAKER_CHANGE_PAUSE, _RemoteCalls
from utter.models import Generation

RATE = 22050  # Piper's
LINES = [
    ("Ann", "The red fox jumped over the garden fence."),
    ("Ben", "My brother bought a new car yesterday."),
    ("Ann", "Green apples grow on the old tree."),
]


def voices(client, speech_clips, *names) -> dict[str, str]:
    return {name: upload_voice(client, speech_clips["wav"], name=name)["id"] for name in names}


def script(ids: dict[str, str], lines=LINES) -> list[dict]:
    return [{"voice_id": ids[name], "text": text} for name, text in lines]


def dialogue(client, inputs, **extra) -> dict:
    queued = client.post("/api/dialogue", json={"inputs": inputs, **extra})
    assert queued.status_code == 202, queued.text
    done = wait_for_generation(client, queued.json()["status_url"], timeout=120)
    assert done["status"] == "done", done
    return done


def test_each_line_is_heard_in_order_where_its_place_says(make_server, speech_clips, transcriber):
    server = make_server(asr="off")
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        queued = client.post("/api/dialogue", json={"inputs": script(ids)})
        assert queued.status_code == 202, queued.text
        assert queued.headers["location"] == f"/api/generations/{queued.json()['id']}"
        assert queued.json()["kind"] == "dialogue"
        done = wait_for_generation(client, queued.json()["status_url"], timeout=120)
        assert done["status"] == "done", done
        audio = client.get(done["audio_url"]).content
        history = client.get("/api/generations").json()
        # Listed under each of its voices, beside their own speech.
        speech = client.post("/api/generate", json={"voice_id": ids["Ben"], "text": "Hello."}).json()
        wait_for_generation(client, speech["status_url"])
        by_voice = {name: [g["id"] for g in client.get("/api/generations", params={"voice_id": voice}).json()[
            "generations"]] for name, voice in ids.items()}
        stranger = upload_voice(client, speech_clips["wav"], name="Cy")["id"]
        assert client.get("/api/generations", params={"voice_id": stranger}).json()["total"] == 0
        # History search reads every line (the row's text is the script as written, Name: line).
        found = client.get("/v1/history", params={"search": "brother"}).json()["history"]
        missed = client.get("/v1/history", params={"search": "zebra"}).json()["history"]
    lines = done["lines"]
    assert [(line["voice_name"], line["text"]) for line in lines] == LINES
    assert [line["voice_id"] for line in lines] == [ids["Ann"], ids["Ben"], ids["Ann"]]
    assert done["text"] == "\n".join(f"{name}: {text}" for name, text in LINES)
    # One generation, in the history with its lines.
    assert history["total"] == 1 and history["generations"][0]["id"] == done["id"]
    assert by_voice == {"Ann": [done["id"]], "Ben": [speech["id"], done["id"]]}
    assert history["generations"][0]["lines"] == lines
    assert [item["history_item_id"] for item in found] == [done["id"]] and missed == []

    samples = codec.decode(audio, target_rate=RATE).samples
    duration = len(samples) / RATE
    assert done["duration_seconds"] == pytest.approx(duration, abs=0.1)
    for line, following in zip(lines, lines[1:]):
        assert 0 <= line["start"] < line["end"] < following["start"] <= duration + 0.05

    heard = transcriber.transcribe(samples, RATE, "en", words=True)
    # Every line's words, in the order of the script.
    spoken = [(index, word) for index, (_, text) in enumerate(LINES) for word in words_of(text)]
    timed_words = [(timed, word) for timed in heard.words for word in words_of(timed.text)]
    pairs = heard_as_written([word for _, word in timed_words], [word for _, word in spoken])
    # Each word the recogniser heard lies inside its own line's span (Whisper's word times are rough: 0.25 s).
    for heard_index, expected_index in pairs:
        timed, index = timed_words[heard_index][0], spoken[expected_index][0]
        middle = (timed.start + timed.end) / 2
        assert lines[index]["start"] - 0.25 <= middle <= lines[index]["end"] + 0.25, (timed, lines[index])

    # Between the lines is quiet at least as long as the beat asked for (plus Piper's own trailing quiet).
    quiet = silences(samples, RATE)
    for line, following in zip(lines, lines[1:]):
        gap = max((length for start, length in quiet
                   if start < following["start"] and start + length > line["end"]), default=0)
        asked = SPEAKER_CHANGE_PAUSE if line["voice_id"] != following["voice_id"] else SAME_SPEAKER_PAUSE
        assert gap >= asked, (gap, line, following)


def test_a_new_speaker_gets_a_longer_beat_than_the_same_one_going_on(make_server, speech_clips):
    server = make_server(asr="off")
    sentence = "This is the same sentence every time."
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        same = dialogue(client, script(ids, [("Ann", sentence), ("Ann", sentence)]))["lines"]
        other = dialogue(client, script(ids, [("Ann", sentence), ("Ben", sentence)]))["lines"]
    # Piper speaks every voice alike, so the only difference between the two is the gap.
    same_gap, other_gap = same[1]["start"] - same[0]["end"], other[1]["start"] - other[0]["end"]
    assert other_gap - same_gap == pytest.approx(SPEAKER_CHANGE_PAUSE - SAME_SPEAKER_PAUSE, abs=0.03)


def test_the_stream_plays_the_lines_as_they_finish(make_server, speech_clips):
    server = make_server(asr="off")
    lines = [("Ann" if n % 2 else "Ben", f"Line number {n} of this conversation is said right now.")
             for n in range(1, 9)]
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        queued = client.post("/api/dialogue", json={"inputs": script(ids, lines)}).json()
        received: list[bytes] = []

        def listen():
            with httpx.stream("GET", server.url + queued["stream_url"], timeout=120) as response:
                received.extend(response.iter_bytes())

        listener = threading.Thread(target=listen)
        listener.start()
        done = wait_for_generation(client, queued["status_url"], timeout=120)
        listener.join(120)
        final = client.get(done["audio_url"]).content
    assert done["status"] == "done" and done["chunks_total"] == 8
    assert b"".join(received) == final


class CountingEngine:
    """Piper, counting what it is asked to say (to prove a line spoken again is the only one spoken)."""

    def __init__(self, engine):
        self.engine = engine
        self.info = engine.info
        self.said: list[str] = []

    def speak(self, request, task):
        self.said += list(request.chunks)
        return self.engine.speak(request, task)

    def __getattr__(self, name):
        return getattr(self.engine, name)


def test_a_line_spoken_again_alone_reuses_the_other_lines_audio(make_server, speech_clips, piper_engine,
                                                                transcriber, tmp_path):
    engine = CountingEngine(piper_engine)
    server = make_server(asr="off", engine=engine)
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        first = dialogue(client, script(ids))
        assert engine.said == [text for _, text in LINES]
        engine.said.clear()
        queued = client.post(f"/api/dialogue/{first['id']}/lines/1/respeak",
                             json={"text": "My sister painted the kitchen walls."})
        assert queued.status_code == 202, queued.text
        second = wait_for_generation(client, queued.json()["status_url"], timeout=120)
        assert second["status"] == "done", second
        assert engine.said == ["My sister painted the kitchen walls."]  # only that line was spoken
        audio = client.get(second["audio_url"]).content
        # The earlier take is still in the history as it was; the new one says where it came from.
        assert client.get(f"/api/generations/{first['id']}").json()["lines"][1]["text"] == LINES[1][1]
        assert second["respoken_from"] == first["id"]
        assert [line["reused"] for line in second["lines"]] == [True, False, True]
        assert client.get("/api/generations").json()["total"] == 2
        # Unchanged lines keep their audio byte for byte.
        root = server.settings.uploads_dir / "lines"
        for index in (0, 2):
            assert (root / second["id"] / f"{index:03d}.wav").read_bytes() == (
                root / first["id"] / f"{index:03d}.wav").read_bytes()
        assert (root / second["id"] / "001.wav").read_bytes() != (root / first["id"] / "001.wav").read_bytes()

        # Deleting a take deletes its lines' audio, and the other take is untouched.
        assert client.delete(f"/api/generations/{first['id']}").status_code == 204
        assert not (root / first["id"]).exists() or not list((root / first["id"]).iterdir())
        assert len(list((root / second["id"]).iterdir())) == 3
        # A line of the new take spoken again after the earlier take is gone still reuses the new take's audio.
        engine.said.clear()
        again = client.post(f"/api/dialogue/{second['id']}/lines/0/respeak").json()
        assert wait_for_generation(client, again["status_url"], timeout=120)["status"] == "done"
        assert engine.said == [LINES[0][1]]
    heard = words_of(transcriber.transcribe(codec.decode(audio, target_rate=RATE).samples, RATE, "en").text)
    heard_as_written(heard, words_of(LINES[0][1]) + words_of("My sister painted the kitchen walls.")
                     + words_of(LINES[2][1]))


def test_a_respeak_of_what_cannot_be_respoken_is_refused(client, speech_clips):
    ids = voices(client, speech_clips, "Ann")
    speech = client.post("/api/generate", json={"voice_id": ids["Ann"], "text": "Hello."}).json()
    wait_for_generation(client, speech["status_url"])
    refused = client.post(f"/api/dialogue/{speech['id']}/lines/0/respeak")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_a_dialogue")
    done = dialogue(client, script(ids, [("Ann", "Only one line here.")]))
    missing = client.post(f"/api/dialogue/{done['id']}/lines/5/respeak")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "line_not_found")
    empty = client.post(f"/api/dialogue/{done['id']}/lines/0/respeak", json={"text": "  "})
    assert (empty.status_code, empty.json()["error"]["code"], empty.json()["error"]["field"]) == (
        422, "text_empty", "text")
    assert client.get("/api/generations").json()["total"] == 2


def test_a_voice_deleted_before_the_dialogue_runs_fails_it_naming_the_line(make_server, speech_clips):
    server = make_server(asr="off", workers=0)  # nothing runs it until the voice is gone
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        queued = client.post("/api/dialogue", json={"inputs": script(ids)}).json()
        assert client.delete(f"/api/voices/{ids['Ben']}").status_code == 204
        runner = build_runner(server.ctx, 1)
        runner.start()
        try:
            done = wait_for_generation(client, queued["status_url"], timeout=60)
        finally:
            runner.stop()
    assert done["status"] == "failed" and done["error"]["code"] == "voice_deleted"
    assert "\u201cBen\u201d of line 2" in done["error"]["message"]
    assert not list((server.settings.uploads_dir).glob("lines/*/*"))


@pytest.mark.parametrize(("inputs", "status", "code", "field", "words"), [
    ([], 422, "script_empty", "inputs", "no lines"),
    ([{"text": "Who am I?"}], 422, "voice_missing", "inputs[0].voice_id", "Line 1"),
    ("OK+", 422, "invalid_voice_id", "inputs[1].voice_id", "Line 2"),
    ("OK+unknown", 404, "voice_not_found", "inputs[1].voice_id", "Line 2"),
    ("OK+empty", 422, "text_empty", "inputs[1].text", "Line 2"),
    ("OK+break", 422, "break_too_long", "inputs[1].text", "Line 2"),
    ("OK+badbreak", 422, "break_invalid", "inputs[1].text", "Line 2"),
    ("long", 422, "script_too_long", "inputs", "5000"),
    ("many", 422, "script_too_many_lines", "inputs", str(MAX_LINES)),
])
def test_a_bad_script_is_refused_naming_the_line_and_nothing_is_saved(client, speech_clips, server, inputs,
                                                                      status, code, field, words):
    voice = upload_voice(client, speech_clips["wav"], name="Ann")["id"]
    good = {"voice_id": voice, "text": "A fine first line."}
    second = {"OK+": {"voice_id": "not-an-id", "text": "Hi."},
              "OK+unknown": {"voice_id": "00000000-0000-4000-8000-000000000000", "text": "Hi."},
              "OK+empty": {"voice_id": voice, "text": " <break time=\"1s\"/> "},
              "OK+break": {"voice_id": voice, "text": 'Wait <break time="9s"/> now.'},
              "OK+badbreak": {"voice_id": voice, "text": "Wait <break time=2s/> now."}}
    if isinstance(inputs, str) and inputs in second:
        inputs = [good, second[inputs]]
    elif inputs == "long":  # every line within the limit, the script over it
        inputs = [{"voice_id": voice, "text": "Words and words. " * 150}] * 2
    elif inputs == "many":
        inputs = [good] * (MAX_LINES + 1)
    refused = client.post("/api/dialogue", json={"inputs": inputs})
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert words in error["message"]
    assert client.get("/api/generations").json()["total"] == 0
    assert not list((server.settings.uploads_dir).glob("lines/**/*.wav"))


class FailingEngine(CountingEngine):
    """Piper, failing on the line that says "boom" (after the lines before it were spoken and streamed)."""

    def speak(self, request, task):
        if any("boom" in chunk.lower() for chunk in request.chunks):
            raise EngineError("engine_failed", "The engine broke on this line.")
        return super().speak(request, task)


def test_a_dialogue_that_fails_midway_leaves_no_file(make_server, speech_clips, piper_engine):
    engine = FailingEngine(piper_engine)
    server = make_server(asr="off", engine=engine)
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        lines = [("Ann", f"The {n} line is spoken before it breaks.") for n in ("first", "second", "third")]
        lines.append(("Ben", "Boom."))
        queued = client.post("/api/dialogue", json={"inputs": script(ids, lines)}).json()
        done = wait_for_generation(client, queued["status_url"], timeout=120)
    assert (done["status"], done["error"]["code"]) == ("failed", "engine_failed")
    assert engine.said == [text for _, text in lines[:3]]  # the lines before it were spoken (and stored) first
    assert done["chunks_done"] >= 2
    stored = [path for path in server.settings.uploads_dir.rglob("*") if path.is_file()]
    assert [path.parent.name for path in stored] == ["references", "references"]


def test_a_dialogue_on_a_remote_engine_calls_it_once_per_line_in_each_lines_voice(make_server, speech_clips):
    """Modal's path (the stand-in answers each call with 2 s of tone): each line is its own calls, in its voice,
    and the task records every call in order, so a retry collects them instead of paying again."""
    from tests.generations.test_remote_speech import RemoteSpeaker
    from utter.adapters.tts.remote import RemoteEngine

    speaker = RemoteSpeaker()
    server = make_server(engine=RemoteEngine(speaker), asr="off")
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        done = dialogue(client, script(ids))
        with server.ctx.sessions() as session:
            row = session.get(Generation, uuid.UUID(done["id"]))
            recorded = row.remote_call_id.split()
    assert [(job.text, job.voice.voice_id) for job in speaker.jobs.values()] == [
        (text, ids[name]) for name, text in LINES]
    assert recorded == speaker.spawned
    assert [line["end"] - line["start"] for line in done["lines"]] == [pytest.approx(2.0, abs=0.05)] * 3
    assert done["lines"][1]["start"] - done["lines"][0]["end"] == pytest.approx(SPEAKER_CHANGE_PAUSE, abs=0.05)


def test_each_line_gets_its_share_of_the_remote_calls_a_retry_finds():
    class Recorded:
        prompts = None
        remote_calls = ["a", "b", "c"]  # line 1's two calls, then one of line 3's before the process died

        def __init__(self):
            self.recorded: list[list[str]] = []

        def record_remote_calls(self, call_ids):
            self.recorded.append(call_ids)

    task = Recorded()
    calls = _RemoteCalls(task, [2, 0, 3])  # line 2 reuses an earlier take's audio: no calls
    assert [calls.for_line(line).remote_calls for line in range(3)] == [["a", "b"], [], ["c"]]
    calls.for_line(2).record_remote_calls(["c", "d"])
    assert task.recorded == [["a", "b", "c", "d"]]


def test_each_line_takes_its_own_voices_pronunciation_rules_and_its_breaks(make_server, speech_clips, transcriber):
    server = make_server(asr="off")
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        rules = client.post("/api/pronunciation-dictionaries", json={
            "name": "Ann's words", "rules": [{"string_to_replace": "Nguyen", "alias": "Elizabeth"}]}).json()
        assert client.patch(f"/api/voices/{ids['Ann']}", json={"pronunciation_dictionary_id": rules["id"]}).is_success
        done = dialogue(client, script(ids, [("Ann", 'My friend Nguyen called me this morning. <break time="1.5s"/> Then he left.'),
                                             ("Ben", "My friend Nguyen called me too.")]))
        samples = codec.decode(client.get(done["audio_url"]).content, target_rate=RATE).samples
    first, second = done["lines"]
    assert first["spoken_text"] == 'My friend Elizabeth called me this morning. <break time="1.5s"/> Then he left.'
    assert second["spoken_text"] is None  # Ben's voice has no rules: Piper says the name its own way
    heard = transcriber.transcribe(samples, RATE, "en", words=True)
    named = [word for word in heard.words if "elizabeth" in word.text.lower()]
    assert len(named) == 1 and first["start"] <= named[0].start < first["end"]
    # The break is a silence inside the first line (on top of Piper's own gap after a sentence).
    inside = [length for start, length in silences(samples, RATE)
              if first["start"] < start and start + length < first["end"]]
    assert max(inside) >= 1.5


def test_lines_are_heard_back_and_one_that_said_other_words_is_retaken(make_server, speech_clips, piper_engine,
                                                                       transcriber):
    """With hearing back on (Qwen3-TTS's default), each spoken line is checked as speech is: line 2 says
    another sentence on its first take, is spoken again, and the stored file and line audio keep the retake."""
    from tests.generations.test_heard_back import FaultyPiper

    engine = FaultyPiper(piper_engine, {})
    engine.faults = {LINES[1][1]: ("other_words", 1)}
    server = make_server(engine=engine, heard_back="on")
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        done = dialogue(client, script(ids))
        audio = client.get(done["audio_url"]).content
        again = client.post(f"/api/dialogue/{done['id']}/lines/2/respeak").json()
        retake = wait_for_generation(client, again["status_url"], timeout=120)
    checks = done["checks"]
    assert checks["checked"] and [part["takes"] for part in checks["parts"]] == [1, 2, 1]
    assert "wrong_words" in checks["parts"][1]["retaken_because"] and checks["retaken"] == 1
    assert engine.takes[LINES[1][1]] == 2 and engine.takes[LINES[0][1]] == 1
    heard = words_of(transcriber.transcribe(codec.decode(audio, target_rate=RATE).samples, RATE, "en").text)
    heard_as_written(heard, [word for _, text in LINES for word in words_of(text)])
    # The kept take is the line's stored audio, so a later take reuses the right words.
    stored = codec.decode(server.settings.uploads_dir / "lines" / done["id"] / "001.wav", target_rate=RATE).samples
    heard_as_written(words_of(transcriber.transcribe(stored, RATE, "en").text), words_of(LINES[1][1]), 0.7)
    assert retake["status"] == "done" and [part["part"] for part in retake["checks"]["parts"]] == [2]
    assert engine.takes[LINES[1][1]] == 2  # reused, not heard or spoken again


def run_queue(server, client, status_url: str) -> dict:
    """Run the queue of a server started without workers until the generation at `status_url` ends."""
    runner = build_runner(server.ctx, 1)
    runner.start()
    try:
        return wait_for_generation(client, status_url, timeout=120)
    finally:
        runner.stop()


def test_a_take_whose_earlier_take_was_deleted_before_it_ran_speaks_every_line(make_server, speech_clips,
                                                                                piper_engine):
    engine = CountingEngine(piper_engine)
    server = make_server(asr="off", engine=engine, workers=0)
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        first = client.post("/api/dialogue", json={"inputs": script(ids)}).json()
        assert run_queue(server, client, first["status_url"])["status"] == "done"
        queued = client.post(f"/api/dialogue/{first['id']}/lines/1/respeak").json()
        assert client.delete(f"/api/generations/{first['id']}").status_code == 204
        engine.said.clear()
        take = run_queue(server, client, queued["status_url"])
    assert take["status"] == "done" and [line["reused"] for line in take["lines"]] == [False, False, False]
    assert engine.said == [text for _, text in LINES]  # the audio to reuse was gone: every line spoken


def test_a_dialogue_is_timed_word_by_word_and_its_subtitles_name_the_speakers(make_server, speech_clips):
    """Each line's typed words are aligned inside the line's own place; their offsets point into the row's
    text (after the speaker's name); no subtitle cue holds two lines, and WebVTT says who speaks."""
    import pysubs2

    server = make_server()
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        done = dialogue(client, script(ids))
        timed = client.get(done["timings_url"]).json()["words"]
        vtt = client.get(f"/api/generations/{done['id']}/subtitles.vtt").text
    lines = done["lines"]
    assert [(w["line"], w["text"]) for w in timed] == [(n, word) for n, (_, text) in enumerate(LINES)
                                                       for word in text.split()]
    for word in timed:
        assert done["text"][word["offset"]: word["offset"] + word["length"]] == word["text"]
        line = lines[word["line"]]
        assert line["start"] - 0.05 <= word["start"] <= word["end"] <= line["end"] + 0.05, (word, line)
    events = pysubs2.SSAFile.from_string(vtt, format_="vtt").events
    assert [w for event in events for w in event.plaintext.split()] == [w["text"] for w in timed]
    spoken_by = re.findall(r"^<v ([^>]+)>(.*?)</v>$", vtt, flags=re.M | re.S)
    assert len(spoken_by) == len(events)
    # Every cue is one speaker's, and the cues follow the script's lines in order.
    runs = [name for name, _ in spoken_by]
    assert [name for i, name in enumerate(runs) if i == 0 or runs[i - 1] != name] == ["Ann", "Ben", "Ann"]


def test_a_line_spoken_again_keeps_the_dictionaries_the_dialogue_was_asked_with(make_server, speech_clips):
    server = make_server(asr="off")
    with server.client() as client:
        ids = voices(client, speech_clips, "Ann", "Ben")
        rules = client.post("/api/pronunciation-dictionaries", json={
            "name": "Names", "rules": [{"string_to_replace": "Nguyen", "alias": "Elizabeth"}]}).json()
        first = dialogue(client, script(ids, [("Ann", "Nguyen is here."), ("Ben", "Hello there.")]),
                         pronunciation_dictionary_ids=[rules["id"]])
        queued = client.post(f"/api/dialogue/{first['id']}/lines/1/respeak", json={"text": "Hello Nguyen."})
        assert queued.status_code == 202, queued.text
        second = wait_for_generation(client, queued.json()["status_url"], timeout=120)
        # And again from the new take: the reused line still knows the dictionaries it was asked with.
        third = client.post(f"/api/dialogue/{second['id']}/lines/0/respeak", json={"text": "Nguyen left."}).json()
        third = wait_for_generation(client, third["status_url"], timeout=120)
    assert first["lines"][0]["spoken_text"] == "Elizabeth is here."
    assert second["status"] == "done" and second["lines"][1]["spoken_text"] == "Hello Elizabeth."
    assert third["status"] == "done" and third["lines"][0]["spoken_text"] == "Elizabeth left."
    assert third["lines"][1]["spoken_text"] == "Hello Elizabeth."
