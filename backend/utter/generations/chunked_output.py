"""A generation's audio on its way out, chunk by chunk, whichever engine speaks it.

Each chunk is joined to the last (levelled, crossfaded), brought to the asked speed when
the engine cannot do that itself, encoded to MP3 and stored as a stream segment, so a
listener can start on the first chunk while the rest is being spoken. Only one chunk's
audio is in memory at a time; the whole MP3 is on disk when the output is closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..context import AppContext
from ..services import audio
from ..services.stitch import ChunkStitcher
from ..services.storage import segment_key
from ..services.tempo import TempoChanger


class ChunkedOutput:
    def __init__(self, ctx: AppContext, generation_id: str, mp3_path: Path, sample_rate: int, *,
                 chunks: int, speed: float, chunk_done: Callable[[int, int], None]):
        """`speed` is what is left to do here: 1 when the engine already spoke at the asked rate.
        `chunk_done(done, total)` is told after each stored segment."""
        self.sample_rate = sample_rate
        self.chunks = chunks
        self.duration = 0.0  # seconds of MP3, once closed
        self._ctx, self._generation_id, self._chunk_done = ctx, generation_id, chunk_done
        self._stitcher = ChunkStitcher(sample_rate)
        self._tempo = TempoChanger(sample_rate, speed)
        self._sink = audio.SegmentingFile(mp3_path)
        self._writer = audio.Mp3Writer(self._sink, sample_rate)

    def add(self, index: int, spoken: np.ndarray) -> None:
        """Chunk `index` (from 0, in order) as the engine spoke it."""
        self._writer.write(self._tempo.push(self._stitcher.push(spoken)))
        if index == self.chunks - 1:
            self._writer.write(self._tempo.push(self._stitcher.finish()))
            self._writer.write(self._tempo.finish())
            return  # the last bytes come when the encoder is flushed; they go in the final file only
        self._ctx.storage.put_bytes(segment_key(self._generation_id, index), self._sink.cut(), "audio/mpeg")
        self._chunk_done(index + 1, self.chunks)

    def close(self) -> float:
        """Finish the MP3; returns its length in seconds."""
        try:
            self.duration = self._writer.close()
        finally:
            self._sink.close()
        return self.duration

    def abort(self) -> None:
        self._writer.abort()
        self._sink.close()

    def __enter__(self) -> "ChunkedOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
