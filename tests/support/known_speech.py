"""Speech whose sentence boundaries are known by construction (issue 18's alignment target).

Each sentence is spoken on its own by Piper, trimmed to its sound (from the first to the last sample
louder than 40 dB below its peak), and the sentences are joined with silences of known, varied
lengths; a quiet noise floor runs under everything, so nothing can find the edges by looking for
digital silence. The sentences are grouped into chunks as a generation would group them, and each
chunk's window reaches halfway into the gaps either side, as ChunkedOutput.timeline's windows include
the engine's own silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utter.audio.codec import resample
from utter.audio.text import chunk_text

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "She sells sea shells by the sea shore.",
    "Every morning I walk to the river and listen to the birds.",
    "Our meeting starts at nine, so please bring the report.",
    "Rain fell all night on the old tin roof.",
    "He opened the letter slowly and read it twice.",
    "Nobody expected the small team to win the final.",
    "Turn left at the bakery, then walk two blocks north.",
    "The museum closes early on Sundays.",
    "Fresh bread smells better than almost anything else.",
    "Could you send me the photos from the trip?",
    "The engine hummed quietly as the ship left the harbour.",
    "We planted tomatoes, beans and a row of sunflowers.",
    "Her grandfather built the table by hand.",
    "Please switch off the lights when you leave.",
)
GAPS = (0.15, 0.6, 0.3, 0.9, 0.2, 0.45, 0.35, 1.2, 0.25, 0.5, 0.7, 0.18, 0.4, 0.8, 0.3)
NOISE_DBFS = -55.0
RATE = 16000


@dataclass(frozen=True)
class KnownSpeech:
    samples: np.ndarray  # 16 kHz mono float32
    sentences: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]  # each sentence's first and last sound, in seconds
    chunks: tuple[tuple[int, int, float, float], ...]  # (first sentence, last sentence + 1, window start, end)


def build(engine, sentences=SENTENCES, gaps=GAPS, max_chars: int = 200, seed: int = 18) -> KnownSpeech:
    """`engine` is a loaded PiperEngine."""
    from utter.adapters.tts.base import SpeechJob

    rate = engine.info.capabilities.sample_rate
    clips = []
    for sentence in sentences:
        audio = resample(np.concatenate(list(engine.synthesize(SpeechJob(sentence, "en")))), rate, RATE)
        loud = np.flatnonzero(np.abs(audio) > np.abs(audio).max() * 10 ** (-40 / 20))
        clips.append(audio[loud[0]: loud[-1] + 1])
    lead = 0.5
    pieces, bounds, position = [np.zeros(int(lead * RATE), np.float32)], [], lead
    for index, clip in enumerate(clips):
        bounds.append((position, position + len(clip) / RATE))
        pieces.append(clip)
        position += len(clip) / RATE
        gap = gaps[index % len(gaps)] if index < len(clips) - 1 else 0.5
        pieces.append(np.zeros(int(round(gap * RATE)), np.float32))
        position += int(round(gap * RATE)) / RATE
    samples = np.concatenate(pieces).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, 10 ** (NOISE_DBFS / 20), len(samples)).astype(np.float32)
    samples = samples + noise
    # Group sentences into chunks the way a generation does, and give each chunk its window.
    grouped = chunk_text(" ".join(sentences), max_chars)
    chunks, first = [], 0
    for chunk in grouped:
        count = _count(chunk, sentences, first)
        last = first + count
        before = bounds[first][0] - (bounds[first][0] - (bounds[first - 1][1] if first else 0.0)) / 2
        after_end = bounds[last][0] if last < len(bounds) else len(samples) / RATE
        after = bounds[last - 1][1] + (after_end - bounds[last - 1][1]) / 2
        chunks.append((first, last, before, after))
        first = last
    return KnownSpeech(samples, tuple(sentences), tuple(bounds), tuple(chunks))


def _count(chunk: str, sentences, first: int) -> int:
    text, count = "", 0
    while text != chunk:
        text = f"{text} {sentences[first + count]}".strip()
        count += 1
    return count
