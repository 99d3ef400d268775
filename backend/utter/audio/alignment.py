"""Forced alignment: when each word of a KNOWN text is spoken in a piece of audio (issue 18).

Not a transcription. The words are given; Whisper's decoder is fed exactly their tokens and the
cross-attention of its alignment heads is laid along the audio by dynamic time warping
(CTranslate2's `Whisper.align`, what faster-whisper's word timestamps use). So every word gets a
time even where the recogniser would have heard it wrong, and words come out in the order given.

The caller says which stretch of the audio each span of text lies in (a generation's chunks, from
ChunkedOutput.timeline; a dialogue's lines), and each span is aligned inside its window only: that
keeps within Whisper's 30 s input, makes timings survive pauses, crossfades and speed changes by
construction, and costs one encoder pass per span. A window longer than Whisper's input is taken in
steps (see `_align_long`).

DTW edges drift into silence: the word before a pause takes the pause with it, and a span's first
word tends to start early. Word edges are moved to the pauses heard in the audio's energy
(`_refine_edges`), which brought the median error at sentence edges from ~330 ms to a few ms on
speech with known boundaries (benchmarks/alignment.py, docs/timings.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("utter.alignment")

SAMPLE_RATE = 16000  # Whisper's
# Audio kept either side of each span's window: the window is where its chunk lies, but a word may
# start a few milliseconds before a crossfade ends.
MARGIN_SECONDS = 0.15
# Whisper sees at most 30 s; a little less leaves room for the margins.
MAX_WINDOW_SECONDS = 28.0
# Characters given to one step of a long window.
MAX_STEP_CHARS = 1000
# The edge refinement: energy in 10 ms frames; a pause is at least MIN_PAUSE_SECONDS of quiet (shorter
# ones are the closures of stop consonants inside words);
# a pause is moved to the word boundary nearest to it, if one is within MAX_SHIFT_SECONDS.
FRAME_SECONDS = 0.01
MIN_PAUSE_SECONDS = 0.1
MAX_SHIFT_SECONDS = 0.6
# A word squeezed shorter than this by a moved pause was on the wrong side of it.
MIN_WORD_SECONDS = 0.05
_PUNCTUATION = tuple(".!?…,;:。！？，")


@dataclass(frozen=True)
class Span:
    """Words to align, and the seconds of the audio they are spoken in."""

    words: tuple[str, ...]
    start: float
    end: float


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float
    probability: float


class Aligner:
    """Aligns known words to audio with a loaded faster-whisper model (adapters/asr.py's WhisperTranscriber)."""

    def __init__(self, transcriber, language: str, *, refine: bool = True):
        """`refine=False` leaves Whisper's DTW edges as they are (for the benchmark's comparison)."""
        self.transcriber = transcriber
        self.language = language
        self.refine = refine
        self.name = transcriber.name

    def align(self, samples: np.ndarray, spans: list[Span]) -> list[list[TimedWord]]:
        """Times for each span's words, in seconds of `samples` (mono float32 at 16 kHz)."""
        model = self.transcriber.load()
        from faster_whisper.tokenizer import Tokenizer

        multilingual = model.model.is_multilingual
        tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe",
                              language=self.language if multilingual else "en")
        started = time.perf_counter()
        timed = [self._align_span(model, tokenizer, samples, span) for span in spans]
        log.info("alignment.done model=%s spans=%d audio_seconds=%.1f seconds=%.2f", self.name, len(spans),
                 len(samples) / SAMPLE_RATE, time.perf_counter() - started)
        return timed

    def _align_span(self, model, tokenizer, samples: np.ndarray, span: Span) -> list[TimedWord]:
        if not span.words:
            return []
        total = len(samples) / SAMPLE_RATE
        start = min(max(0.0, span.start - MARGIN_SECONDS), total)
        end = min(total, span.end + MARGIN_SECONDS)
        if end - start < 2 * FRAME_SECONDS:  # no audio where the words should be: no time of their own
            return [TimedWord(word, start, start, 0.0) for word in span.words]
        if end - start > MAX_WINDOW_SECONDS:
            words = _align_long(model, tokenizer, samples, span.words, start, end)
        else:
            words = _align_window(model, tokenizer, samples, span.words, start, end)
        return _refine_edges(words, samples, span.start, span.end) if self.refine else words


