"""Shared pieces for the Qwen3-TTS tests: tiny checkpoints, settings, a reference clip."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest




# Random weights rarely emit an end token, so every generation runs to its cap; keep it short.
MAX_NEW_TOKENS = 8
SAMPLES_PER_TOKEN = 1920  # 24 kHz / 12.5 frames per second


def write_wav(path: Path, seconds: float = 3.0, rate: int = 24000, seed: int = 0) -> Path:
    """A 16-bit mono WAV of a few tones and a little noise (a stand-in for a voice)."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    signal = sum(np.sin(2 * np.pi * f * t) for f in (140.0, 280.0, 420.0)) / 4 + 0.05 * rng.standard_normal(t.size)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return path


class MemoryPromptCache:
    """The PromptCache protocol over a dict (what storage does, minus the storage)."""

    def __init__(self):
        self.entries: dict[tuple[str, str], bytes] = {}
        self.saves = 0

    def load(self, voice_id: str, version: str) -> bytes | None:
        return self.entries.get((voice_id, version))

    def save(self, voice_id: str, version: str, data: bytes) -> None:
        self.saves += 1
        self.entries[(voice_id, version)] = data


@pytest.fixture
def reference_wav(tmp_path) -> Path:
    return write_wav(tmp_path / "reference.wav")


@pytest.fixture
def qwen_settings(tmp_path, tiny_qwen_base_dir, tiny_qwen_design_dir):
    from utter.config import Settings

    return Settings(
        data_dir=tmp_path,
        qwen_model=str(tiny_qwen_base_dir),
        qwen_design_model=str(tiny_qwen_design_dir),
        qwen_device="cpu",
        qwen_dtype="auto",
    )


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The tiny model gains nothing from threads, and on a busy 2-core machine torch's
    thread pool spins against other processes: one thread is ~8x faster there."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
