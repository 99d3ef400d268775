"""Joining speech chunks so the seams are not heard: even loudness and short crossfades.

Each chunk is spoken separately (long text, and Qwen3-TTS drifts after ~30 s), so two
chunks can differ in level and each starts and ends abruptly. The stitcher levels each
chunk to the same speech loudness and overlaps consecutive chunks by a few tens of
milliseconds with an equal-power crossfade. It holds back only the crossfade tail, so
audio still flows out chunk by chunk.

A chunk may also arrive in pieces as the engine makes it (`start_chunk`, `feed`,
`end_chunk`): its gain is then decided on its first LEVEL_WINDOW_SECONDS of audio (held
back until they are in) and kept for the rest of it, so its audio flows out before the
chunk is finished; a rare later peak above the ceiling is clipped to it.
"""

from __future__ import annotations

import numpy as np

TARGET_DBFS = -20.0  # RMS of the voiced part of each chunk
PEAK_CEILING = 0.97
CROSSFADE_SECONDS = 0.04
FRAME_SECONDS = 0.02
# Audio a streamed chunk's gain is measured on: enough speech for a steady level (a few
# words), short enough that first audio does not wait long for it.
LEVEL_WINDOW_SECONDS = 0.5


def speech_rms(samples: np.ndarray, sample_rate: int) -> float:
    """RMS over the louder frames only, so pauses don't make a chunk look quiet."""
    frame = max(int(sample_rate * FRAME_SECONDS), 1)
    usable = len(samples) // frame * frame
    if usable == 0:
        return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
    energies = np.mean(samples[:usable].reshape(-1, frame) ** 2, axis=1)
    loudest = energies.max()
    if loudest <= 1e-10:
        return 0.0
    voiced = energies[energies > loudest * 10 ** (-35 / 10)]  # within 35 dB of the loudest frame
    return float(np.sqrt(voiced.mean()))


def level_gain(samples: np.ndarray, sample_rate: int, target_dbfs: float = TARGET_DBFS) -> float:
    """The gain that brings `samples` to the target speech loudness without passing the peak ceiling."""
    rms = speech_rms(samples, sample_rate)
    if rms <= 1e-5:
        return 1.0  # silence stays silence
    gain = 10 ** (target_dbfs / 20) / rms
    peak = float(np.max(np.abs(samples))) * gain
    if peak > PEAK_CEILING:
        gain *= PEAK_CEILING / peak
    return gain


def level(samples: np.ndarray, sample_rate: int, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    gain = level_gain(samples, sample_rate, target_dbfs)
    return samples if gain == 1.0 else (samples * gain).astype(np.float32)


class ChunkStitcher:
    def __init__(self, sample_rate: int, crossfade_seconds: float = CROSSFADE_SECONDS, normalise: bool = True):
        self.sample_rate = sample_rate
        self.fade = int(sample_rate * crossfade_seconds)
        self.normalise = normalise
        # At least a crossfade's worth, so a streamed chunk's head can always be crossfaded whole.
        self._window = max(int(sample_rate * LEVEL_WINDOW_SECONDS), self.fade)
        self._tail = np.zeros(0, dtype=np.float32)  # the held-back end of what came before
        self._held: list[np.ndarray] = []  # the current chunk, until its gain is known
        self._gain: float | None = None
        self._joined = True  # the current chunk's head has been crossfaded with the tail
        self._emitted = 0  # samples returned so far
        self._chunk_start: int | None = None  # where the current chunk begins in the joined audio
        self._chunk_samples = 0  # samples of the current chunk taken in so far
        t = np.linspace(0, np.pi / 2, self.fade, dtype=np.float32) if self.fade else np.zeros(0, np.float32)
        self._fade_in, self._fade_out = np.sin(t), np.cos(t)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add the next chunk whole; returns the audio that is final now (all but the held-back tail)."""
        self.start_chunk()
        self._held.append(np.asarray(chunk, dtype=np.float32))
        self._chunk_samples = len(self._held[0])
        return self.end_chunk()

    def start_chunk(self) -> None:
        self._held, self._gain, self._joined = [], None, False
        self._chunk_start, self._chunk_samples = None, 0

    def chunk_span(self) -> tuple[int, int]:
        """(first, last + 1) sample of the current chunk in the joined audio, once end_chunk() returned:
        its head overlaps the previous chunk's crossfaded tail, and levelling keeps its length."""
        start = self._chunk_start if self._chunk_start is not None else self._emitted + len(self._tail)
        return start, start + self._chunk_samples

    def feed(self, piece: np.ndarray) -> np.ndarray:
        """The next piece of the current chunk; returns what is final now."""
        piece = np.asarray(piece, dtype=np.float32)
        self._chunk_samples += len(piece)
        if self._gain is None:
            self._held.append(piece)
            if sum(len(p) for p in self._held) < self._window:
                return np.zeros(0, dtype=np.float32)
            held, self._held = np.concatenate(self._held), []
            self._gain = level_gain(held, self.sample_rate) if self.normalise else 1.0
            return self._emit(held * self._gain if self._gain != 1.0 else held)
        scaled = piece * self._gain if self._gain != 1.0 else piece
        return self._emit(np.clip(scaled, -PEAK_CEILING, PEAK_CEILING) if self._gain > 1.0 else scaled)

    def end_chunk(self) -> np.ndarray:
        """The current chunk is complete; returns what is final now."""
        if self._gain is None:  # shorter than the window: levelled whole
            held, self._held = (np.concatenate(self._held) if self._held else np.zeros(0, np.float32)), []
            self._gain = level_gain(held, self.sample_rate) if self.normalise else 1.0
            return self._emit(held * self._gain if self._gain != 1.0 else held)
        return np.zeros(0, dtype=np.float32)

    def _emit(self, audio: np.ndarray) -> np.ndarray:
        audio = audio.astype(np.float32, copy=False)
        if not self._joined:
            if self._chunk_start is None:
                crossfaded = self._tail.size and self.fade and len(audio) >= self.fade
                self._chunk_start = self._emitted + (0 if crossfaded else len(self._tail))
            if self._tail.size and self.fade and len(audio) >= self.fade:
                head = self._tail * self._fade_out + audio[: self.fade] * self._fade_in
                audio = np.concatenate([head, audio[self.fade:]])
                self._tail = np.zeros(0, dtype=np.float32)
            self._joined = len(audio) >= self.fade or not self.fade
        if self._tail.size:
            audio = np.concatenate([self._tail, audio])
        keep = min(self.fade, len(audio))
        ready, self._tail = audio[: len(audio) - keep], audio[len(audio) - keep:]
        self._emitted += len(ready)
        return ready

    def finish(self) -> np.ndarray:
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        self._emitted += len(tail)
        return tail
