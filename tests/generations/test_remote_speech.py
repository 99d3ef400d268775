"""Speech through a remote engine (what Modal does: spawn a call, poll it, encode what comes back).

Modal cannot run here, so a stand-in answers at the RemoteCalls interface with a tone at
22,050 Hz per call; what the worker does with the calls and their answers runs for real.
"""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import numpy as np
import pytest

from tests.compat.helpers import probe, upload_voice
from tests.compat.test_openai import sdk
from tests.design.test_remote import RATE, RemoteDesigner
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import decoded_duration
from tests.test_tempo import dominant_hz
from utter.bootstrap import build_runner
from utter.generations.speech import FIRST_CHUNK_CHARS
from utter.models import Generation
from utter.adapters.tts.base import REFERENCE_NEEDED, EngineError
from utter.adapters.tts.remote import RemoteEngine
from utter.audio.text import chunk_text

SECONDS = 2.0  # of tone per call, whatever its text
LONG_TEXT = " ".join(f"Sentence {n} of the long text goes on for a while, so that the text needs several calls."
                     for n in range(1, 8))
# The stand-in takes 500 characters a call; the first chunk is short, to start soon.
CHUNKS = chunk_text(LONG_TEXT, 500, FIRST_CHUNK_CHARS)


class RemoteSpeaker(RemoteDesigner):
    """One warm container: it knows a voice once a call brought its recording, as the Modal app does.

    Each speech call finishes once the test releases it (all at once unless `gated`).
    """

    def __init__(self, gated: bool = False):
        super().__init__()
        self.references: dict[str, bytes | None] = {}
        self.spawned: list[str] = []  # call ids, in the order they were made
        self.polled: list[str] = []
        self.known_voices: set[str] = set()
        self.released = threading.Semaphore(0) if gated else None

    def spawn_speech(self, job, reference_audio, stream_key=None):
        call_id = f"call-{len(self.jobs)}"
        self.jobs[call_id], self.references[call_id] = job, reference_audio
        self.spawned.append(call_id)
        return call_id

    def likeness(self, voice, samples, sample_rate, reference_audio):
        """As the app does: scored against the voice the container knows; here, how much of the audio's
        energy is at this stand-in's tone."""
        if reference_audio is not None:
            self.known_voices.add(voice.voice_id)
        elif voice.voice_id not in self.known_voices:
            raise EngineError(REFERENCE_NEEDED, "This container has no prompt for the voice.")
        spectrum = np.abs(np.fft.rfft(samples))
        tone = int(round(220 * len(samples) / sample_rate))
        return float(spectrum[tone - 2: tone + 3].sum() ** 2 / (spectrum ** 2).sum() / 5)

    def poll(self, call_id, wait=0.0):
        self.polled.append(call_id)
        voice = self.jobs[call_id].voice.voice_id if call_id in self.jobs else None
        if self.references.get(call_id) is not None:
            self.known_voices.add(voice)
        elif call_id in self.jobs and voice not in self.known_voices:
            raise EngineError(REFERENCE_NEEDED, "This container has no prompt for the voice.")
        if self.released is not None and not self.released.acquire(timeout=min(wait, 0.05) or 0.001):
            return None
        t = np.arange(int(SECONDS * RATE)) / RATE
        return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE


class StreamingSpeaker(RemoteSpeaker):
    """Its calls send their tone in 0.5 s pieces as they go, as the Modal app does through its pieces
    queue: the first second at once, the rest (and the result) once the test releases the call."""

    PIECE = int(0.5 * RATE)

    def __init__(self):
        super().__init__(gated=True)
        self.streams: dict[str, list[np.ndarray]] = {}
        self.keys: list[str | None] = []
        self.go = threading.Event()

    def spawn_speech(self, job, reference_audio, stream_key=None):
        self.keys.append(stream_key)
        t = np.arange(int(SECONDS * RATE)) / RATE
        tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        self.streams[stream_key] = [tone[i:i + self.PIECE] for i in range(0, len(tone), self.PIECE)]
        return super().spawn_speech(job, reference_audio, stream_key)

    def pieces(self, stream_key, wait=0.0):
        waiting = self.streams[stream_key]
        if not self.go.is_set():
            ready, self.streams[stream_key] = waiting[:2], waiting[2:]
            if not ready:
                time.sleep(min(wait, 0.05))
            return ready, False
        self.streams[stream_key] = []
        return waiting, True


