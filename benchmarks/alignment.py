"""How close word timings come to the truth, and what aligning costs (issue 18).

    .venv/bin/python benchmarks/alignment.py

Builds speech whose sentence boundaries are known by construction (tests/support/known_speech.py:
sixteen sentences spoken separately by Piper, joined with gaps of 0.15-1.2 s over a -55 dBFS noise
floor, grouped into 200-character chunks as a generation is), aligns the known words of each chunk
inside its window with Whisper tiny.en, and prints the error of every sentence's aligned start and
end against where it really starts and ends: median and 90th percentile, with and without the
energy refinement of the edges, and the time aligning took as a fraction of the audio's length.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

from tests.support.known_speech import RATE, build  # noqa: E402
from utter.adapters.asr import WhisperTranscriber, default_model  # noqa: E402
from utter.adapters.tts.piper_engine import PiperEngine  # noqa: E402
from utter.audio.alignment import Aligner, Span  # noqa: E402


def sentence_errors(known, timed_chunks) -> tuple[list[float], list[float]]:
    """Seconds between each sentence's aligned and true start, and end."""
    starts, ends = [], []
    for (first, last, _, _), words in zip(known.chunks, timed_chunks):
        position = 0
        for index in range(first, last):
            count = len(known.sentences[index].split())
            sentence = words[position: position + count]
            position += count
            starts.append(abs(sentence[0].start - known.bounds[index][0]))
            ends.append(abs(sentence[-1].end - known.bounds[index][1]))
    return starts, ends


def spans_of(known) -> list[Span]:
    return [Span(tuple(" ".join(known.sentences[first:last]).split()), start, end)
            for first, last, start, end in known.chunks]


def main() -> None:
    engine = PiperEngine()
    engine.load()
    known = build(engine)
    seconds = len(known.samples) / RATE
    model, name = default_model()
    transcriber = WhisperTranscriber(model, name=name)
    transcriber.load()
    spans = spans_of(known)
    print(f"{len(known.sentences)} sentences, {len(spans)} chunks, {seconds:.1f} s of audio; {name}")
    for refine in (False, True):
        aligner = Aligner(transcriber, "en", refine=refine)
        aligner.align(known.samples, spans)  # warm up
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            timed = aligner.align(known.samples, spans)
            runs.append(time.perf_counter() - started)
        starts, ends = sentence_errors(known, timed)
        both = starts + ends
        label = "DTW edges refined by energy" if refine else "Whisper DTW alone"
        print(f"{label}: error median {statistics.median(both) * 1000:.0f} ms, "
              f"90th percentile {np.percentile(both, 90) * 1000:.0f} ms "
              f"(starts {statistics.median(starts) * 1000:.0f} ms, ends {statistics.median(ends) * 1000:.0f} ms, "
              f"worst {max(both) * 1000:.0f} ms); cost {statistics.median(runs):.2f} s = "
              f"{statistics.median(runs) / seconds:.3f}x real time")


if __name__ == "__main__":
    main()
