"""Qwen3-TTS on a CPU: every path side by side, at the published 0.6B Base sizes (random weights).

    .venv/bin/python benchmarks/qwen_cpu.py [--frames 24] [--rounds 2] [--threads 1] [--json qwen_cpu.json]
                                            [--skip-qwen-tts] [--tiny]

Builds the real-size random checkpoint in memory (`build_real_size` from qwen_gpu.py; speed
depends on shapes, not values; the codec's codebooks and convolutions get audible random
weights so that its output can be compared) and, in one run, clones a voice in context
(3 s reference and its transcript, qwen-tts's default sampling) with:

- qwen-tts `generate_voice_clone` (float32): the baseline;
- the core, float32, codec float32: exact (greedy codes equal qwen-tts's);
- the core, float32, codec bfloat16: what `UTTER_QWEN_CPU_PRECISION=auto` runs where the CPU
  has native bfloat16;
- the core, int8 linear layers, codec bfloat16: `UTTER_QWEN_CPU_PRECISION=int8`;
- the core on the whole model in bfloat16 (`UTTER_QWEN_DTYPE=bfloat16`).

Rounds alternate the paths (the machine may be shared) and each row is the median. Each row:
ms per frame and real-time factor end to end (prompt, prefill, steps, codec; a frame is 80 ms of
audio), the split between step and codec, first audio, and the resident memory of the process
after that path's model was made (peak RSS overall at the end). Then the accuracy of the
lower-precision paths against float32 on the same inputs: relative error of the talker's hidden
states and logits and of the code predictor's logits (teacher-forced), top-1 agreement, and the
codec's SNR in bfloat16. Random weights say nothing about how speech sounds: these numbers
bound the arithmetic, not the quality.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", category=DeprecationWarning)

from benchmarks.qwen_gpu import TEXT, TRANSCRIPT, build_real_size, load_tiny  # noqa: E402

FRAME_SECONDS = 0.08


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def audible_codec(model) -> None:
    """Random but audible codec weights (the library's init makes silence), as the tests' tiny codec."""
    import torch

    decoder = model.model.speech_tokenizer.model.decoder
    with torch.no_grad():
        torch.manual_seed(1)
        for name, param in decoder.quantizer.named_parameters():
            if name.endswith("embedding_sum"):
                param.normal_(0.0, 1.0)
        for module in decoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()


def clone_model(wrapper, dtype=None):
    """A Qwen3TTSModel for another path, without a second float32 copy of the weights.

    With `dtype`, every weight is converted as it is copied. Without, the talker's and
    speaker encoder's weights are shared with `wrapper` (prepare_cpu replaces the linear
    layers with new modules and leaves the shared tensors as they are) and only the codec,
    which prepare_cpu converts in place, is copied.
    """
    import torch
    from qwen_tts import Qwen3TTSModel

    tts = wrapper.model
    memo: dict = {}
    for name in ("supported_speakers", "supported_languages"):  # dict_keys views, which deepcopy refuses
        value = getattr(tts, name, None)
        if value is not None:
            memo[id(value)] = value
    codec_memo = {}
    for p in tts.parameters():
        memo[id(p)] = p if dtype is None else torch.nn.Parameter(p.detach().to(dtype), requires_grad=False)
    if dtype is not None:
        for p in tts.speech_tokenizer.model.parameters():
            codec_memo[id(p)] = torch.nn.Parameter(p.detach().to(dtype), requires_grad=False)
    speech = copy.copy(tts.speech_tokenizer)
    speech.model = copy.deepcopy(tts.speech_tokenizer.model, memo=codec_memo)
    memo[id(tts.speech_tokenizer)] = speech
    twin = copy.deepcopy(tts, memo=memo)
    return Qwen3TTSModel(model=twin, processor=wrapper.processor, generate_defaults=wrapper.generate_defaults)


def time_qwen_tts(model, prompt, frames: int) -> dict:
    import torch

    captured = {}
    original = model.model.generate

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        captured["codes"] = result[0][0]
        return result

    model.model.generate = wrapped
    try:
        torch.manual_seed(0)
        start = time.perf_counter()
        model.generate_voice_clone(TEXT, language="English", voice_clone_prompt=prompt, max_new_tokens=frames + 1)
        seconds = time.perf_counter() - start
    finally:
        del model.model.generate
    made = int(captured["codes"].shape[0])
    return dict(frames=made, seconds=seconds, first_audio=seconds)  # all audio comes at the end


def time_core(core, prompt, frames: int) -> dict:
    from utter.adapters.tts.qwen_core import Sampling

    before = dict(core.seconds)
    start = time.perf_counter()
    stream = core.clone(prompt, TEXT, "English", sampling=Sampling(seed=0), max_new_tokens=frames + 1)
    for _ in stream:
        pass
    seconds = time.perf_counter() - start
    split = {k: v - before.get(k, 0.0) for k, v in core.seconds.items()}
    return dict(frames=int(stream.codes.shape[0]), seconds=seconds, first_audio=stream.first_audio,
                step=split.get("step", 0.0), codec=split.get("codec", 0.0), prefill=split.get("prefill", 0.0))


def summarise(label: str, runs: list[dict], rss: float | None) -> dict:
    frames = runs[0]["frames"]
    per_frame = statistics.median(r["seconds"] / r["frames"] for r in runs)
    out = dict(label=label, frames=frames, runs=len(runs), ms_per_frame=round(1000 * per_frame, 1),
               real_time_factor=round(per_frame / FRAME_SECONDS, 2),
               first_audio_s=round(statistics.median(r["first_audio"] for r in runs), 2))
    if "step" in runs[0]:
        out["step_ms_per_frame"] = round(1000 * statistics.median(r["step"] / r["frames"] for r in runs), 1)
        out["codec_ms_per_frame"] = round(1000 * statistics.median(r["codec"] / r["frames"] for r in runs), 1)
        out["prefill_s"] = round(statistics.median(r["prefill"] for r in runs), 2)
    out["all_ms_per_frame"] = [round(1000 * r["seconds"] / r["frames"], 1) for r in runs]
    if rss is not None:
        out["rss_mb"] = round(rss)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="frames per generation (80 ms each)")
    parser.add_argument("--rounds", type=int, default=2, help="alternate the paths this many times (medians)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads of the core (0: the automatic choice)")
    parser.add_argument("--skip-qwen-tts", action="store_true")
    parser.add_argument("--skip-bf16-model", action="store_true", help="leave out the whole model in bfloat16")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny checkpoint (a smoke test of the script)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import soundfile as sf
    import torch

    from tests.qwen.conftest import write_wav
    from utter.adapters.tts.qwen_core import QwenCore
    from utter.adapters.tts.qwen_core.cpu import codec_snr, output_errors, prepare_cpu
    from utter.adapters.tts.qwen_core.prompt import build_prompt
    from utter.adapters.tts.qwen_core.speed import default_threads, native_bf16, probe_bandwidth

    threads = args.threads or default_threads()
    torch.set_num_threads(threads)  # qwen-tts's generate runs in this thread; the core sets its own
    bandwidth = probe_bandwidth()
    results: dict = dict(cpu=f"{os.cpu_count()} cores, native bfloat16: {native_bf16()}", threads=threads,
                         bandwidth_gb_s=round(bandwidth / 1e9, 1), frames=args.frames, rounds=args.rounds,
                         load_average=os.getloadavg()[0],
                         model="tiny test checkpoint" if args.tiny else "random, published 0.6B Base shapes", rows=[])
    print(f"CPU: {results['cpu']}, {threads} thread(s), {results['bandwidth_gb_s']} GB/s (numpy sum, 1 thread), "
          f"load average {results['load_average']:.2f}; {args.frames} frames, {args.rounds} rounds; {results['model']}",
          flush=True)

    start = time.perf_counter()
    model = load_tiny("cpu", torch.float32) if args.tiny else build_real_size("cpu", torch.float32)
    if not args.tiny:
        audible_codec(model)
    results["build_s"] = round(time.perf_counter() - start, 1)
    base_rss = rss_mb()
    print(f"built in {results['build_s']} s, RSS {base_rss:.0f} MB", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        audio, rate = sf.read(str(write_wav(Path(tmp) / "ref.wav", seconds=3.0)), dtype="float32")
    prompt = model.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=TRANSCRIPT, x_vector_only_mode=False)
    embeds = build_prompt(model, TEXT, "English", clone_item=prompt[0]).embeds

    # The variants: each its own copy of the weights, made from the float32 model.
    paths: dict[str, tuple] = {}
    rss: dict[str, float] = {}

    def core_for(wrapper):
        return QwenCore(wrapper, max_batch=1, cpu_threads=threads)

    paths["core float32 (exact), codec float32"] = (model, core_for(model))
    rss["core float32 (exact), codec float32"] = base_rss
    before = rss_mb()
    auto = clone_model(model)
    auto_path = prepare_cpu(auto, "auto", codec="bfloat16" if native_bf16() else "float32", threads=threads)
    paths[f"core float32, codec {auto_path.codec_dtype} (auto)"] = (auto, core_for(auto))
    rss[f"core float32, codec {auto_path.codec_dtype} (auto)"] = rss_mb() - before
    before = rss_mb()
    int8 = clone_model(model)
    int8_path = prepare_cpu(int8, "int8", codec="bfloat16" if native_bf16() else "float32", threads=threads)
    gc.collect()
    paths[f"core int8, codec {int8_path.codec_dtype}"] = (int8, core_for(int8))
    rss[f"core int8, codec {int8_path.codec_dtype}"] = rss_mb() - before
    if not args.skip_bf16_model:
        before = rss_mb()
        bf16 = clone_model(model, torch.bfloat16)
        paths["core, whole model bfloat16"] = (bf16, core_for(bf16))
        rss["core, whole model bfloat16"] = rss_mb() - before
    results["weights_gb_per_frame"] = {"float32": round(auto_path.weight_bytes_per_frame / 1e9, 2),
                                       "int8": round(int8_path.weight_bytes_per_frame / 1e9, 2)}
    print("variants made; RSS now", round(rss_mb()), "MB (RSS: the float32 process; +N: what each other path's "
          "own weights add, sharing what it does not change)", flush=True)

    # warm every path once (first-call allocations, the voice's codec priming), then alternate
    for _, core in paths.values():
        list(core.clone(prompt, TEXT, "English", max_new_tokens=3))
    if not args.skip_qwen_tts:
        model.generate_voice_clone(TEXT, language="English", voice_clone_prompt=prompt, max_new_tokens=3)
    runs: dict[str, list] = {label: [] for label in paths}
    qwen_runs = []
    for round_ in range(args.rounds):
        if not args.skip_qwen_tts:
            qwen_runs.append(time_qwen_tts(model, prompt, args.frames))
        for label, (_, core) in paths.items():
            runs[label].append(time_core(core, prompt, args.frames))
        print(f"round {round_ + 1} done", flush=True)

    def show(entry: dict) -> None:
        results["rows"].append(entry)
        split = (f"   step {entry['step_ms_per_frame']} + codec {entry['codec_ms_per_frame']} ms/frame"
                 if "step_ms_per_frame" in entry else "")
        shared = entry["label"].startswith(("qwen-tts", "core float32 (exact)"))
        memory = f"   RSS {'' if shared else '+'}{entry['rss_mb']} MB" if "rss_mb" in entry else ""
        print(f"  {entry['label']:<40} {entry['ms_per_frame']:>7} ms/frame   RTF {entry['real_time_factor']:>5}   "
              f"first audio {entry['first_audio_s']} s{split}{memory}   (runs {entry['all_ms_per_frame']})", flush=True)

    print("speed (median of rounds):", flush=True)
    if qwen_runs:
        show(summarise("qwen-tts generate, float32", qwen_runs, base_rss))
    for label in paths:
        show(summarise(label, runs[label], rss.get(label)))
    for _, core in paths.values():
        core.close()

    print("accuracy against float32 on the same inputs (random weights: arithmetic, not quality):", flush=True)
    codes = torch.randint(0, 2048, (16,), generator=torch.Generator().manual_seed(0))  # one frame, teacher-forced
    accuracy = {}
    for label, (wrapper, _) in paths.items():
        if wrapper is model:
            continue
        errors = output_errors(model, wrapper, embeds, codes)
        accuracy[label] = errors
        print(f"  {label:<40} talker hidden {errors['talker_hidden']:.4f}  logits {errors['talker_logits']:.4f} "
              f"(top-1 {errors['talker_top1_agreement']:.3f})   predictor logits {errors['predictor_logits']:.4f} "
              f"(top-1 {errors['predictor_top1_agreement']:.3f})", flush=True)
    frames_codes = torch.randint(0, 2048, (1, 48, 16), generator=torch.Generator().manual_seed(2))
    for label, (wrapper, _) in paths.items():
        tokenizer = wrapper.model.speech_tokenizer
        if next(tokenizer.model.decoder.parameters()).dtype == torch.float32:
            continue
        snr = codec_snr(model.model.speech_tokenizer, tokenizer, frames_codes)
        accuracy.setdefault(label, {})["codec_snr_db"] = round(snr, 1)
        print(f"  {label:<40} codec SNR {snr:.1f} dB (48 frames in 8-frame pieces)", flush=True)
    results["accuracy"] = accuracy
    results["peak_rss_mb"] = round(peak_rss_mb())
    print(f"peak RSS of the whole run: {results['peak_rss_mb']} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