def test_remote_speech_plays_its_pieces_before_the_call_is_done(make_server, speech_clips):
    engine = StreamingSpeaker()
    server = make_server(engine=RemoteEngine(engine), asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello there."}).json()
        with httpx.stream("GET", server.url + queued["stream_url"], timeout=30) as response:
            chunks = response.iter_bytes()
            heard = next(chunks)
            while decoded_duration(heard) < 0.5:
                heard += next(chunks)
            status = client.get(queued["status_url"]).json()
            assert (status["status"], status["chunks_done"]) == ("running", 0)  # the call is still out
            assert decoded_duration(heard) < SECONDS - 0.5
            engine.go.set()
            engine.released.release()
            heard += b"".join(chunks)
        done = wait_for_generation(client, queued["status_url"])
        final = client.get(done["audio_url"]).content
    assert done["status"] == "done" and done["duration_seconds"] == pytest.approx(SECONDS, abs=0.05)
    assert heard == final
    assert len(engine.keys) == 1 and len(engine.keys[0]) == 32


@pytest.fixture
def remote_server(make_server):
    return make_server(engine=RemoteEngine(RemoteSpeaker()), asr="off")


def test_remote_speech_is_spawned_once_with_the_reference(remote_server, speech_clips):
    engine = remote_server.ctx.engine.calls
    with remote_server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello there."}).json()
        done = wait_for_generation(client, queued["status_url"])
        mp3 = client.get(done["audio_url"]).content
    assert done["status"] == "done" and done["duration_seconds"] == pytest.approx(SECONDS, abs=0.05)
    [(call_id, job)] = engine.jobs.items()
    assert (job.text, job.voice.voice_id) == ("Hello there.", voice["id"])
    assert engine.references[call_id][:4] == b"RIFF"  # the stored reference WAV, sent along
    assert probe(mp3)["seconds"] == pytest.approx(SECONDS, abs=0.1)
    # Scored where the model is: the result (a pure tone) against the voice, and the reference's first half.
    likeness = done["checks"]["likeness"]
    assert likeness["whole"] > 0.1 > likeness["reference_half"]


def test_long_text_is_one_call_per_chunk_and_streams_as_they_finish(make_server, speech_clips):
    engine = RemoteSpeaker(gated=True)
    server = make_server(engine=RemoteEngine(engine), asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
        engine.released.release()  # the first call finishes; the second waits
        for _ in range(300):
            status = client.get(queued["status_url"]).json()
            if status["chunks_done"] == 1:
                break
            time.sleep(0.05)
        assert len(CHUNKS) == 3
        assert (status["status"], status["chunks_done"], status["chunks_total"]) == ("running", 1, 3)
        # Calls are made one after the other: only the second is out while the first is heard.
        for _ in range(100):
            if len(engine.spawned) == 2:
                break
            time.sleep(0.05)
        assert engine.spawned == ["call-0", "call-1"]
        with httpx.stream("GET", server.url + queued["stream_url"], timeout=30) as response:
            first = next(response.iter_bytes())
            assert decoded_duration(first) > 1.0  # the first call's speech, before the rest exists

        for _ in range(2):
            engine.released.release()
        done = wait_for_generation(client, queued["status_url"])
        final = client.get(done["audio_url"]).content
    assert [engine.jobs[call_id].text for call_id in engine.spawned] == CHUNKS
    # The recording went with the first call only.
    assert [engine.references[call_id] is not None for call_id in engine.spawned] == [True, False, False]
    assert " ".join(CHUNKS) == LONG_TEXT and len(CHUNKS[0]) <= FIRST_CHUNK_CHARS
    assert done["status"] == "done" and done["chunks_done"] == 3
    # Three calls' speech crossfaded into one file: all of it, less two 40 ms overlaps.
    assert done["duration_seconds"] == pytest.approx(3 * SECONDS - 2 * 0.04, abs=0.01)
    assert decoded_duration(final) == pytest.approx(done["duration_seconds"], abs=0.1)
    with server.ctx.sessions() as session:
        assert session.get(Generation, uuid.UUID(done["id"])).remote_call_id == "call-0 call-1 call-2"


def test_a_retry_collects_the_calls_already_made(make_server, speech_clips):
    """After a restart, chunks whose calls were made are fetched, not paid for again."""
    engine = RemoteSpeaker()
    server = make_server(engine=RemoteEngine(engine), asr="off", workers=0)
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
    # What the previous process left: two calls made, which Modal still holds the results of, on a
    # container that knows the voice from the first of them.
    engine.known_voices.add(voice["id"])
    with server.ctx.sessions() as session:
        session.get(Generation, uuid.UUID(queued["id"])).remote_call_id = "earlier-a earlier-b"
        session.commit()

    pool = build_runner(server.ctx, 1)
    pool.start()
    try:
        with server.client() as client:
            done = wait_for_generation(client, queued["status_url"])
    finally:
        pool.stop()
    assert done["status"] == "done" and done["chunks_done"] == 3
    # Only the chunk that had no call got one; the others were collected.
    assert [(c, engine.jobs[c].text) for c in engine.spawned] == [("call-0", CHUNKS[2])]
    assert engine.polled == ["earlier-a", "earlier-b", "call-0"]
    assert done["duration_seconds"] == pytest.approx(3 * SECONDS - 2 * 0.04, abs=0.01)
    with server.ctx.sessions() as session:
        assert session.get(Generation, uuid.UUID(done["id"])).remote_call_id == "earlier-a earlier-b call-0"


@pytest.mark.parametrize("speed", [2.0, 0.7])
def test_remote_speech_at_another_speed_is_stretched(remote_server, speech_clips, speed):
    """The remote model has one rate; the service changes it, keeping the pitch."""
    with remote_server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
    pcm = sdk(remote_server).audio.speech.create(model="tts-1", voice=voice["id"], input="Hello there.",
                                                 response_format="pcm", speed=speed).content
    samples = np.frombuffer(pcm, "<i2").astype(np.float32)
    # Give or take the MP3 encoder's padding (the worker's MP3 is decoded to make PCM).
    assert len(samples) / 24000 == pytest.approx(SECONDS / speed, abs=0.1)
    assert dominant_hz(samples) == pytest.approx(220, abs=3)  # OpenAI's pcm is 24 kHz, as dominant_hz assumes


def test_a_call_on_a_container_without_the_voice_is_made_again_with_the_recording(make_server, speech_clips):
    class ContainerChangesAfterTheFirstCall(RemoteSpeaker):
        def poll(self, call_id, wait=0.0):
            result = super().poll(call_id, wait)
            if call_id == "call-0":
                self.known_voices.clear()  # the next call lands on a fresh container
            return result

    engine = ContainerChangesAfterTheFirstCall()
    server = make_server(engine=RemoteEngine(engine), asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
        done = wait_for_generation(client, queued["status_url"])
    assert done["status"] == "done" and done["duration_seconds"] == pytest.approx(3 * SECONDS - 2 * 0.04, abs=0.01)
    made = [(engine.jobs[c].text, engine.references[c] is not None) for c in engine.spawned]
    assert made == [(CHUNKS[0], True), (CHUNKS[1], False), (CHUNKS[1], True), (CHUNKS[2], False)]
    with server.ctx.sessions() as session:
        assert session.get(Generation, uuid.UUID(done["id"])).remote_call_id == "call-0 call-2 call-3"


def test_the_next_text_in_a_voice_goes_without_its_recording_while_the_container_keeps_it(make_server,
                                                                                          speech_clips):
    """Up to 14 MB less to upload before the first audio of every text (and every dialogue line) after the
    first; when the container went away meanwhile, it asks for the recording and the call is made again."""
    engine = RemoteSpeaker()
    server = make_server(engine=RemoteEngine(engine), asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        for text in ("The first text.", "The second text."):
            queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text}).json()
            assert wait_for_generation(client, queued["status_url"])["status"] == "done"
        engine.known_voices.clear()  # the container scaled down
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "The third text."}).json()
        assert wait_for_generation(client, queued["status_url"])["status"] == "done"
    made = [(engine.jobs[c].text, engine.references[c] is not None) for c in engine.spawned]
    assert made == [("The first text.", True), ("The second text.", False), ("The third text.", False),
                    ("The third text.", True)]


def test_a_call_failing_mid_text_fails_the_generation_and_leaves_no_files(make_server, speech_clips):
    class FailingSecondCall(RemoteSpeaker):
        def poll(self, call_id, wait=0.0):
            if call_id == "call-1":
                raise EngineError("remote_failed", "The GPU container ran out of memory.")
            return super().poll(call_id, wait)

    server = make_server(engine=RemoteEngine(FailingSecondCall()), asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
        failed = wait_for_generation(client, queued["status_url"])
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "remote_failed", "message": "The GPU container ran out of memory."}
    assert server.ctx.storage.list_keys("generated") == [] and server.ctx.storage.list_keys("streams") == []
