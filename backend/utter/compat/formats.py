"""The audio formats the OpenAI and ElevenLabs APIs name, and how Utter makes each.

A format that is exactly the worker's MP3 (44.1 kHz, 128 kb/s) is passed through untouched;
every other one is re-encoded on the way out by audio.transcode.
"""

from __future__ import annotations

import re

from ..audio.codec import OUTPUT_BITRATE, OUTPUT_SAMPLE_RATE
from ..audio.transcode import OutputFormat


def _mp3(name: str, rate: int, kbps: int) -> OutputFormat:
    passthrough = rate == OUTPUT_SAMPLE_RATE and kbps * 1000 == OUTPUT_BITRATE
    return OutputFormat(name, "libmp3lame", rate, kbps * 1000, "audio/mpeg", "raw", passthrough)


def _pcm(name: str, rate: int) -> OutputFormat:
    return OutputFormat(name, "pcm_s16le", rate, None, f"audio/L16;rate={rate};channels=1", "raw")


def _wav(name: str, rate: int) -> OutputFormat:
    return OutputFormat(name, "pcm_s16le", rate, None, "audio/wav", "wav")


def _opus(name: str, kbps: int) -> OutputFormat:
    return OutputFormat(name, "libopus", 48000, kbps * 1000, "audio/ogg", "ogg")


# OpenAI: the MP3 is Utter's own; the others at 24 kHz like OpenAI's (pcm is documented as 24 kHz s16le mono).
OPENAI_FORMATS: dict[str, OutputFormat] = {
    "mp3": _mp3("mp3", OUTPUT_SAMPLE_RATE, OUTPUT_BITRATE // 1000),
    "opus": _opus("opus", 64),
    "aac": OutputFormat("aac", "aac", 24000, 64000, "audio/aac", "adts"),
    "flac": OutputFormat("flac", "flac", 24000, None, "audio/flac", "flac"),
    "wav": _wav("wav", 24000),
    "pcm": _pcm("pcm", 24000),
}

_ELEVENLABS_MP3 = {(22050, 32), (24000, 48), (44100, 32), (44100, 64), (44100, 96), (44100, 128), (44100, 192)}
_ELEVENLABS_PCM_RATES = {8000, 16000, 22050, 24000, 32000, 44100, 48000}
_ELEVENLABS_OPUS_KBPS = {32, 64, 96, 128, 192}
_ELEVENLABS_PATTERN = re.compile(r"^(mp3|pcm|wav|ulaw|alaw|opus)_(\d+)(?:_(\d+))?$")

ELEVENLABS_DEFAULT = "mp3_44100_128"


def elevenlabs_format(name: str) -> OutputFormat | None:
    """`codec_rate[_kbps]` as ElevenLabs names it, or None when it is not one of theirs."""
    match = _ELEVENLABS_PATTERN.match(name or "")
    if not match:
        return None
    codec, rate, kbps = match.group(1), int(match.group(2)), match.group(3)
    kbps = int(kbps) if kbps else None
    if codec == "mp3" and (rate, kbps) in _ELEVENLABS_MP3:
        return _mp3(name, rate, kbps)
    if codec in ("pcm", "wav") and kbps is None and rate in _ELEVENLABS_PCM_RATES:
        return _pcm(name, rate) if codec == "pcm" else _wav(name, rate)
    if codec in ("ulaw", "alaw") and kbps is None and rate == 8000:
        encoder = "pcm_mulaw" if codec == "ulaw" else "pcm_alaw"
        return OutputFormat(name, encoder, 8000, None, f"audio/{'basic' if codec == 'ulaw' else 'x-alaw-basic'}", "raw")
    if codec == "opus" and rate == 48000 and kbps in _ELEVENLABS_OPUS_KBPS:
        return _opus(name, kbps)
    return None


ELEVENLABS_FORMATS = sorted(
    [f"mp3_{r}_{k}" for r, k in _ELEVENLABS_MP3]
    + [f"{c}_{r}" for c in ("pcm", "wav") for r in _ELEVENLABS_PCM_RATES]
    + ["ulaw_8000", "alaw_8000"] + [f"opus_48000_{k}" for k in _ELEVENLABS_OPUS_KBPS]
)
