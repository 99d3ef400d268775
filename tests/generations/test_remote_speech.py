"""Speech through a remote engine (what Modal does: spawn once, poll, then encode what comes back).

Modal cannot run here, so a stand-in answers at the RemoteEngine interface with a tone at
22,050 Hz; what the worker does with the answer runs for real.
"""

from __future__ import annotations

import numpy as np
import openai
import pytest

from tests.compat.helpers import probe, upload_voice
from tests.design.test_remote import RATE, RemoteDesigner
from tests.support.app_fixtures import wait_for_generation

SECONDS = 2.0


class RemoteSpeaker(RemoteDesigner):
    """Speech calls are done on their second poll; each answers a 2 s tone, whatever the text."""

    def __init__(self):
        super().__init__()
        self.references: dict[str, bytes] = {}

    def spawn_speech(self, job, reference_audio):
        call_id = f"call-{len(self.jobs)}"
        self.jobs[call_id], self.references[call_id] = job, reference_audio
        return call_id

    def poll(self, call_id):
        self.polls[call_id] = self.polls.get(call_id, 0) + 1
        if self.polls[call_id] < 2:
            return None
        t = np.arange(int(SECONDS * RATE)) / RATE
        return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE


@pytest.fixture
def remote_server(make_server):
    return make_server(engine=RemoteSpeaker(), asr="off")


def test_remote_speech_is_spawned_once_with_the_reference(remote_server, speech_clips):
    engine = remote_server.ctx.engine
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


@pytest.mark.parametrize("speed", [2.0, 0.7])
def test_remote_speech_at_another_speed_is_stretched(remote_server, speech_clips, speed):
    """The remote model has one rate; the service changes it, keeping the pitch."""
    with remote_server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
    sdk = openai.OpenAI(base_url=remote_server.url + "/v1", api_key="x", max_retries=0, timeout=60)
    wav = sdk.audio.speech.create(model="tts-1", voice=voice["id"], input="Hello there.", response_format="pcm",
                                  speed=speed).content
    samples = np.frombuffer(wav, "<i2").astype(np.float32)
    # Give or take the MP3 encoder's padding (the worker's MP3 is decoded to make PCM).
    assert len(samples) / 24000 == pytest.approx(SECONDS / speed, abs=0.1)
    hz = float(np.argmax(np.abs(np.fft.rfft(samples)))) * 24000 / len(samples)
    assert hz == pytest.approx(220, abs=3)
