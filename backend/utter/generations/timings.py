"""When each word of a generation's text is spoken (issue 18): made once the audio is finished, stored
in `generations.timings`, served as JSON and as subtitles.

The words are those of the text AS TYPED (`generation.text`, tags left out), each with its character
offset and length in that text, so a page can mark the typed words and character timings can be
derived (the ElevenLabs-compatible routes). What the engine was given may differ: pronunciation rules
(`Nguyen` -> `Win`) and number normalisation (`$45` -> `forty five dollars`). So the words SPOKEN are
aligned, each chunk inside its place in the audio (ChunkedOutput.timeline), and the typed words are
then matched to them in order: a typed word spoken as written takes its spoken word's times; a run
of typed words spoken differently shares the times of the words said in their place, by length. The
chunks may then differ between typed and spoken text (a long alias moving a chunk boundary) without
harm: only the order of the words matters.

Timings are best effort: a generation never fails for want of them. When no aligner can run (no
faster-whisper, UTTER_ASR=off, a language the installed recogniser does not know) the record says why.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from ..adapters.asr import Transcriber, TranscriberUnavailable, WhisperTranscriber
from ..audio import codec
from ..audio.alignment import SAMPLE_RATE, Aligner, Span
from ..audio.markup import tags

log = logging.getLogger("utter.timings")

VERSION = 1
# Piper's phoneme spelling from a pronunciation rule ("[[ təˈmɑːtoʊ ]]"): one spoken word.
_PHONEMES = re.compile(r"\[\[\s*(.*?)\s*\]\]")


@dataclass(frozen=True)
class TypedWord:
    text: str  # the word's characters as typed, without any tag inside it
    offset: int  # where it starts in the typed text
    length: int  # characters it spans there (tags inside it included)


def typed_words(text: str) -> list[TypedWord]:
    """The words of `text` as typed: runs of characters that are not spaces, outside tags. A break tag
    separates words; other tags are left out of the word they stand in ("a<b>x</b>" is said "ax")."""
    words: list[TypedWord] = []
    chars: list[str] = []
    first = last = -1

    def close() -> None:
        nonlocal chars, first
        if chars:
            words.append(TypedWord("".join(chars), first, last + 1 - first))
        chars, first = [], -1

    position = 0
    for tag in [*tags(text), None]:
        stop = tag.start if tag else len(text)
        for index in range(position, stop):
            if text[index].isspace():
                close()
            else:
                if first < 0:
                    first = index
                chars.append(text[index])
                last = index
        if tag is None:
            break
        if tag.is_break:
            close()
        position = tag.end
    close()
    return words


def spoken_words(chunk: str) -> tuple[str, ...]:
    """A chunk as the engine was given it, in words (a phoneme spelling is one word)."""
    return tuple(_PHONEMES.sub(lambda m: m[1].replace(" ", ""), chunk).split())


def _key(word: str) -> str:
    return "".join(ch for ch in word.casefold() if ch.isalnum())


def match_words(typed: list[TypedWord], spoken: list) -> list[dict]:
    """Times for each typed word from the aligned `spoken` words (TimedWord, in order)."""
    matcher = SequenceMatcher(None, [_key(w.text) for w in typed], [_key(w.text) for w in spoken], autojunk=False)
    times: list[tuple[float, float] | None] = [None] * len(typed)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                times[i1 + k] = (spoken[j1 + k].start, spoken[j1 + k].end)
        elif tag == "replace":
            # Said differently ("$45" as "forty five dollars"): share the time of what was said, by length.
            start, end = spoken[j1].start, spoken[j2 - 1].end
            # (a word of punctuation alone, "—", is not said: it takes no time)
            lengths = [len(_key(w.text)) for w in typed[i1:i2]]
            if not any(lengths):
                lengths = [1] * len(lengths)
            total, done = sum(lengths), 0
            for k, length in enumerate(lengths):
                times[i1 + k] = (start + (end - start) * done / total, start + (end - start) * (done + length) / total)
                done += length
        # "delete": typed but not said (punctuation on its own); "insert": said with no typed word.
    result, previous_end = [], (spoken[0].start if spoken else 0.0)
    for index, word in enumerate(typed):
        start, end = times[index] or (previous_end, previous_end)  # not said: no time of its own
        start = max(start, previous_end)  # never before the word typed before it
        end = max(end, start)
        result.append({"text": word.text, "start": round(start, 3), "end": round(end, 3),
                       "offset": word.offset, "length": word.length})
        previous_end = end
    return result


def unavailable(code: str, message: str) -> dict:
    return {"version": VERSION, "words": None, "error": {"code": code, "message": message}}


def aligner_for(language: str, recogniser: Transcriber | None,
                multilingual: Transcriber | None) -> tuple[Aligner | None, dict | None]:
    """The aligner for `language`, or None and the record that says why there is none."""
    if recogniser is None:
        return None, unavailable("timings_unavailable", "Word timings need the speech recogniser, which is off "
                                 "(UTTER_ASR=off) or not installed (pip install 'utter[asr]').")
    for candidate in (recogniser, multilingual):
        if not isinstance(candidate, WhisperTranscriber):
            continue
        try:
            knows = candidate.multilingual
        except TranscriberUnavailable as exc:
            return None, unavailable("timings_unavailable", f"Word timings need the speech recogniser, which "
                                     f"could not be loaded: {exc}")
        if knows:
            return Aligner(candidate, language), None
        if language in ("en", "auto"):
            return Aligner(candidate, "en"), None  # an English-only model hears "auto" as English
    if not isinstance(recogniser, WhisperTranscriber):
        return None, unavailable("timings_unavailable", f"The speech recogniser here ({recogniser.name}) cannot "
                                 "align words.")
    return None, unavailable("timings_language_unsupported",
                             f"No word timings for language {language!r}: the speech recogniser here "
                             f"({recogniser.name}) knows English only; `utter download-models asr` fetches a "
                             "multilingual one.")


@dataclass(frozen=True)
class Passage:
    """Typed text spoken as `spoken` (what the engine was given, part by part) at `windows` (each part's
    seconds in the audio): a generation's whole text, or one line of a dialogue. Its words are placed
    at `offset` in the generation's text; a dialogue's words also carry their `line`."""

    text: str
    spoken: Sequence[str]
    windows: Sequence[tuple[float, float]]
    offset: int = 0
    line: int | None = None


def make(aligner: Aligner, mp3: Path, passages: Sequence[Passage]) -> dict:
    """The timings record of the passages spoken in `mp3`: their typed words, in order, with offsets
    in the generation's text."""
    started = time.perf_counter()
    samples = codec.decode(mp3, target_rate=SAMPLE_RATE).samples
    words, said = [], []
    for passage in passages:
        typed, aligned = align_text(aligner, samples, passage.text, passage.spoken, list(passage.windows))
        extra = {} if passage.line is None else {"line": passage.line}
        words += [{**word, "offset": word["offset"] + passage.offset, **extra} for word in typed]
        said += [{"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3), **extra} for w in aligned]
    seconds = time.perf_counter() - started
    log.info("timings.done words=%d seconds=%.2f", len(words), seconds)
    return {"version": VERSION, "aligner": aligner.name, "language": aligner.language,
            "seconds": round(seconds, 3), "words": words, "spoken": said, "error": None}


def for_generation(ctx, generation, mp3: Path, passages: Sequence[Passage]) -> dict:
    """The timings record of a finished generation's `mp3`, or why there is none: timings are best effort,
    so a failure here is recorded, never raised (the speech is fine; only its timings are missing)."""
    aligner, why_not = aligner_for(generation.language, ctx.recogniser, ctx.multilingual_recogniser)
    if aligner is None:
        return why_not
    try:
        return make(aligner, mp3, passages)
    except Exception as exc:  # noqa: BLE001
        log.exception("timings.failed id=%s", generation.id)
        return unavailable("timings_failed", f"Word timings could not be made ({type(exc).__name__}).")


def align_text(aligner: Aligner, samples, text: str, spoken,
               windows: list[tuple[float, float]]) -> tuple[list[dict], list]:
    """The typed words of `text`, timed in `samples` (16 kHz mono), where `spoken[i]` (what the engine was given
    for that part) lies at `windows[i]` seconds. Returns the typed words (dicts as stored, offsets in `text`)
    and the aligned spoken words (TimedWord)."""
    if aligner.language == "auto" and aligner.transcriber.multilingual:
        aligner.language = aligner.transcriber.load().detect_language(samples[: 30 * SAMPLE_RATE])[0]
    spans = [Span(spoken_words(spoken[i]), start, end) for i, (start, end) in enumerate(windows)]
    aligned = [word for span in aligner.align(samples, spans) for word in span]
    return match_words(typed_words(text), aligned), aligned


def character_alignment(text: str, words: list[dict]) -> dict:
    """Start and end seconds of every character of `text` (ElevenLabs' `alignment`): a word's characters
    share its time evenly; the characters between two words (spaces, tags, punctuation alone) share the
    gap between them. Words need "start", "end" and, when not laid end to end with single spaces,
    "offset" and "length". The characters joined are `text`; the times never go back."""
    characters: list[str] = list(text)
    starts = [0.0] * len(text)
    ends = [0.0] * len(text)
    position, clock = 0, 0.0
    for word in words:
        offset = word["offset"]
        _spread(starts, ends, position, offset, clock, max(word["start"], clock))
        clock = max(word["start"], clock)
        _spread(starts, ends, offset, offset + word["length"], clock, max(word["end"], clock))
        clock = max(word["end"], clock)
        position = offset + word["length"]
    _spread(starts, ends, position, len(text), clock, clock)
    return {"characters": characters, "character_start_times_seconds": starts,
            "character_end_times_seconds": ends}


def laid_out(words: list[dict]) -> tuple[str, list[dict]]:
    """Words joined with single spaces (the spoken words of a record), each with its offset and length there."""
    placed, position = [], 0
    for word in words:
        placed.append({**word, "offset": position, "length": len(word["text"])})
        position += len(word["text"]) + 1
    return " ".join(word["text"] for word in words), placed


def _spread(starts: list[float], ends: list[float], first: int, stop: int, start: float, end: float) -> None:
    count = stop - first
    for index in range(count):
        starts[first + index] = round(start + (end - start) * index / count, 3)
        ends[first + index] = round(start + (end - start) * (index + 1) / count, 3)
