"""Joining speech chunks so the seams are not heard: even loudness and short crossfades.

Each chunk is spoken separately (long text, and Qwen3-TTS drifts after ~30 s), so two
chunks can differ in level and each starts and ends abruptly. The stitcher levels each
chunk to the same speech loudness and overlaps consecutive chunks by a few tens of
milliseconds with an equal-power crossfade. It holds back only the crossfade tail, so
audio still flows out chunk by chunk.
"""

from __future__ import annotations

import numpy as np

TARGET_DBFS = -20.0  # RMS of the voiced part of each chunk
PEAK_CEILING = 0.97
CROSSFADE_SECONDS = 0.04
FRAME_SECONDS = 0.02


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


def level(samples: np.ndarray, sample_rate: int, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    rms = speech_rms(samples, sample_rate)
    if rms <= 1e-5:
        return samples  # silence stays silence
    gain = 10 ** (target_dbfs / 20) / rms
    peak = float(np.max(np.abs(samples))) * gain
    if peak > PEAK_CEILING:
        gain *= PEAK_CEILING / peak
    return (samples * gain).astype(np.float32)


class ChunkStitcher:
    def __init__(self, sample_rate: int, crossfade_seconds: float = CROSSFADE_SECONDS, normalise: bool = True):
        self.sample_rate = sample_rate
        self.fade = int(sample_rate * crossfade_seconds)
        self.normalise = normalise
        self._tail = np.zeros(0, dtype=np.float32)
        t = np.linspace(0, np.pi / 2, self.fade, dtype=np.float32) if self.fade else np.zeros(0, np.float32)
        self._fade_in, self._fade_out = np.sin(t), np.cos(t)

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add the next chunk; returns the audio that is final now (all but the held-back tail)."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if self.normalise:
            chunk = level(chunk, self.sample_rate)
        if self._tail.size and self.fade and len(chunk) >= self.fade:
            head = self._tail * self._fade_out + chunk[: self.fade] * self._fade_in
            chunk = np.concatenate([head, chunk[self.fade:]])
        elif self._tail.size:
            chunk = np.concatenate([self._tail, chunk])
        keep = min(self.fade, len(chunk))
        ready, self._tail = chunk[: len(chunk) - keep], chunk[len(chunk) - keep:]
        return ready

    def finish(self) -> np.ndarray:
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        return tail
