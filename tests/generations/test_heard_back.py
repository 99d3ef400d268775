"""Every part heard back (issue 17): a part that went wrong is caught by what the speech recogniser hears,
spoken again, and the stored file holds the good take, while listeners hear every part as it comes."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import numpy as np
import pytest

from tests.compat.helpers import upload_voice
from tests.generations.test_worker import FailingAfterFirstPiece
from tests.support.app_fixtures import wait_for_generation
from utter.adapters.tts.base import SpeechJob
from utter.audio import codec
from utter.audio.reference_check import word_error_rate
from utter.generations import heard_back
from utter.generations.heard_back import MAX_TAKES, Take
from utter.generations.service import _checks

PARTS = [
    "The lighthouse keeper climbed the stairs every evening before the sun went down.",
    "He wiped the salt from the great lens and lit the lamp that guided the ships home across the dark "
    "water of the bay, where the currents ran fast and the rocks lay hidden.",
    "On stormy nights he stayed awake until morning, listening to the waves against the rocks below, and "
    "counting the seconds between the flashes of the lamp above his head.",
]
TEXT = " ".join(PARTS)
# As long as the parts it replaces, so that only its words are wrong.
OTHER = ("Bright yellow kites drifted slowly over the quiet market square on a warm Sunday afternoon, while "
         "children ran between the stalls selling bread, honey and fresh flowers.")


class FaultyPiper(FailingAfterFirstPiece):
    """Real Piper speech with the faults a language-model engine makes, on the first `times` takes of a part:
    `dropped_end` loses the last half of the words, `ran_on` goes on with noise for 3x the length,
    `other_words` says another sentence."""

    def __init__(self, engine, faults: dict[int, tuple[str, int]]):
        super().__init__(engine, RuntimeError("unused"))
        self.faults = {PARTS[part]: fault for part, fault in faults.items()}
        self.takes: Counter = Counter()

    def synthesize(self, job, cache=None):
        self.takes[job.text] += 1
        fault, times = self.faults.get(job.text, (None, 0))
        if self.takes[job.text] > times:
            fault = None
        text = job.text
        if fault == "dropped_end":
            words = text.split()
            text = " ".join(words[: len(words) // 2])
        elif fault == "other_words":
            text = OTHER
        speech = np.concatenate(list(self._engine.synthesize(SpeechJob(text, job.language, job.voice, job.speed))))
        if fault == "ran_on":
            noise = np.random.default_rng(len(text)).normal(0, 0.1, 3 * len(speech)).astype(np.float32)
            speech = np.concatenate([speech, noise])
        yield speech


def heard(transcriber, mp3: bytes, rate: int) -> str:
    return transcriber.transcribe(codec.decode(mp3, target_rate=rate).samples, rate, "en").text


def generate_and_listen(server, text: str) -> tuple[dict, bytes, bytes]:
    """Generate `text`, listening on /stream from the start: (the finished record, what the listener
    heard, the stored file)."""
    received = bytearray()
    with server.client() as client:
        voice = upload_voice(client, server.speech_clip)
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text}).json()

        def listen():
            with httpx.stream("GET", server.url + queued["stream_url"], timeout=120) as response:
                for data in response.iter_bytes():
                    received.extend(data)

        listener = threading.Thread(target=listen)
        listener.start()
        done = wait_for_generation(client, queued["status_url"], timeout=180)
        listener.join(60)
        final = client.get(done["audio_url"]).content
    return done, bytes(received), final


@pytest.fixture
def checked_server(make_server, speech_clips):
    def make(engine):
        server = make_server(engine=engine, heard_back="on")
        server.speech_clip = speech_clips["wav"]
        return server

    return make


@pytest.mark.slow
def test_each_fault_is_caught_retaken_and_the_stored_file_is_right(checked_server, piper_engine, transcriber):
    faults = {0: ("dropped_end", 1), 1: ("ran_on", 1), 2: ("other_words", 1)}
    engine = FaultyPiper(piper_engine, faults)
    server = checked_server(engine)
    done, streamed, final = generate_and_listen(server, TEXT)
    assert done["status"] == "done"

    checks = done["checks"]
    assert checks["checked"] and checks["retaken"] == 3 and checks["failed"] == 0
    by_part = {p["part"]: p for p in checks["parts"]}
    assert by_part[0]["retaken_because"] in (["cut_short"], ["wrong_words"], ["cut_short", "wrong_words"])
    assert "ran_on" in by_part[1]["retaken_because"]
    assert by_part[2]["retaken_because"] == ["wrong_words"]
    assert all(p["takes"] == 2 and p["passed"] and not p["problems"] for p in checks["parts"])
    assert "3 retaken" in checks["summary"]

    # The listener heard the first takes as they came; the stored file holds the retakes.
    rate = piper_engine.info.capabilities.sample_rate
    live = word_error_rate(TEXT, heard(transcriber, streamed, rate))
    kept = word_error_rate(TEXT, heard(transcriber, final, rate))
    spoken = np.concatenate([np.concatenate(list(piper_engine.synthesize(SpeechJob(p, "en")))) for p in PARTS])
    clean = word_error_rate(TEXT, transcriber.transcribe(spoken, rate, "en").text)
    assert live > 0.3 and kept <= clean + 0.08, (live, kept, clean)
    assert done["checks"]["parts"] and streamed != final

    # The word timings are those of the stored file, not of the first takes (one of which ran on).
    with server.client() as client:
        words = client.get(done["timings_url"]).json()["words"]
    assert [w["text"] for w in words] == TEXT.split()
    assert words[-1]["end"] == pytest.approx(done["duration_seconds"], abs=0.4)


@pytest.mark.slow
def test_a_part_that_never_comes_out_right_stops_at_the_limit_and_is_marked(checked_server, piper_engine):
    engine = FaultyPiper(piper_engine, {1: ("other_words", 99)})
    done, _, final = generate_and_listen(checked_server(engine), TEXT)
    assert done["status"] == "done" and final  # delivered, not lost
    assert engine.takes[PARTS[1]] == MAX_TAKES and engine.takes[PARTS[0]] == engine.takes[PARTS[2]] == 1
    part = next(p for p in done["checks"]["parts"] if p["part"] == 1)
    assert part == {**part, "takes": MAX_TAKES, "passed": False, "problems": ["wrong_words"]}
    assert done["checks"]["failed"] == 1 and "still sounds wrong after 3 takes (part 2)" in done["checks"]["summary"]


def test_a_clean_generation_is_heard_back_once(checked_server, piper_engine):
    engine = FaultyPiper(piper_engine, {})
    done, _, _ = generate_and_listen(checked_server(engine), PARTS[0])
    assert set(engine.takes.values()) == {1}
    assert done["checks"]["parts"][0]["takes"] == 1 and done["checks"]["summary"].startswith("1 part heard back, none retaken.")


def test_piper_is_not_checked_by_default_and_says_why_when_it_cannot_be(make_server, piper_engine, speech_clips):
    server = make_server(engine=FaultyPiper(piper_engine, {}))
    server.speech_clip = speech_clips["wav"]
    done, _, _ = generate_and_listen(server, PARTS[0])
    assert done["checks"] is None  # auto: Piper reads text as it is given
    quiet = make_server(engine=FaultyPiper(piper_engine, {}), heard_back="on", asr="off")
    quiet.speech_clip = speech_clips["wav"]
    done, _, _ = generate_and_listen(quiet, PARTS[0])
    assert done["checks"] == {**done["checks"], "checked": False, "parts": []}
    assert "speech recognition is off" in done["checks"]["summary"]


@pytest.mark.parametrize("take, problems", [
    (Take(0.0, 1.0, ""), ()),
    (Take(0.34, 2.1, ""), ()),
    (Take(0.36, 1.0, ""), ("wrong_words",)),
    (Take(0.0, 2.3, ""), ("ran_on",)),
    (Take(0.5, 0.4, ""), ("cut_short", "wrong_words")),
])
def test_what_counts_as_gone_wrong(take, problems):
    assert take.problems == problems and take.passed is (not problems)


def test_the_best_take_is_kept_and_the_line_says_what_happened(tmp_path):
    class Scripted:
        name = "scripted"

        def __init__(self, heard):
            self.heard = list(heard)

        def transcribe(self, samples, rate, language=None, *, words=False):
            return type("T", (), {"text": self.heard.pop(0)})()

    text = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
    judge = heard_back.Judge(Scripted(["alpha bravo", "alpha bravo charlie delta echo",
                                       "alpha bravo charlie delta echo foxtrot"]),
                             "en", 1.0)
    checks = heard_back.HeardBack(judge, tmp_path, lambda part: text)
    seconds = len(text) / heard_back.CHARS_PER_SECOND
    checks.add(0, np.zeros(int(seconds * 100), np.float32), 100, end=True)
    takes = iter([np.ones(int(seconds * 100), np.float32), np.full(int(seconds * 100), 2, np.float32)])
    assert checks.retake(lambda part: [next(takes)], lambda: None) is True
    record = checks.record()
    assert record["parts"][0]["takes"] == 3 and record["parts"][0]["passed"] is False
    assert record["parts"][0]["word_error"] == pytest.approx(0.4)  # the third take: 4 of 10 words missing
    assert checks.kept_audio(0)[0] == 2
    line = _checks(record).summary
    assert line.startswith("1 part heard back; 1 retaken (said other words); 1 still sounds wrong after 3 takes (part 1)")


def test_other_languages_are_heard_by_the_multilingual_recogniser_when_it_is_there(transcriber):
    """tiny.en (the real one) hears English only; another language needs the multilingual model, which
    `utter download-models asr` fetches (a stand-in here: no multilingual weights can be had)."""

    class Multilingual:
        name = "whisper small"
        multilingual = True

    assert heard_back.recogniser_for("en", transcriber, None) == (transcriber, None)
    nobody, why = heard_back.recogniser_for("de", transcriber, None)
    assert nobody is None and "knows English only" in why and "utter download-models asr" in why
    other = Multilingual()
    assert heard_back.recogniser_for("de", transcriber, other) == (other, None)
    assert heard_back.recogniser_for("en", transcriber, other) == (transcriber, None)
    assert "off" in heard_back.recogniser_for("en", None, other)[1]
