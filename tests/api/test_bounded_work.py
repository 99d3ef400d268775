"""Work is bounded before it is done: the queue limit holds under a crowd, lying or piled-up uploads
are stopped while they decode."""

from __future__ import annotations

import io
import struct
import wave
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tests.api.test_bad_input import assert_error, post_clone
from tests.compat.helpers import upload_voice
from tests.support.audio_fixtures import tone_wav
from utter.models import Generation, GenerationStatus


def test_the_queue_limit_holds_when_a_crowd_submits_at_once(make_server, speech_clips):
    server = make_server(workers=0, max_queue=20)
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])

    def submit(n):
        return httpx.post(server.url + "/api/generate", json={"voice_id": voice["id"], "text": f"Number {n}."},
                          timeout=60).status_code

    with ThreadPoolExecutor(40) as crowd:
        statuses = list(crowd.map(submit, range(120)))
    with server.ctx.sessions() as session:
        queued = session.query(Generation).filter(Generation.status == GenerationStatus.QUEUED).count()
    assert queued == 20 and statuses.count(202) == 20 and statuses.count(503) == 100


def _wav_claiming(rate: int, seconds_of_data: float = 0.5) -> bytes:
    """A valid WAV whose header says `rate` samples a second (1 Hz: 8 KB become hours of audio)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.sin(np.arange(4000)) * 8000).astype("<i2").tobytes())
    return buffer.getvalue()


def test_a_wav_claiming_one_sample_a_second_is_refused_before_it_is_expanded(client):
    response = post_clone(client, content=_wav_claiming(1), filename="one-hertz.wav")
    assert_error(response, 422, "audio_unsupported_format", "audio")
    assert "1 Hz" in response.json()["error"]["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_many_samples_are_refused_and_long_ones_stop_decoding_at_the_limit(make_server):
    server = make_server(asr="off", max_reference_seconds=60)
    with server.client() as client:
        many = client.post("/v1/voices/add", data={"name": "Crowd"},
                           files=[("files", (f"s{n}.wav", tone_wav(0.5))) for n in range(26)])
        assert many.status_code == 400 and many.json()["detail"]["status"] == "too_many_files"
        # Three 25 s samples: the third is decoded only as far as the 60 s limit allows, then refused.
        long = client.post("/v1/voices/add", data={"name": "Long"},
                           files=[("files", (f"s{n}.wav", tone_wav(25.0))) for n in range(3)])
        assert long.status_code == 400 and long.json()["detail"]["status"] == "audio_too_long"
        assert client.get("/api/voices").json()["voices"] == []