def _align_window(model, tokenizer, samples: np.ndarray, words: tuple[str, ...], start: float,
                  end: float) -> list[TimedWord]:
    """DTW of `words` over samples[start:end] (at most 30 s)."""
    from faster_whisper.audio import pad_or_trim

    clip = samples[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)]
    features = model.feature_extractor(clip)
    frames = min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)
    encoded = model.encode(pad_or_trim(features[:, :frames]))
    # Each word is tokenised on its own (with the space Whisper writes before a word), so the tokens
    # of word i are known exactly; Whisper's byte-pair pre-tokeniser splits at spaces anyway.
    per_word = [tokenizer.encode(" " + word.strip()) or [tokenizer.eot] for word in words]
    tokens = [token for word in per_word for token in word]
    result = model.model.align(encoded, tokenizer.sot_sequence, [tokens], frames, median_filter_width=7)[0]
    path = np.array(result.alignments)
    text_index, time_index = path[:, 0], path[:, 1]
    jumps = np.pad(np.diff(text_index), (1, 0), constant_values=1).astype(bool)
    jump_times = time_index[jumps] / model.tokens_per_second  # when each token (then the end mark) begins
    bounds = np.pad(np.cumsum([len(w) for w in per_word]), (1, 0))
    probabilities = np.asarray(result.text_token_probs, dtype=float)
    timed = []
    for index, word in enumerate(words):
        first, last = bounds[index], bounds[index + 1]
        word_start = start + float(jump_times[min(first, len(jump_times) - 1)])
        word_end = start + float(jump_times[min(last, len(jump_times) - 1)])
        probability = float(probabilities[first:last].mean()) if last <= len(probabilities) and last > first else 0.0
        timed.append(TimedWord(word, word_start, max(word_end, word_start), probability))
    return timed


def _align_long(model, tokenizer, samples: np.ndarray, words: tuple[str, ...], start: float,
                end: float) -> list[TimedWord]:
    """A window longer than Whisper's input, in steps: each step is given more words than its
    stretch of audio should hold (by the span's average rate, plus half again), DTW squeezes the
    surplus into the step's last moments, and only the words that end well before the step does are
    kept; the next step starts where the last kept word ended."""
    rate = len(" ".join(words)) / max(end - start, 1e-3)  # characters a second
    timed: list[TimedWord] = []
    position, first = start, 0
    while first < len(words):
        step_end = min(end, position + MAX_WINDOW_SECONDS)
        if step_end >= end:
            timed += _align_window(model, tokenizer, samples, words[first:], position, end)
            break
        # (at most MAX_STEP_CHARS: Whisper's decoder takes 448 tokens, about 4 characters each)
        budget, count = min(1.5 * rate * (step_end - position), MAX_STEP_CHARS), 0
        while first + count < len(words) and budget > 0:
            budget -= len(words[first + count]) + 1
            count += 1
        step = _align_window(model, tokenizer, samples, words[first:first + count], position, step_end)
        keep = [word for word in step if word.end < step_end - 3.0]
        if not keep:
            keep = step[:1]  # always progress
        timed += keep
        first += len(keep)
        position = keep[-1].end
    return timed


