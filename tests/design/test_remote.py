"""Design previews through a remote engine (what Modal does: spawn, then poll), and failures.

Modal cannot run here, so this engine stands in for it at the RemoteCalls interface;
it answers at 22,050 Hz so the preview's reference WAV must be resampled to 24 kHz.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.app_fixtures import wait_for_generation
from utter.audio import codec as audio
from utter.adapters.tts.base import Capabilities, EngineError, EngineInfo, RemoteCalls
from utter.adapters.tts.remote import RemoteEngine

RATE = 22050


class RemoteDesigner:
    """Spawns return a call id at once; each call is done on its second poll."""

    def __init__(self, fail: EngineError | None = None):
        self.info = EngineInfo(name="modal", label="Qwen3-TTS on Modal (stand-in)", reason="test",
                               capabilities=Capabilities(can_clone=True, can_design=True, languages=("en",),
                                                         sample_rate=RATE))
        self.fail = fail
        self.jobs: dict[str, object] = {}
        self.polls: dict[str, int] = {}

    def load(self):
        pass

    def spawn_speech(self, job, reference_audio, stream_key=None):
        raise AssertionError("no speech in these tests")

    def pieces(self, stream_key, wait=0.0):
        """This stand-in streams nothing: each call's result carries all of its audio."""
        return [], True

    def likeness(self, voice, samples, sample_rate, reference_audio):
        raise AssertionError("no speech, so nothing to score, in these tests")

    def spawn_design(self, job, stream_key=None):
        call_id = f"call-{len(self.jobs)}"
        self.jobs[call_id] = job
        return call_id

    def poll(self, call_id, wait=0.0):
        self.polls[call_id] = self.polls.get(call_id, 0) + 1
        if self.polls[call_id] < 2:
            return None
        if self.fail:
            raise self.fail
        t = np.arange(int(1.5 * RATE)) / RATE
        return (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), RATE

    def close(self):
        pass


@pytest.fixture
def remote_server(make_server):
    return make_server(engine=RemoteEngine(RemoteDesigner()), asr="off")


def test_remote_preview_resampled_and_saved(remote_server):
    engine = remote_server.ctx.engine.calls
    assert isinstance(engine, RemoteCalls)
    with remote_server.client() as client:
        design = client.post("/api/design", json={"description": "A deep voice.", "text": "Hi.",
                                                  "language": "en"}).json()
        preview = wait_for_generation(client, design["previews"][0]["status_url"])
        assert preview["status"] == "done" and preview["duration_seconds"] == pytest.approx(1.5, abs=0.05)
        [job] = engine.jobs.values()
        assert (job.text, job.language, job.description) == ("Hi.", "en", "A deep voice.")
        voice = client.post(preview["save_url"], json={"name": "Deep"}).json()
        reference = audio.decode(client.get(voice["reference_url"]).content)
    assert reference.sample_rate == audio.REFERENCE_SAMPLE_RATE
    assert voice["reference_seconds"] == pytest.approx(1.5, abs=0.05)


def test_failed_preview_leaves_no_files_and_cannot_be_saved(make_server):
    server = make_server(engine=RemoteEngine(RemoteDesigner(fail=EngineError("remote_failed",
                                                                             "The GPU ran out of memory."))),
                         asr="off")
    with server.client() as client:
        design = client.post("/api/design", json={"description": "A deep voice.", "candidates": 2}).json()
        for preview in design["previews"]:
            failed = wait_for_generation(client, preview["status_url"])
            assert failed["error"] == {"code": "remote_failed", "message": "The GPU ran out of memory."}
        assert client.get(design["status_url"]).json()["status"] == "failed"
        response = client.post(design["previews"][0]["save_url"], json={"name": "Deep"})
        assert (response.status_code, response.json()["error"]["code"]) == (409, "preview_not_ready")
    assert server.ctx.storage.list_keys("previews") == [] and server.ctx.storage.list_keys("generated") == []
