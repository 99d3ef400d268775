"""What the Qwen engine costs over qwen-tts itself, and what the cached voice prompt saves.

    .venv/bin/python benchmarks/qwen_overhead.py [--runs 7] [--tokens 24] [--json qwen_overhead.json]

Runs on the tiny randomly initialised checkpoint the tests build (no real weights here),
so absolute times say little; the ratios are what matter, each against a baseline
measured in the same run:

- overhead: QwenEngine.synthesize with a cached prompt vs calling
  Qwen3TTSModel.generate_voice_clone directly with the same prompt, text, seed and
  max_new_tokens (the engine adds prompt deserialisation, validation, bookkeeping);
- prompt cache: the prompt step alone (read the clip and build the prompt, vs load the
  cached bytes), and a voice's first generation (read the clip, build the prompt, generate)
  vs later ones (prompt from the cache), and vs qwen-tts re-processing the reference
  on every call (passing ref_audio each time, as an engine without a cache would).
"""

from __future__ import annotations

import argparse
import json
import statistics
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT = "The quick brown fox jumps over the lazy dog, twice, before breakfast."
TRANSCRIPT = "This is the reference clip that the voice is cloned from."


def timed(fn) -> tuple[float, object]:
    """CPU seconds of this process: with one torch thread that is the work done, and unlike
    wall time it does not swing with whatever else the (2-core, shared) machine runs."""
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=24, help="max_new_tokens for every generation")
    parser.add_argument("--reference-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps timings steady on a busy machine)")
    parser.add_argument("--json", type=Path, default=Path("qwen_overhead.json"))
    args = parser.parse_args()

    import numpy as np
    import torch
    from qwen_tts import Qwen3TTSModel

    from tests.qwen.conftest import MemoryPromptCache, write_wav
    from tests.support.qwen_fixtures import tiny_checkpoint
    from utter.config import Settings
    from utter.adapters.tts import qwen_inference as qi
    from utter.adapters.tts.base import SpeechJob, VoiceReference
    from utter.adapters.tts.qwen import QwenEngine

    torch.set_num_threads(args.threads)
    checkpoint = tiny_checkpoint("base")
    work = Path(tempfile.mkdtemp(prefix="qwen-bench-"))
    reference = write_wav(work / "reference.wav", seconds=args.reference_seconds)
    assert qi.token_budget(TEXT) >= args.tokens, "the runaway guard would cut the engine short"

    direct = Qwen3TTSModel.from_pretrained(str(checkpoint), device_map="cpu", dtype=torch.float32, attn_implementation="sdpa")
    engine = QwenEngine(Settings(data_dir=work, qwen_model=str(checkpoint), qwen_device="cpu"), max_new_tokens=args.tokens)
    engine.load()
    audio, rate = qi.read_audio(reference)
    prompt = direct.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=TRANSCRIPT)

    def run_direct(seed):
        torch.manual_seed(seed)
        wavs, _ = direct.generate_voice_clone(
            text=TEXT, language="English", voice_clone_prompt=prompt, max_new_tokens=args.tokens
        )
        return wavs[0]

    def run_engine(seed, cache, version="v1"):
        torch.manual_seed(seed)
        job = SpeechJob(TEXT, "en", VoiceReference("bench", reference, TRANSCRIPT, version))
        return np.concatenate(list(engine.synthesize(job, cache)))

    def run_uncached(seed):
        torch.manual_seed(seed)
        wavs, _ = direct.generate_voice_clone(
            text=TEXT, language="English", ref_audio=(audio, rate), ref_text=TRANSCRIPT, max_new_tokens=args.tokens
        )
        return wavs[0]

    # The engine's own work per call, measured directly: its time minus the time spent
    # inside qwen-tts's generate_voice_clone (far steadier than a difference of two runs).
    inside = []
    real_generate = engine._base.model.generate_voice_clone

    def timed_generate(**kwargs):
        seconds, result = timed(lambda: real_generate(**kwargs))
        inside.append(seconds)
        return result

    engine._base.model.generate_voice_clone = timed_generate

    warm = MemoryPromptCache()
    run_engine(0, warm)  # fills the cache
    run_direct(0)

    # Interleave the two so drift in machine load hits both alike.
    direct_times, engine_times, own_times, same_audio = [], [], [], True
    for seed in range(1, args.runs + 1):
        t_direct, a = timed(lambda: run_direct(seed))
        t_engine, b = timed(lambda: run_engine(seed, warm))
        direct_times.append(t_direct)
        engine_times.append(t_engine)
        own_times.append(t_engine - inside[-1])
        same_audio &= a.shape == b.shape and bool(np.allclose(a, b, atol=1e-5))

    first_times, later_times, uncached_times = [], [], []
    for seed in range(1, args.runs + 1):
        cache = MemoryPromptCache()
        first_times.append(timed(lambda: run_engine(seed, cache, version=f"first-{seed}"))[0])
        later_times.append(timed(lambda: run_engine(seed, cache, version=f"first-{seed}"))[0])
        uncached_times.append(timed(lambda: run_uncached(seed))[0])

    # Best of N: on a shared machine, interference only ever adds time (as timeit's docs argue).
    build_times, load_times = [], []
    for _ in range(args.runs):
        t_build, built = timed(lambda: qi.build_clone_prompt(engine._base, *qi.read_audio(reference), TRANSCRIPT))
        data = qi.serialise_prompt(engine._base, built)
        build_times.append(t_build)
        load_times.append(timed(lambda: qi.deserialise_prompt(engine._base, data))[0])

    best = min
    results = {
        "checkpoint": "tiny random Qwen3-TTS Base (tests/support/tiny_qwen.py)",
        "runs": args.runs,
        "max_new_tokens": args.tokens,
        "reference_seconds": args.reference_seconds,
        "torch_threads": args.threads,
        "clock": "process CPU time",
        "seconds": {
            "direct_qwen_tts": best(direct_times),
            "engine_cached_prompt": best(engine_times),
            "engine_first_generation": best(first_times),
            "engine_later_generation": best(later_times),
            "direct_reprocessing_reference": best(uncached_times),
            "prompt_build_from_reference": best(build_times),
            "prompt_load_from_cache": best(load_times),
        },
        "prompt_step_speedup": best(build_times) / best(load_times),
        "engine_overhead_ratio": best(engine_times) / best(direct_times),
        "engine_overhead_ms": (best(engine_times) - best(direct_times)) * 1000,
        "engine_own_work_ms": statistics.median(own_times) * 1000,
        "engine_own_work_fraction": statistics.median(own_times) / best(direct_times),
        "prompt_cache_speedup": best(first_times) / best(later_times),
        "cache_vs_reprocessing_speedup": best(uncached_times) / best(later_times),
        "same_audio_as_direct": same_audio,
    }

    s = results["seconds"]
    rows = [
        ("qwen-tts direct, prompt reused", s["direct_qwen_tts"], "1.00x (baseline)"),
        ("engine, prompt from cache", s["engine_cached_prompt"], f"{results['engine_overhead_ratio']:.3f}x baseline"),
        ("engine, first generation of a voice", s["engine_first_generation"], f"{results['prompt_cache_speedup']:.2f}x later"),
        ("engine, later generation", s["engine_later_generation"], "1.00x"),
        ("qwen-tts, reference processed every call", s["direct_reprocessing_reference"],
         f"{results['cache_vs_reprocessing_speedup']:.2f}x later"),
        ("  prompt step: read clip + build prompt", s["prompt_build_from_reference"],
         f"{results['prompt_step_speedup']:.0f}x the cached load"),
        ("  prompt step: load from cache", s["prompt_load_from_cache"], "1x"),
    ]
    print(f"best CPU time of {args.runs} runs, {args.tokens} new tokens, {args.reference_seconds:g} s reference, tiny checkpoint")
    print(f"{'':44} {'CPU s':>8}  ratio")
    for name, seconds, ratio in rows:
        print(f"{name:44} {seconds:8.4f}  {ratio}")
    print(
        f"engine vs direct: {results['engine_overhead_ms']:+.1f} ms per call (run-to-run noise included); "
        f"engine's own work outside qwen-tts: {results['engine_own_work_ms']:.2f} ms "
        f"({results['engine_own_work_fraction']:.2%} of a generation); same audio as direct: {same_audio}"
    )
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
