"""The service's own change of speaking rate, for engines without one: length changes, pitch does not."""

from __future__ import annotations

import numpy as np
import pytest

from utter.audio.tempo import TempoChanger, atempo_factors

RATE = 24000


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def stretched(samples: np.ndarray, speed: float, piece: int = 5000) -> np.ndarray:
    """Pushed piece by piece, as the worker pushes chunks."""
    tempo = TempoChanger(RATE, speed)
    out = [tempo.push(samples[i:i + piece]) for i in range(0, len(samples), piece)]
    return np.concatenate(out + [tempo.finish()])


def dominant_hz(samples: np.ndarray) -> float:
    return float(np.argmax(np.abs(np.fft.rfft(samples)))) * RATE / len(samples)


@pytest.mark.parametrize("speed", [0.25, 0.7, 1.2, 2.0, 4.0])
def test_rate_changes_and_pitch_stays(speed):
    out = stretched(tone(4.0), speed)
    assert len(out) / RATE == pytest.approx(4.0 / speed, rel=0.02)
    assert dominant_hz(out) == pytest.approx(440, abs=2)
    assert out.dtype == np.float32


def test_speed_one_is_untouched():
    samples = tone(1.0)
    assert np.array_equal(stretched(samples, 1.0), samples)


def test_slow_rates_chain_filters_within_their_range():
    assert atempo_factors(0.25) == [0.5, 0.5]
    assert atempo_factors(0.7) == [0.7]
    assert np.prod(atempo_factors(0.3)) == pytest.approx(0.3)
    assert all(0.5 <= f <= 100 for f in atempo_factors(0.3))
