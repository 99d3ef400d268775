"""The one interface every speech engine implements.

An engine turns text into speech, optionally in a cloned voice (from a reference
clip and its transcript) and optionally designs a voice from a description. What
an engine can do is declared in its `Capabilities`, which the API exposes, so the
product never pretends: an engine that cannot clone says so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


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
    # Generations it serves at once to advantage (batched on a GPU): the runner's threads by default.
    max_concurrent: int = 1
    # It reads "$45" or "Dr. Okafor" literally, so it is given text in words (audio/text_normalization.py).
    needs_normalized_text: bool = False
    # A language model that can run on past its text, drop an ending or say other words: each part is
    # heard back and retaken when it went wrong (generations/heard_back.py).
    needs_heard_back: bool = False
    # How IPA phonemes are written in its text ("[[ {} ]]" for Piper), or None when it reads none:
    # pronunciation rules then say their alias instead.
    phoneme_markup: str | None = None
    # The IPA symbols it knows (empty: not known until it is loaded; none is refused then).
    phoneme_symbols: frozenset[str] = frozenset()


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


class EngineTask(Protocol):
    """What an engine may ask of the generation it speaks for."""

    prompts: PromptCache  # per-voice artefacts, kept in storage
    remote_calls: list[str]  # ids of remote calls an earlier attempt made for this task, in order

    def record_remote_calls(self, call_ids: list[str]) -> None:
        """Keep these call ids with the task before waiting on them, so a retry collects them."""
        ...


@dataclass(frozen=True)
class SpeechRequest:
    """A whole text to speak, already split into the chunks the engine takes one at a time."""

    chunks: Sequence[str]  # a tuple, or SpokenChunks turning each into words when it is asked for
    language: str  # a key of languages.LANGUAGE_NAMES
    voice: VoiceReference | None = None
    speed: float = 1.0  # honoured only by an engine whose capabilities say controls_speed

    def job(self, index: int) -> SpeechJob:
        return SpeechJob(text=self.chunks[index], language=self.language, voice=self.voice, speed=self.speed)


NO_AUDIO = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class Piece:
    """Audio an engine hands back: part of chunk `chunk`, float32 mono at `sample_rate`.

    `end` marks the last piece of its chunk. A piece with no samples and no end says only
    that the engine is still working (a remote call still running), so the caller can
    check on its task meanwhile.
    """

    chunk: int
    samples: np.ndarray
    sample_rate: int
    end: bool = False


@runtime_checkable
class SpeechEngine(Protocol):
    """The one interface every engine is reached through, wherever its model runs.

    Both methods yield Pieces as the audio is made, chunk after chunk in order, and check
    nothing about the task themselves: the caller checks between pieces and closes the
    iterator when it stops listening.
    """

    info: EngineInfo

    def load(self) -> None: ...

    def speak(self, request: SpeechRequest, task: EngineTask) -> Iterator[Piece]: ...

    def speak_design(self, job: DesignJob, task: EngineTask) -> Iterator[Piece]:
        """The job's text in a new voice made from its description (one chunk)."""
        ...

    def expected_speed(self) -> dict | None:
        """How fast it speaks on this machine, as measured (real-time factor, first audio…), or None
        when nothing is measured: /api/engine and the pages show it."""
        ...

    def likeness(self, voice: VoiceReference, samples: np.ndarray, sample_rate: int,
                 prompts: PromptCache | None) -> float | None:
        """How alike the speaker of `samples` is to the voice's reference, by the cloning model's own
        speaker encoder (cosine similarity of the two embeddings, 1 for identical), or None when this
        engine cannot tell (it cannot clone, or its model runs elsewhere)."""
        ...

    def close(self) -> None: ...


class ChunkwiseEngine:
    """SpeechEngine for a model in this process that speaks one chunk per call.

    A subclass implements `synthesize` (pieces of one chunk's audio at
    `capabilities.sample_rate`) and `design` (one clip).
    """

    info: EngineInfo

    def synthesize(self, job: SpeechJob, cache: PromptCache | None = None) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def design(self, job: DesignJob) -> np.ndarray:
        raise NotImplementedError

    def speak(self, request: SpeechRequest, task: EngineTask) -> Iterator[Piece]:
        for index in range(len(request.chunks)):
            produced = self.synthesize(request.job(index), task.prompts)
            try:
                for samples in produced:
                    yield Piece(index, samples, self.info.capabilities.sample_rate)
            finally:
                close = getattr(produced, "close", None)  # a generator stops early; a plain iterator has nothing to close
                if close is not None:
                    close()
            yield Piece(index, NO_AUDIO, self.info.capabilities.sample_rate, end=True)

    def speak_design(self, job: DesignJob, task: EngineTask) -> Iterator[Piece]:
        yield Piece(0, self.design(job), self.info.capabilities.sample_rate, end=True)

    def likeness(self, voice: VoiceReference, samples: np.ndarray, sample_rate: int,
                 prompts: PromptCache | None) -> float | None:
        return None

    def expected_speed(self) -> dict | None:
        return None


# A remote call made without the reference recording reached a machine that does not know
# the voice yet: make it again with the recording.
REFERENCE_NEEDED = "reference_needed"


@runtime_checkable
class RemoteCalls(Protocol):
    """A model that runs elsewhere (Modal): start a call, then poll it. remote.RemoteEngine speaks through it.

    Speech is one call per chunk of text. Only the first call of a text needs the
    reference recording; a later one without it may fail with REFERENCE_NEEDED.
    """

    info: EngineInfo

    def load(self) -> None: ...

    def spawn_speech(self, job: SpeechJob, reference_audio: bytes | None, stream_key: str | None = None) -> str:
        """Start speaking `job`; with a `stream_key`, the call sends its audio's pieces there as it goes."""
        ...

    def pieces(self, stream_key: str, wait: float = 0.0) -> tuple[list[np.ndarray], bool]:
        """The pieces sent to `stream_key` since the last read (waiting up to `wait` for one), and
        whether the call has sent its last. On a failure to read, ([], True): the result has it all."""
        ...

    def spawn_design(self, job: DesignJob, stream_key: str | None = None) -> str: ...

    def likeness(self, voice: VoiceReference, samples: np.ndarray, sample_rate: int,
                 reference_audio: bytes | None) -> float:
        """SpeechEngine.likeness, computed where the model is; may raise REFERENCE_NEEDED like a speech call."""
        ...

    def poll(self, call_id: str, wait: float = 0.0) -> tuple[np.ndarray, int] | None:
        """(audio, sample_rate) as soon as the call is done, waiting up to `wait` seconds for it;
        None if it is still running then; raises EngineError on failure."""
        ...

    def close(self) -> None: ...
