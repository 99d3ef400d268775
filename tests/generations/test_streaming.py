"""Long text is spoken chunk by chunk, and its audio can be heard before the whole text is done."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np

from tests.api.test_bad_input import post_clone
from tests.generations.test_worker import SteppingEngine
from tests.support.app_fixtures import wait_for_generation
from tests.support.audio_fixtures import decoded_duration


def test_first_chunk_streams_while_the_rest_is_spoken(make_server, piper_engine, speech_clips):
    engine = SteppingEngine(piper_engine)
    server = make_server(engine=engine)
    text = "The first short sentence. The second short sentence. The third short sentence."
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text}).json()
        assert engine.entered.acquire(timeout=30)
        engine.go.release()  # chunk 1 may be spoken; chunk 2 waits
        assert engine.entered.acquire(timeout=30)

        received: list[bytes] = []
        first_bytes = threading.Event()

        def listen():
            with httpx.stream("GET", server.url + queued["stream_url"], timeout=60) as response:
                assert response.headers["content-type"] == "audio/mpeg"
                for data in response.iter_bytes():
                    received.append(data)
                    first_bytes.set()

        listener = threading.Thread(target=listen)
        listener.start()
        assert first_bytes.wait(30), "no audio arrived while the generation was running"
        status = client.get(queued["status_url"]).json()
        assert status["status"] == "running" and status["chunks_done"] == 1 and status["chunks_total"] == 3
        assert decoded_duration(b"".join(received)) > 0.5  # the first sentence is playable already

        engine.go.release()
        assert engine.entered.acquire(timeout=30)
        engine.go.release()
        listener.join(60)
        done = wait_for_generation(client, queued["status_url"])
        final = client.get(done["audio_url"]).content
    assert done["status"] == "done" and done["chunks_done"] == 3
    # The stream is byte for byte the final file: nothing lost or repeated at the hand-over.
    assert b"".join(received) == final
    # The segments go once the generation is recorded done (listeners switch to the final file then).
    deadline = time.monotonic() + 10
    while server.ctx.storage.list_keys("streams") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.ctx.storage.list_keys("streams") == []


def test_finished_generation_replays_whole(client, speech_clips):
    voice = post_clone(client, speech_clips["wav"]).json()
    queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Short and done."}).json()
    done = wait_for_generation(client, queued["status_url"])
    assert client.get(done["stream_url"]).content == client.get(done["audio_url"]).content


def test_long_text_is_spoken_in_chunks(client, speech_clips):
    voice = post_clone(client, speech_clips["wav"]).json()
    paragraph = ("Dr. Smith measured 3.5 litres of water at 9 a.m. on the first day. "
                 "\"Is that enough?\" she asked, looking at the chart. The answer, as always, was no. ")
    text = (paragraph * 8).strip()
    assert len(text) > 1100
    queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text})
    assert queued.status_code == 202
    done = wait_for_generation(client, queued.json()["status_url"], timeout=180)
    assert done["status"] == "done"
    assert done["chunks_total"] >= 4 and done["chunks_done"] == done["chunks_total"]
    seconds = decoded_duration(client.get(done["audio_url"]).content)
    assert len(text) / 25 < seconds < len(text) / 8  # about 15 characters a second of speech


class PieceByPiece(SteppingEngine):
    """Piper's speech of a chunk handed back in 0.2 s pieces, as a streaming engine makes them; after the
    first second of it, the rest waits for the test's go-ahead."""

    def synthesize(self, job, cache=None):
        step = self.info.capabilities.sample_rate // 5
        spoken = np.concatenate(list(self._engine.synthesize(job, cache)))
        for index, start in enumerate(range(0, len(spoken), step)):
            if index == 5:
                self.entered.release()
                assert self.go.acquire(timeout=30)
            yield spoken[start:start + step]


def test_a_chunk_is_heard_before_it_is_finished(make_server, piper_engine, speech_clips):
    engine = PieceByPiece(piper_engine, max_chars=500)
    server = make_server(engine=engine, asr="off")
    text = "One chunk only, spoken slowly by an engine that hands back its audio piece by piece."
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text}).json()
        assert engine.entered.acquire(timeout=30)  # a second of the chunk is made; the rest waits
        for _ in range(300):
            status = client.get(queued["status_url"]).json()
            if status["stream_ready"]:
                break
            time.sleep(0.05)
        assert status["status"] == "running" and status["chunks_done"] == 0 and status["chunks_total"] == 1
        with httpx.stream("GET", server.url + queued["stream_url"], timeout=60) as response:
            stream = response.iter_bytes()
            first = next(stream)
            assert 0.3 < decoded_duration(first) < 1.1  # what was made so far, less the stitcher's window
            engine.go.release()
            received = first + b"".join(stream)
        done = wait_for_generation(client, queued["status_url"])
        final = client.get(done["audio_url"]).content
    assert done["status"] == "done" and received == final
