"""The one interface every speech engine implements.

An engine turns text into speech, optionally in a cloned voice (from a reference
clip and its transcript) and optionally designs a voice from a description. What
an engine can do is declared in its `Capabilities`, which the API exposes, so the
product never pretends: an engine that cannot clone says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

# ISO 639-1 codes the API speaks; "auto" lets an engine detect the language.
LANGUAGE_NAMES: dict[str, str] = {
    "auto": "Auto-detect",
    "en": "English",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "de": "German",
    "fr": "French",
    "ru": "Russian",
    "pt": "Portuguese",
    "es": "Spanish",
    "it": "Italian",
}


@dataclass(frozen=True)
class Capabilities:
    can_clone: bool
    can_design: bool
    languages: tuple[str, ...]
    sample_rate: int
    # Longest text the engine should be given in one call; longer text is split.
    max_chars_per_call: int = 500
    # The engine speaks at SpeechJob.speed itself; otherwise the service stretches its audio.
    controls_speed: bool = False


@dataclass(frozen=True)
class VoiceReference:
    """A cloned voice as an engine sees it.

    `version` changes whenever the reference audio or transcript changes, so
    anything derived from them (a cached clone prompt) can be keyed by it.
    """

    voice_id: str
    audio_path: Path  # mono 16-bit WAV at REFERENCE_SAMPLE_RATE
    transcript: str | None
    version: str


class PromptCache(Protocol):
    """Where an engine keeps per-voice artefacts (e.g. a Qwen voice-clone prompt)."""

    def load(self, voice_id: str, version: str) -> bytes | None: ...

    def save(self, voice_id: str, version: str, data: bytes) -> None: ...


@dataclass(frozen=True)
class SpeechJob:
    text: str
    language: str  # a key of LANGUAGE_NAMES
    voice: VoiceReference | None = None
    speed: float = 1.0
    instructions: str | None = None


@dataclass(frozen=True)
class DesignJob:
    text: str
    language: str
    description: str


@dataclass
class EngineInfo:
    """What the health endpoint and the pages show about the running engine."""

    name: str
    label: str
    reason: str
    capabilities: Capabilities
    details: dict[str, str] = field(default_factory=dict)


class EngineError(Exception):
    """A failure inside an engine, with a stable code and a message for people."""

    def __init__(self, code: str, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class EngineUnsupported(EngineError):
    """The engine cannot do what was asked (e.g. design on the CPU engine)."""


@runtime_checkable
class TTSEngine(Protocol):
    """A synchronous, in-process engine.

    `synthesize` yields float32 mono audio at `capabilities.sample_rate`, one
    piece at a time (e.g. per sentence), so callers can encode as it comes.
    """

    info: EngineInfo

    def load(self) -> None: ...

    def synthesize(self, job: SpeechJob, cache: PromptCache | None = None) -> Iterator[np.ndarray]: ...

    def design(self, job: DesignJob) -> np.ndarray: ...

    def close(self) -> None: ...


# A remote call made without the reference recording reached a machine that does not know
# the voice yet: make it again with the recording.
REFERENCE_NEEDED = "reference_needed"


@runtime_checkable
class RemoteEngine(Protocol):
    """An engine whose work runs elsewhere (Modal): start a call, then poll it.

    Speech is one call per chunk of text. Call ids are persisted on the task, so a
    restarted web process resumes polling instead of starting the work again. Only
    the first call of a text needs the reference recording; a later one without it
    may fail with REFERENCE_NEEDED.
    """

    info: EngineInfo

    def load(self) -> None: ...

    def spawn_speech(self, job: SpeechJob, reference_audio: bytes | None) -> str: ...

    def spawn_design(self, job: DesignJob) -> str: ...

    def poll(self, call_id: str, wait: float = 0.0) -> tuple[np.ndarray, int] | None:
        """(audio, sample_rate) as soon as the call is done, waiting up to `wait` seconds for it;
        None if it is still running then; raises EngineError on failure."""
        ...

    def close(self) -> None: ...
