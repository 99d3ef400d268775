"""Speaking rate for engines that have no control of their own, without changing the pitch.

Piper speaks faster or slower when asked; Qwen3-TTS has no such control. For it, the
finished speech is stretched in time by FFmpeg's `atempo` filter (a waveform-similarity
overlap-add, which keeps the voice's pitch), through PyAV. The filter keeps its state
between pieces, so audio still flows out chunk by chunk and the seams need no care.
"""

from __future__ import annotations

import av
import numpy as np

# One atempo filter takes 0.5-100; slower rates are made by chaining filters.
_ATEMPO_MIN = 0.5


def atempo_factors(speed: float) -> list[float]:
    """Factors within atempo's range whose product is `speed`."""
    factors = []
    while speed < _ATEMPO_MIN:
        factors.append(_ATEMPO_MIN)
        speed /= _ATEMPO_MIN
    return factors + [speed]


class TempoChanger:
    """Float32 mono in, the same speech `speed` times as fast out; push() and finish() return what is ready.

    At speed 1 the audio passes through untouched.
    """

    def __init__(self, sample_rate: int, speed: float):
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.sample_rate = sample_rate
        self._finished = False
        self._graph = None
        if speed == 1.0:
            return
        self._graph = av.filter.Graph()
        previous = self._graph.add_abuffer(format="flt", sample_rate=sample_rate, layout="mono",
                                           time_base=f"1/{sample_rate}")
        for factor in atempo_factors(speed):
            stage = self._graph.add("atempo", f"{factor:.6f}")
            previous.link_to(stage)
            previous = stage
        previous.link_to(self._graph.add("abuffersink"))
        self._graph.configure()
        self._pts = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self._graph is None or samples.size == 0:
            return np.asarray(samples, np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32).reshape(1, -1),
                                           format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += frame.samples
        self._graph.push(frame)
        return self._pull()

    def finish(self) -> np.ndarray:
        if self._graph is None or self._finished:
            return np.zeros(0, np.float32)
        self._finished = True
        self._graph.push(None)
        return self._pull()

    def _pull(self) -> np.ndarray:
        pieces = []
        while True:
            try:
                frame = self._graph.pull()
            except (BlockingIOError, EOFError):  # nothing more yet / nothing more at all
                break
            pieces.append(frame.to_ndarray().reshape(-1))
        return np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
