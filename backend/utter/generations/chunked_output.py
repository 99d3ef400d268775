"""A generation's audio on its way out, chunk by chunk, whichever engine speaks it.

Each chunk is joined to the last (levelled, crossfaded), brought to the asked speed when
the engine cannot do that itself, encoded to MP3 and stored as a stream segment, so a
listener can start on the first chunk while the rest is being spoken. Encoding and storing
one chunk runs in a thread of its own while the engine speaks the next; at most one chunk
waits to be encoded, so only about two chunks' audio is in memory at a time. The whole MP3
is on disk when the output is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..adapters.storage import Storage, segment_key
from ..adapters.tts.base import NO_AUDIO, Capabilities, EngineError, Piece
from ..audio import codec
from ..audio.stitch import ChunkStitcher
from ..audio.tempo import TempoChanger


def split_speed(speed: float, capabilities: Capabilities) -> tuple[float, float]:
    """(the rate to ask the engine for, the stretch left to do here) for a generation at `speed`.

    An engine that cannot change its rate speaks at 1; its audio is stretched on the way out.
    """
    return (speed, 1.0) if capabilities.controls_speed else (1.0, speed)


class ChunkedOutput:
    def __init__(self, storage: Storage, generation_id: str, mp3_path: Path, *, chunks: int, stretch: float,
                 chunk_done: Callable[[int, int], None]):
        """`stretch` is the speed change left to do here (see split_speed).
        `chunk_done(done, total)` is told after each stored segment, from the encoding thread."""
        self.chunks = chunks
        self.duration = 0.0  # seconds of MP3, once closed
        self._storage, self._generation_id, self._chunk_done = storage, generation_id, chunk_done
        self._mp3_path, self._stretch = mp3_path, stretch
        self._sample_rate: int | None = None
        self._pending: list[np.ndarray] = []
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="utter-encode")
        self._encoding: Future | None = None
        self._stitcher = self._tempo = self._sink = self._writer = None

    def add(self, piece: Piece) -> None:
        """The engine's next piece, in order; a chunk is encoded once its last piece is in."""
        if piece.samples.size or piece.end:
            self._open(piece.sample_rate)
        if piece.samples.size:
            self._pending.append(piece.samples)
        if piece.end:
            spoken = np.concatenate(self._pending) if self._pending else NO_AUDIO
            self._pending = []
            if self._encoding is not None:
                self._encoding.result()  # raises what the encoder raised (e.g. the task was lost)
            self._encoding = self._encoder.submit(self._encode_chunk, piece.chunk, spoken)

    def _open(self, sample_rate: int) -> None:
        if self._sample_rate is None:
            self._sample_rate = sample_rate
            self._stitcher = ChunkStitcher(sample_rate)
            self._tempo = TempoChanger(sample_rate, self._stretch)
            self._sink = codec.SegmentingFile(self._mp3_path)
            self._writer = codec.Mp3Writer(self._sink, sample_rate)
        elif sample_rate != self._sample_rate:
            raise EngineError("engine_failed", f"The engine changed its sample rate mid-text "
                                               f"({self._sample_rate} then {sample_rate} Hz).")

    def _encode_chunk(self, index: int, spoken: np.ndarray) -> None:
        self._writer.write(self._tempo.push(self._stitcher.push(spoken)))
        if index == self.chunks - 1:
            self._writer.write(self._tempo.push(self._stitcher.finish()))
            self._writer.write(self._tempo.finish())
            return  # the last bytes come when the encoder is flushed; they go in the final file only
        self._storage.put_bytes(segment_key(self._generation_id, index), self._sink.cut(), "audio/mpeg")
        self._chunk_done(index + 1, self.chunks)

    def close(self) -> float:
        """Finish the MP3; returns its length in seconds."""
        try:
            if self._encoding is not None:
                self._encoding.result()
            if self._writer is None:
                raise EngineError("engine_failed", "The engine produced no audio.")
            self.duration = self._writer.close()
        finally:
            self._encoder.shutdown()
            if self._sink is not None:
                self._sink.close()
        return self.duration

    def abort(self) -> None:
        self._encoder.shutdown(wait=True, cancel_futures=True)
        if self._writer is not None:
            self._writer.abort()
            self._sink.close()

    def __enter__(self) -> ChunkedOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

