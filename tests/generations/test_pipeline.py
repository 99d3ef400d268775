"""What the pipeline promises for a long text, checked in the MP3 it produces: the first part is kept
short (the first audio comes soon), and the parts are levelled to the same loudness."""

from __future__ import annotations

import numpy as np

from tests.compat.helpers import upload_voice
from tests.generations.test_worker import FailingAfterFirstPiece
from tests.support.app_fixtures import wait_for_generation
from utter.audio import codec
from utter.audio.stitch import CROSSFADE_SECONDS, speech_rms
from utter.generations.speech import FIRST_CHUNK_CHARS

TEXT = " ".join([
    "The lighthouse keeper climbed the stairs every evening before the sun went down.",
    "He wiped the salt from the great lens and lit the lamp that guided the ships home.",
    "On stormy nights he stayed awake until morning, listening to the waves against the rocks.",
    "In the spring the birds returned and built their nests along the cliffs below the tower.",
    "Visitors sometimes came by boat to ask about his life, and he told them all the same story.",
    "When he finally retired, the town gave him a small house facing the water he had watched for years.",
])
# Every other part is spoken this much quieter: 26 dB, far beyond any take-to-take difference.
QUIET_GAIN = 0.05


class UnevenPiper(FailingAfterFirstPiece):
    """Piper, every other chunk spoken much quieter (as separate model calls can differ); records each chunk."""

    def __init__(self, engine):
        super().__init__(engine, RuntimeError("unused"))
        self.chunks: list[str] = []
        self.lengths: list[int] = []

    def synthesize(self, job, cache=None):
        gain = QUIET_GAIN if len(self.chunks) % 2 else 1.0
        self.chunks.append(job.text)
        spoken = np.concatenate(list(self._engine.synthesize(job, cache))) * gain
        self.lengths.append(len(spoken))
        yield spoken.astype(np.float32)


def test_a_long_text_starts_short_and_its_parts_sound_equally_loud(make_server, piper_engine, speech_clips):
    engine = UnevenPiper(piper_engine)
    server = make_server(engine=engine, asr="off")
    with server.client() as client:
        voice = upload_voice(client, speech_clips["wav"])
        queued = client.post("/api/generate", json={"voice_id": voice["id"], "text": TEXT}).json()
        done = wait_for_generation(client, queued["status_url"])
        mp3 = client.get(done["audio_url"]).content
    assert done["status"] == "done"

    # The first part is short so that the first audio comes soon; the others are as long as the engine takes.
    first, *rest = engine.chunks
    assert len(first) <= FIRST_CHUNK_CHARS < len(TEXT) and " ".join(engine.chunks) == TEXT
    assert rest and max(len(chunk) for chunk in rest) > FIRST_CHUNK_CHARS

    rate = piper_engine.info.capabilities.sample_rate
    heard = codec.decode(mp3, target_rate=rate).samples
    fade = int(CROSSFADE_SECONDS * rate)
    margin = int(0.1 * rate)  # keep away from the crossfades and the encoder's delay
    levels_db, start = [], 0
    for length in engine.lengths:
        part = heard[start + margin:start + length - fade - margin]
        levels_db.append(20 * np.log10(speech_rms(part, rate)))
        start += length - fade
    assert len(levels_db) >= 4
    # Spoken 26 dB apart, heard within 3 dB: the same target level, unless the peak ceiling holds a part
    # with a sharp peak a little below it (seen: 1.8 dB).
    assert max(levels_db) - min(levels_db) < 3.0, levels_db
