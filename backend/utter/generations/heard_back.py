"""Every part of a generation heard back: transcribed, compared with what it should say, retaken when wrong.

Language-model engines (Qwen3-TTS) sometimes run on past the text, swallow an ending, repeat a
phrase or say other words; nothing else would notice. Each finished part is transcribed by the
speech recogniser the server already has (Whisper tiny.en for English) in a thread of its own, so
the engine goes on with the next part and a listener hears every part as it comes. After the last
part, a part that failed is spoken again (up to MAX_TAKES in all) and the best take kept; the
stored file is then rebuilt with it. A part that never passes is kept and marked.

A part fails when the words heard differ from its text by more than MAX_WORD_ERROR (word error
rate, both sides in Whisper's normal form, so "$45" and "forty five dollars" agree), or when it is
far longer or shorter than that text takes to say at the asked speed (ran on / cut short).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..adapters.asr import Transcriber, TranscriberUnavailable
from ..audio.reference_check import word_error_rate

log = logging.getLogger(__name__)

MAX_TAKES = 3  # the first take and two retakes
MAX_WORD_ERROR = 0.35
# Speech runs at about 14 characters a second at speed 1 (as the engines' expected speed assumes).
CHARS_PER_SECOND = 14.0
RAN_ON = 2.2  # a part this many times longer than its text takes to say ran on
CUT_SHORT = 0.45  # one this many times shorter lost words (Whisper's words say which)


@dataclass(frozen=True)
class Take:
    """What one take of a part sounded like."""

    word_error: float
    duration_ratio: float  # its length over the length expected for its text at its speed
    heard: str

    @property
    def problems(self) -> tuple[str, ...]:
        found = []
        if self.duration_ratio > RAN_ON:
            found.append("ran_on")
        elif self.duration_ratio < CUT_SHORT:
            found.append("cut_short")
        if self.word_error > MAX_WORD_ERROR:
            found.append("wrong_words")
        return tuple(found)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def badness(self) -> float:
        """For choosing the best of several takes: words first, then how far the length is off."""
        length_off = max(0.0, self.duration_ratio - RAN_ON) + max(0.0, CUT_SHORT - self.duration_ratio)
        return self.word_error + length_off


@dataclass
class PartCheck:
    part: int
    takes: list[Take] = field(default_factory=list)
    kept: int = 0  # index into takes

    def as_record(self) -> dict:
        kept = self.takes[self.kept]
        return {"part": self.part, "word_error": round(kept.word_error, 3),
                "duration_ratio": round(kept.duration_ratio, 2), "takes": len(self.takes), "passed": kept.passed,
                "problems": list(kept.problems),
                "retaken_because": list(self.takes[0].problems) if len(self.takes) > 1 else []}


class Judge:
    """Hears a take of a part and says how it went."""

    def __init__(self, transcriber: Transcriber, language: str, speed: float):
        self._transcriber, self._language, self._speed = transcriber, language, speed
        from whisper_normalizer.basic import BasicTextNormalizer
        from whisper_normalizer.english import EnglishTextNormalizer

        self._normal = EnglishTextNormalizer() if language in ("en", "auto") else BasicTextNormalizer()

    def hear(self, text: str, samples: np.ndarray, sample_rate: int) -> Take:
        heard = self._transcriber.transcribe(samples, sample_rate, self._language).text
        expected = max(len(text), 1) / (CHARS_PER_SECOND * self._speed)
        return Take(word_error=word_error_rate(self._normal(text), self._normal(heard)),
                    duration_ratio=(len(samples) / sample_rate) / expected, heard=heard)


def recogniser_for(language: str, default: Transcriber | None,
                   multilingual: Transcriber | None) -> tuple[Transcriber | None, str | None]:
    """The recogniser that hears parts in `language` back, or None and why not (in words)."""
    if default is None:
        return None, "speech recognition is off or not installed"
    if language in ("en", "auto") or _knows_languages(default):
        return default, None
    if multilingual is not None and _knows_languages(multilingual):
        return multilingual, None
    return None, (f"the speech recogniser here ({default.name}) knows English only; `utter download-models asr` "
                  f"fetches a multilingual one")


def _knows_languages(transcriber: Transcriber) -> bool:
    try:
        return bool(getattr(transcriber, "multilingual", False))
    except TranscriberUnavailable:  # its model could not be loaded
        return False


class HeardBack:
    """The checks of one generation: parts are heard as they finish; retakes come after the last one."""

    def __init__(self, judge: Judge, workdir: Path, texts: Callable[[int], str]):
        self._judge, self._workdir, self._texts = judge, workdir, texts
        self._hearing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="utter-heard-back")
        self._pending: dict[int, list[np.ndarray]] = {}
        self._first: dict[int, Future] = {}
        self.sample_rate: int | None = None
        self.parts: dict[int, PartCheck] = {}

    def _path(self, part: int, take: int) -> Path:
        return self._workdir / f"part-{part}-take-{take}.npy"

    def add(self, part: int, samples: np.ndarray, sample_rate: int, end: bool) -> None:
        """A piece of the first take, as the engine hands it over."""
        self.sample_rate = sample_rate
        if samples.size:
            self._pending.setdefault(part, []).append(samples)
        if end:
            audio = np.concatenate(self._pending.pop(part, [np.zeros(0, np.float32)]))
            np.save(self._path(part, 0), audio)
            self._first[part] = self._hearing.submit(self._judge.hear, self._texts(part), audio, sample_rate)

    def retake(self, speak_again: Callable[[int], Iterable[np.ndarray]], check: Callable[[], None]) -> bool:
        """Hear every first take, speak the failed parts again until one passes or MAX_TAKES; True when
        a part's kept take is not its first (the stored file must then be rebuilt)."""
        replaced = False
        try:
            for part, heard in sorted(self._first.items()):
                result = PartCheck(part, [heard.result()])
                while not result.takes[-1].passed and len(result.takes) < MAX_TAKES:
                    check()
                    audio = np.concatenate([np.zeros(0, np.float32), *speak_again(part)])
                    np.save(self._path(part, len(result.takes)), audio)
                    result.takes.append(self._judge.hear(self._texts(part), audio, self.sample_rate))
                result.kept = min(range(len(result.takes)), key=lambda i: result.takes[i].badness)
                replaced = replaced or result.kept != 0
                if len(result.takes) > 1:
                    log.info("heard_back.retaken part=%d takes=%d kept=%d problems=%s", part, len(result.takes),
                             result.kept, ",".join(result.takes[0].problems))
                self.parts[part] = result
        finally:
            self._hearing.shutdown(wait=True, cancel_futures=True)
        return replaced

    def kept_audio(self, part: int) -> np.ndarray:
        return np.load(self._path(part, self.parts[part].kept))

    def record(self) -> dict:
        return {"checked": True, "parts": [self.parts[p].as_record() for p in sorted(self.parts)]}

    def close(self) -> None:
        self._hearing.shutdown(wait=False, cancel_futures=True)
