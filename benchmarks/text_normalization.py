"""Text said right (issue 17): what Whisper hears of Piper's speech, as written and in words.

    .venv/bin/python benchmarks/text_normalization.py [--show]

On the sentences of tests/support/normalization_set.py (money, decimals, percentages, times, dates,
years, ordinals, units, abbreviations read by context, titles before names, telephone numbers),
Piper speaks each sentence as written and after audio/text_normalization.py; Whisper tiny.en transcribes
both, and each is scored against how the sentence should sound (word error rate, both sides in
Whisper's English normal form). Also prints what the normaliser costs a sentence that needs it,
against what Piper takes to speak that sentence, and that prose it passes through costs nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))

from tests.support.normalization_set import SENTENCES, SPOKEN, heard_error  # noqa: E402
from utter.adapters.asr import build_transcriber  # noqa: E402
from utter.adapters.tts.base import SpeechJob  # noqa: E402
from utter.adapters.tts.piper_engine import PiperEngine  # noqa: E402
from utter.audio import text_normalization  # noqa: E402
from utter.config import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print what Whisper heard of each sentence")
    args = parser.parse_args()

    piper = PiperEngine()
    piper.load()
    whisper = build_transcriber(Settings(_env_file=None, asr="auto"))
    if whisper is None:
        sys.exit("faster-whisper is not installed: pip install -e '.[asr]'")
    whisper.load()
    words = text_normalization.shared()
    started = time.perf_counter()
    words.warm_up()
    print(f"grammars loaded in {time.perf_counter() - started:.1f} s (compiled on the first run on a machine)")

    as_written, heard_raw = heard_error(piper, whisper, SENTENCES)
    in_words, heard_words = heard_error(piper, whisper, SENTENCES, words.say)
    hard = [s for s in SENTENCES if s in SPOKEN]
    hard_written, _ = heard_error(piper, whisper, hard)
    hard_words, _ = heard_error(piper, whisper, hard, words.say)
    print(f"{len(SENTENCES)} sentences ({len(hard)} not said as written):")
    print(f"  word error rate, as written  {as_written:.3f}   (those {len(hard)}: {hard_written:.3f})")
    print(f"  word error rate, in words    {in_words:.3f}   (those {len(hard)}: {hard_words:.3f})")
    if args.show:
        for (sentence, raw), (_, said) in zip(heard_raw, heard_words):
            print(f"  {sentence}\n      as written: {raw}\n      in words:   {said}")

    costs, speaking = [], []
    for sentence in SENTENCES:
        started = time.perf_counter()
        words.say(sentence)
        costs.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in piper.synthesize(SpeechJob(sentence, "en")):
            pass
        speaking.append(time.perf_counter() - started)
    prose = "The lighthouse keeper climbed the stairs every evening before the sun went down. " * 5
    started = time.perf_counter()
    for _ in range(100):
        words.say(prose)
    passed = (time.perf_counter() - started) / 100
    print(f"normaliser per sentence: median {1000 * statistics.median(costs):.0f} ms, worst {1000 * max(costs):.0f} ms; "
          f"Piper speaking the same sentence: median {1000 * statistics.median(speaking):.0f} ms "
          f"(ratio {sum(costs) / sum(speaking):.2f})")
    print(f"prose passed through: {1000 * passed:.2f} ms for {len(prose)} characters")


if __name__ == "__main__":
    main()