def _refine_edges(words: list[TimedWord], samples: np.ndarray, start: float, end: float) -> list[TimedWord]:
    """Word edges moved to the pauses heard in samples[start:end] (the span's own audio).

    DTW gives each word the stretch up to the next word's first token, so the boundary between two
    words either side of a pause lands anywhere in or near it (in the benchmark the word before a
    sentence gap kept the gap, ~0.5 s), and the span's first word often starts early. Each pause goes
    to the word boundary nearest to it (within MAX_SHIFT_SECONDS): the word before ends where the
    pause starts, the word after starts where it ends. The first word starts where the sound starts,
    the last ends where it stops.
    """
    if not words:
        return words
    found = _silences(samples[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)])
    if found is None:
        return words
    pauses, lead, tail = found
    starts = [word.start for word in words]
    ends = [word.end for word in words]
    # Each pause to its nearest boundary, one after punctuation first; a boundary keeps its longest pause.
    chosen: dict[int, tuple[float, float]] = {}
    for quiet_start, quiet_end in ((start + a, start + b) for a, b in pauses):
        best = _boundary_for(words, starts, ends, quiet_start, quiet_end)
        if best is not None and (best not in chosen or quiet_end - quiet_start > chosen[best][1] - chosen[best][0]):
            chosen[best] = (quiet_start, quiet_end)
    for k, (quiet_start, quiet_end) in sorted(chosen.items()):
        ends[k], starts[k + 1] = quiet_start, quiet_end
        # DTW sometimes puts a whole word on the wrong side of the pause ("...tin | roof." with "roof." after
        # the gap): the words squeezed out of their place share the speech on their side of it, by length.
        first = k
        while first > 0 and starts[first] > ends[k] - MIN_WORD_SECONDS and first - 1 not in chosen:
            first -= 1
        if first < k:
            _share(words, starts, ends, first, k, starts[first], ends[k])
        last = k + 1
        while last < len(words) - 1 and ends[last] < starts[k + 1] + MIN_WORD_SECONDS and last not in chosen:
            last += 1
        if last > k + 1:
            _share(words, starts, ends, k + 1, last, starts[k + 1], ends[last])
    if lead is not None and start + lead < ends[0]:
        starts[0] = start + lead
    if tail is not None and start + tail > starts[-1]:
        ends[-1] = start + tail
    return [TimedWord(word.text, word_start, max(word_end, word_start), word.probability)
            for word, word_start, word_end in zip(words, starts, ends)]


def _boundary_for(words: list[TimedWord], starts: list[float], ends: list[float], quiet_start: float,
                  quiet_end: float) -> int | None:
    """The word boundary a pause belongs to: the nearest one after a word ending in punctuation, else the
    nearest one whose words lie either side of the pause (both within MAX_SHIFT_SECONDS), else None."""
    best, best_distance, marked, marked_distance = None, MAX_SHIFT_SECONDS, None, MAX_SHIFT_SECONDS
    for k in range(len(words) - 1):
        boundary = starts[k + 1]
        distance = max(quiet_start - boundary, boundary - quiet_end, 0.0)
        if words[k].text.rstrip("\"'”’)]").endswith(_PUNCTUATION) and distance <= marked_distance:
            marked, marked_distance = k, distance
        if distance <= best_distance and starts[k] < quiet_start and quiet_end < ends[k + 1]:
            best, best_distance = k, distance
    return marked if marked is not None else best


def _share(words: list[TimedWord], starts: list[float], ends: list[float], first: int, last: int, start: float,
           end: float) -> None:
    """Words first..last laid end to end over start..end, each by its length."""
    lengths = [max(len(words[i].text), 1) for i in range(first, last + 1)]
    total, done = sum(lengths), 0
    for offset, length in enumerate(lengths):
        starts[first + offset] = start + (end - start) * done / total
        done += length
        ends[first + offset] = start + (end - start) * done / total


def _silences(samples: np.ndarray) -> tuple[list[tuple[float, float]], float | None, float | None] | None:
    """The pauses in `samples` (16 kHz) as (start, end) seconds, and where the first sound starts and the
    last stops. A pause is a run of 10 ms frames quieter than a threshold set between the clip's noise
    floor and its speech level, at least MIN_PAUSE_SECONDS long. None when no speech stands out."""
    hop = int(FRAME_SECONDS * SAMPLE_RATE)
    count = len(samples) // hop
    if count < 3:
        return None
    frames = samples[: count * hop].reshape(count, hop)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    loud, floor = np.percentile(level, 95), np.percentile(level, 5)
    if loud - floor < 15:
        return None
    sound = np.flatnonzero(level >= max(floor + 0.35 * (loud - floor), loud - 40))
    if not len(sound):
        return None
    pauses = [(sound[i] + 1, sound[i + 1]) for i in np.flatnonzero(np.diff(sound) * FRAME_SECONDS > MIN_PAUSE_SECONDS)]
    return ([(a * FRAME_SECONDS, b * FRAME_SECONDS) for a, b in pauses], sound[0] * FRAME_SECONDS,
            (sound[-1] + 1) * FRAME_SECONDS)
