"""Decoding, checking and encoding audio with PyAV (FFmpeg inside its wheel).

Uploads are judged by decoding their content, never by extension or MIME type, and
durations come from counting decoded samples, because browser recordings (WebM, Ogg)
often carry wrong or missing durations in their headers.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

# References are stored as mono 16-bit WAV at the rate Qwen3-TTS works at.
REFERENCE_SAMPLE_RATE = 24000
# The seed's output format: MP3 at 44.1 kHz.
OUTPUT_SAMPLE_RATE = 44100
OUTPUT_BITRATE = 128_000
# LAME's own default quality setting (0 best, 9 fastest); "-q 2" measured 2.5 times the CPU time.
LAME_QUALITY = 3

# Sample rates a real recording has; others are refused before anything is decoded.
MIN_SOURCE_RATE, MAX_SOURCE_RATE = 4000, 384000

# Container names FFmpeg reports for the formats we accept; anything else that
# happens to decode (e.g. a video file) is refused as unsupported.
ACCEPTED_CONTAINERS = {
    "wav": "WAV",
    "mp3": "MP3",
    "mov,mp4,m4a,3gp,3g2,mj2": "M4A",
    "matroska,webm": "WebM",
    "ogg": "Ogg",
    "flac": "FLAC",
}


class AudioError(Exception):
    """Audio that cannot be used, with a stable code and a message for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    format: str  # human name of the container, e.g. "MP3"

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def decode(source: Path | bytes, *, target_rate: int = REFERENCE_SAMPLE_RATE, max_seconds: float | None = None) -> DecodedAudio:
    """Decode any accepted container to mono float32 at `target_rate`.

    Decoding stops early once `max_seconds` (plus a little) is exceeded, so a long
    file is refused without decoding all of it.
    """
    opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        container = av.open(opened, mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioError("audio_unreadable",
                         "The file could not be read as audio. Upload a WAV, MP3, M4A, WebM or Ogg recording.") from exc

    with container:
        fmt = ACCEPTED_CONTAINERS.get(container.format.name)
        if fmt is None:
            raise AudioError(
                "audio_unsupported_format",
                f"Unsupported audio format ({container.format.long_name}). Use WAV, MP3, M4A, WebM or Ogg.",
            )
        if not container.streams.audio:
            raise AudioError("audio_unreadable", "The file contains no audio track.")
        stream = container.streams.audio[0]
        _check_rate(stream.codec_context.sample_rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
        pieces: list[np.ndarray] = []
        decoded_seconds = 0.0
        try:
            for frame in container.decode(stream):
                # Counted before resampling, so a long or lying file is stopped before it is expanded.
                _check_rate(frame.sample_rate)
                decoded_seconds += frame.samples / frame.sample_rate
                if max_seconds is not None and decoded_seconds > max_seconds + 1:
                    break
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            else:
                for out in resampler.resample(None):
                    pieces.append(out.to_ndarray().reshape(-1))
        except (av.FFmpegError, ValueError, OSError) as exc:
            raise AudioError("audio_unreadable", "The audio is corrupt and could not be decoded.") from exc

    samples = np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
    if samples.size == 0:
        raise AudioError("audio_unreadable", "The file contains no decodable audio.")
    return DecodedAudio(np.clip(samples, -1.0, 1.0), target_rate, fmt)


def _check_rate(rate: int | None) -> None:
    """Refuse a sample rate no recording has: a header claiming 1 Hz turns 8 KB into hours of audio
    once resampled. (0: not known before decoding; each decoded frame says it.)"""
    if rate and not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise AudioError("audio_unsupported_format", f"The audio's sample rate ({rate} Hz) is not one a recording "
                                                     f"has; use {MIN_SOURCE_RATE}–{MAX_SOURCE_RATE} Hz.")


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(to_pcm16(samples))


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(to_pcm16(samples))
    return buffer.getvalue()


class Mp3Writer:
    """Encodes float32 mono pieces to MP3 as they arrive (44.1 kHz unless told, constant bitrate, no header).

    Memory stays flat however long the speech is: each piece is resampled, encoded
    and written before the next one comes. The output is bare MP3 frames, so any
    prefix of it is playable and consecutive parts concatenate into the whole file.

    FFmpeg resamples (PyAV); LAME encodes through lameenc, whose build of the same
    encoder at the same quality setting takes about a third of the CPU time of the
    one inside PyAV's wheel. On a CPU engine that already keeps every core busy,
    encoding time is added to every generation, so this is most of the service's overhead.
    """

    def __init__(self, target: Path | BinaryIO, input_rate: int, *, bitrate: int = OUTPUT_BITRATE,
                 output_rate: int = OUTPUT_SAMPLE_RATE):
        import lameenc

        self.input_rate = input_rate
        self.samples_in = 0
        self._owned = isinstance(target, Path)
        self._out: BinaryIO = open(target, "wb") if isinstance(target, Path) else target
        self._lame = lameenc.Encoder()
        self._lame.set_bit_rate(bitrate // 1000)
        self._lame.set_in_sample_rate(output_rate)
        # Left to itself LAME picks its own output rate for low bitrates (22.05 kHz for 32 kb/s).
        self._lame.set_out_sample_rate(output_rate)
        self._lame.set_channels(1)
        self._lame.set_quality(LAME_QUALITY)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=output_rate)

    def write(self, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.input_rate
        self.write_frame(frame)

    def write_frame(self, frame: av.AudioFrame) -> None:
        """Encode a frame at `input_rate`, in any sample format or channel layout (decoded audio, say)."""
        self.samples_in += frame.samples
        self._encode(self._resampler.resample(frame))

    def _encode(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            data = self._lame.encode(frame.to_ndarray().tobytes())
            if data:
                self._out.write(data)

    def close(self) -> float:
        """Flush everything; returns the duration of the audio written, in seconds."""
        self._encode(self._resampler.resample(None))
        self._out.write(self._lame.flush())
        self._out.flush()
        if self._owned:
            self._out.close()
        return self.samples_in / self.input_rate

    def abort(self) -> None:
        if self._owned:
            self._out.close()

    def __enter__(self) -> "Mp3Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class SegmentingFile:
    """A write-only file that keeps everything on disk and hands out what was written since the last cut.

    Given to Mp3Writer, the pieces it hands out are consecutive parts of one MP3 stream:
    concatenated they are the whole file, so a listener can start on the first part.
    """

    def __init__(self, path: Path):
        self._file = open(path, "wb")
        self._pending = bytearray()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._pending += data
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._file.flush()

    def cut(self) -> bytes:
        piece, self._pending = bytes(self._pending), bytearray()
        return piece

    def close(self) -> None:
        self._file.close()


def probe_duration(path: Path) -> float:
    """Duration by counting decoded samples (headers can lie)."""
    return decode(path, target_rate=16000).duration


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 resampling with FFmpeg's resampler (through PyAV)."""
    if source_rate == target_rate or samples.size == 0:
        return np.ascontiguousarray(samples, dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1),
                                       format="flt", layout="mono")
    frame.sample_rate = source_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    pieces = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
