"""A generation's audio on its way out, piece by piece, whichever engine speaks it.

Each chunk is joined to the last (levelled, crossfaded), brought to the asked speed when
the engine cannot do that itself, encoded to MP3 and stored in stream segments, so a
listener can start as soon as there is any audio: the first segment is stored at once,
then one about every SEGMENT_SECONDS, and one at the end of each chunk. Pauses asked for
in the text are silence put between chunks here, whichever engine speaks. An engine that
hands back a chunk in pieces as it makes it (Qwen3-TTS's decoding core) is heard before
the chunk is finished. Encoding and storing run in a thread of their own beside the
engine, one piece behind it at most, so memory stays flat. The whole MP3 is on disk when
the output is closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..adapters.storage import Storage, segment_key
from ..adapters.tts.base import Capabilities, EngineError, Piece
from ..audio import codec
from ..audio.stitch import ChunkStitcher
from ..audio.tempo import TempoChanger

# Audio per stream segment after the first: fewer, larger objects in storage, while a listener
# who started on the first segment never runs dry (each takes a fraction of its length to make).
SEGMENT_SECONDS = 1.0


def split_speed(speed: float, capabilities: Capabilities) -> tuple[float, float]:
    """(the rate to ask the engine for, the stretch left to do here) for a generation at `speed`.

    An engine that cannot change its rate speaks at 1; its audio is stretched on the way out.
    """
    return (speed, 1.0) if capabilities.controls_speed else (1.0, speed)


class ChunkedOutput:
    def __init__(self, storage: Storage, generation_id: str, mp3_path: Path, *, chunks: int, stretch: float,
                 chunk_done: Callable[[int, int], None], segments_stored: Callable[[int], None],
                 pauses: Sequence[float] = (), lead_pause: float = 0.0, stream: bool = True):
        """`stretch` is the speed change left to do here (see split_speed). `pauses[i]` is the seconds
        of silence after chunk i, `lead_pause` before the first. From the encoding thread,
        `chunk_done(done, total)` is told after each finished chunk and `segments_stored(count)`
        after each stored segment. `stream=False` writes the MP3 only (a file rebuilt with retaken
        parts, after listeners have heard the first takes)."""
        self.chunks = chunks
        self._pauses, self._lead_pause = tuple(pauses), lead_pause
        self.duration = 0.0  # seconds of MP3, once closed
        # (start, end) seconds of each finished chunk in the audio as heard: after its joins, the pauses
        # and the speed change (word timings are aligned within these; a dialogue's lines are placed by them).
        self.timeline: list[tuple[float, float]] = []
        self._storage, self._generation_id = storage, generation_id
        self._chunk_done, self._segments_stored = chunk_done, segments_stored
        self._mp3_path, self._stretch, self._stream = mp3_path, stretch, stream
        self._sample_rate: int | None = None
        self._chunk: int | None = None  # the chunk pieces are arriving for
        self._segments = 0
        self._unsegmented = 0  # samples written since the last segment was cut
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="utter-encode")
        self._encoding: Future | None = None
        self._stitcher = self._tempo = self._sink = self._writer = None

    def add(self, piece: Piece) -> None:
        """The engine's next piece, in order."""
        if not piece.samples.size and not piece.end:
            return  # the engine is still working: nothing to encode
        self._open(piece.sample_rate)
        if self._encoding is not None:
            self._encoding.result()  # raises what the encoder raised (e.g. the task was lost)
        starts = piece.chunk != self._chunk
        self._chunk = piece.chunk
        self._encoding = self._encoder.submit(self._encode, piece, starts)

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

    def _encode(self, piece: Piece, starts: bool) -> None:
        if starts:
            if piece.chunk == 0:
                self._pause(self._lead_pause)
            self._stitcher.start_chunk()
        if piece.samples.size:
            self._write(self._stitcher.feed(piece.samples))
        if not piece.end:
            if self._segments == 0 or self._unsegmented >= SEGMENT_SECONDS * self._sample_rate:
                self._cut()
            return
        self._write(self._stitcher.end_chunk())
        first, last = self._stitcher.chunk_span()
        seconds = self._sample_rate * self._stretch  # joined samples per second of output
        self.timeline.append((first / seconds, last / seconds))
        if piece.chunk < len(self._pauses):
            self._pause(self._pauses[piece.chunk])
        if piece.chunk == self.chunks - 1:
            self._write(self._stitcher.finish())
            self._writer.write(self._tempo.finish())
            return  # the last bytes come when the encoder is flushed; they go in the final file only
        self._cut()
        self._chunk_done(piece.chunk + 1, self.chunks)

    def _pause(self, seconds: float) -> None:
        """Silence that lasts `seconds` in the finished audio, joined like a chunk of its own."""
        if seconds <= 0:
            return
        # The speech either side crossfades into it: a fade's length more at each end leaves `seconds`
        # of pure silence between them. Audio stretched on the way out (an engine without a rate
        # control) is stretched here too, so the pause is as long as asked at any speed.
        length = round(seconds * self._stretch * self._sample_rate) + 2 * self._stitcher.fade
        self._write(self._stitcher.push(np.zeros(length, dtype=np.float32)))

    def _write(self, samples: np.ndarray) -> None:
        self._writer.write(self._tempo.push(samples))
        self._unsegmented += len(samples)

    def _cut(self) -> None:
        data = self._sink.cut()
        if not self._stream:
            return
        if not data:
            return
        self._storage.put_bytes(segment_key(self._generation_id, self._segments), data, "audio/mpeg")
        self._segments += 1
        self._unsegmented = 0
        self._segments_stored(self._segments)

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

    def seal_stream(self) -> None:
        """After close: store the encoder's last bytes as one more segment, so listeners have the whole
        stream before the stored file is replaced by one that is not its continuation (retaken parts)."""
        if self._sink is not None:
            self._cut()

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
