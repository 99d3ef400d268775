"""The worker: failures and cancellations leave no orphan audio; progress is reported per chunk."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from tests.support.app_fixtures import wait_for_generation
from tests.api.test_bad_input import post_clone
from utter.adapters.tts.base import ChunkwiseEngine, EngineError


class FailingAfterFirstPiece(ChunkwiseEngine):
    """The real Piper engine, made to fail part-way, as an engine crashing mid-generation would."""

    def __init__(self, engine, error: Exception):
        self._engine = engine
        self.info = engine.info
        self.error = error

    def load(self):
        self._engine.load()

    def synthesize(self, job, cache=None):
        pieces = self._engine.synthesize(job, cache)
        yield next(pieces)
        raise self.error

    def design(self, job):
        return self._engine.design(job)

    def close(self):
        pass


class BlockingEngine(FailingAfterFirstPiece):
    """Speaks the first piece, then waits until the test lets it go on."""

    def __init__(self, engine):
        super().__init__(engine, RuntimeError("unused"))
        self.started = threading.Event()
        self.release = threading.Event()

    def synthesize(self, job, cache=None):
        for piece in self._engine.synthesize(job, cache):
            yield piece
            self.started.set()
            self.release.wait(30)


LONG_TEXT = "This is the first sentence. " + "Here is another sentence to speak. " * 12


def test_engine_failure_leaves_no_file(make_server, piper_engine, speech_clips):
    engine = FailingAfterFirstPiece(piper_engine, EngineError("engine_oom", "The GPU ran out of memory."))
    server = make_server(engine=engine)
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
        failed = wait_for_generation(client, queued["status_url"])
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "engine_oom", "message": "The GPU ran out of memory."}
    assert failed["audio_url"] is None
    assert server.ctx.storage.list_keys("generated") == []


def test_unexpected_crash_is_reported_plainly(make_server, piper_engine, speech_clips):
    server = make_server(engine=FailingAfterFirstPiece(piper_engine, MemoryError()))
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
        failed = wait_for_generation(client, queued["status_url"])
    assert failed["error"]["code"] == "engine_failed" and "MemoryError" in failed["error"]["message"]
    assert server.ctx.storage.list_keys("generated") == []


def test_cancel_while_running_discards_the_audio(make_server, piper_engine, speech_clips):
    engine = BlockingEngine(piper_engine)
    server = make_server(engine=engine)
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": LONG_TEXT}).json()
        assert engine.started.wait(30)
        assert client.get(queued["status_url"]).json()["status"] == "running"
        assert client.post(f"/api/generations/{queued['id']}/cancel").json()["status"] == "cancelled"
        engine.release.set()
        final = wait_for_generation(client, queued["status_url"])
        server.stop()  # let the worker finish its abandoned task before looking at storage
    assert final["status"] == "cancelled"
    assert server.ctx.storage.list_keys("generated") == []


class SteppingEngine(FailingAfterFirstPiece):
    """Piper with small chunks, where each chunk waits for the test's go-ahead."""

    def __init__(self, engine, max_chars: int = 40):
        super().__init__(engine, RuntimeError("unused"))
        self.info = replace(engine.info, capabilities=replace(engine.info.capabilities, max_chars_per_call=max_chars))
        self.entered = threading.Semaphore(0)
        self.go = threading.Semaphore(0)

    def synthesize(self, job, cache=None):
        self.entered.release()
        assert self.go.acquire(timeout=30)
        yield from self._engine.synthesize(job, cache)


def test_progress_is_reported_per_chunk(make_server, piper_engine, speech_clips):
    engine = SteppingEngine(piper_engine)
    server = make_server(engine=engine)
    with server.client() as client:
        voice = post_clone(client, speech_clips["wav"]).json()
        text = "The first short sentence. The second short sentence. The third short sentence."
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": text}).json()
        seen = []
        for index in range(3):
            assert engine.entered.acquire(timeout=30)
            # The previous part is encoded and stored while this one waits to be spoken.
            for _ in range(300):
                status = client.get(queued["status_url"]).json()
                if status["chunks_done"] == index:
                    break
                time.sleep(0.05)
            seen.append((status["chunks_done"], status["chunks_total"], status["progress"]))
            engine.go.release()
        done = wait_for_generation(client, queued["status_url"])
    assert seen == [(0, 3, 0.0), (1, 3, 0.333), (2, 3, 0.667)]
    assert done["status"] == "done" and done["progress"] == 1.0


def test_stream_segments_left_by_a_dead_process_are_swept(make_server):
    """A process that died between storing the final file and dropping its segments leaves them behind."""
    import uuid

    from utter.generations.streaming import sweep_leftover_segments
    from utter.models import Generation, GenerationStatus
    from utter.adapters.storage import segment_key

    server = make_server(workers=0)
    ctx = server.ctx
    statuses = {"done": GenerationStatus.DONE, "failed": GenerationStatus.FAILED,
                "queued": GenerationStatus.QUEUED, "running": GenerationStatus.RUNNING}
    ids = {name: uuid.uuid4() for name in (*statuses, "deleted")}
    with ctx.sessions() as session:
        for name, status in statuses.items():
            session.add(Generation(id=ids[name], voice_name="Gone", text="Some words.", status=status))
        session.commit()
    for generation_id in ids.values():
        for index in range(2):
            ctx.storage.put_bytes(segment_key(str(generation_id), index), b"\xff\xfb" + b"\0" * 100, "audio/mpeg")
    ctx.storage.put_bytes("streams/notes.txt", b"not a generation's", "text/plain")

    assert sweep_leftover_segments(ctx) == 3  # done, failed and the deleted one
    remaining = {key.split("/")[1] for key in ctx.storage.list_keys("streams/")}
    assert remaining == {str(ids["queued"]), str(ids["running"]), "notes.txt"}
    assert sweep_leftover_segments(ctx) == 0
