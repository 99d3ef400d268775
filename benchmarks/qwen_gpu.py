"""Qwen3-TTS speed: qwen-tts's own `generate` vs the fast decoding core (qwen_core), side by side.

    .venv/bin/python benchmarks/qwen_gpu.py [--frames 20] [--device auto|cpu|cuda] [--dtype auto|float32|bfloat16]
                                            [--streams 4,16,64] [--threads N] [--json qwen_gpu.json]

No weights can be downloaded here, so it builds a randomly initialised model with the
published 0.6B Base dimensions (talker 28 x 1024 with 16 heads / 8 KV heads of 128, code
predictor 5 layers, text vocab 151,936, the 12 Hz codec at full size) straight into
memory with qwen-tts's own classes: speed depends on shapes, not on values. Every
generation clones a voice in context (a 3 s reference and its transcript), samples with
qwen-tts's default settings, and is timed end to end (prompt, prefill, frames, codec):

- qwen-tts `generate_voice_clone` (one call, the whole clip at the end);
- the core, one stream: ms per frame, x real time (a frame is 80 ms of audio), time to
  first audio;
- on CUDA, the core with 4, 16 and 64 concurrent streams (total seconds of audio per
  second, and each stream's x real time), and faster-qwen3-tts when it can be imported;
- time to first audio through the whole service: the real app over HTTP with the Qwen
  engine on this model, POST /api/generate to the first bytes of its /stream, for a
  voice whose clone prompt is cached (median of 5, after one generation that caches it).

`--tiny` runs the same on the tests' tiny checkpoint (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "backend"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FRAME_SECONDS = 0.08
TEXT = ("The quick brown fox jumps over the lazy dog, twice, before breakfast, and then it takes a long nap "
        "in the warm afternoon sun while the dog watches.")
TRANSCRIPT = "This is the reference clip that the voice is cloned from."


def build_real_size(device: str, dtype):
    """A Qwen3TTSModel with the published 0.6B Base shapes and random weights, built in memory."""
    import torch
    from qwen_tts import Qwen3TTSModel
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration, Qwen3TTSProcessor
    from qwen_tts.core.tokenizer_12hz.configuration_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Config
    from qwen_tts.core.tokenizer_12hz.modeling_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Model
    from qwen_tts.inference.qwen3_tts_tokenizer import Qwen3TTSTokenizer
    from transformers import EncodecFeatureExtractor

    from tests.support import tiny_qwen

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = tiny_qwen.build_text_tokenizer(Path(tmp))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tiny_qwen.SPECIAL_TOKENS}
    layer = dict(num_attention_heads=16, num_key_value_heads=8, head_dim=128, hidden_size=1024, intermediate_size=3072)
    config = Qwen3TTSConfig(
        talker_config=dict(
            vocab_size=3072, num_hidden_layers=28, max_position_embeddings=32768, num_code_groups=16,
            text_hidden_size=2048, text_vocab_size=151936, rope_theta=1000000.0,
            rope_scaling={"rope_type": "default", "mrope_section": [24, 20, 20], "interleaved": True},
            spk_id={}, spk_is_dialect={}, codec_language_id=tiny_qwen.LANGUAGE_IDS,
            code_predictor_config=dict(vocab_size=2048, num_hidden_layers=5, num_code_groups=16,
                                       max_position_embeddings=65536, **layer),
            **layer, **tiny_qwen.CODEC_IDS,
        ),
        speaker_encoder_config=dict(enc_dim=1024, sample_rate=24000),
        tokenizer_type="qwen3_tts_tokenizer_12hz", tts_model_size="0b6", tts_model_type="base",
        im_start_token_id=ids["<|im_start|>"], im_end_token_id=ids["<|im_end|>"],
        tts_pad_token_id=ids["<|tts_pad|>"], tts_bos_token_id=ids["<|tts_text_bos|>"],
        tts_eos_token_id=ids["<|tts_text_eod|>"],
    )
    config._attn_implementation = "sdpa"
    config.talker_config._attn_implementation = "sdpa"
    config.talker_config.code_predictor_config._attn_implementation = "sdpa"
    codec_config = Qwen3TTSTokenizerV2Config(
        encoder_config=dict(num_quantizers=16, num_semantic_quantizers=1), decoder_config=dict(codebook_dim=512)
    )
    codec_config._attn_implementation = "sdpa"
    with torch.device(device):
        torch.manual_seed(0)
        model = Qwen3TTSForConditionalGeneration(config).eval()
        codec = Qwen3TTSTokenizerV2Model(codec_config).eval()
    model.to(dtype)
    codec.to(dtype)
    speech = Qwen3TTSTokenizer()
    speech.model, speech.config, speech.device = codec, codec.config, torch.device(device)
    speech.feature_extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0)
    model.load_speech_tokenizer(speech)
    defaults = dict(do_sample=True, top_k=50, top_p=1.0, temperature=0.9, repetition_penalty=1.05,
                    subtalker_dosample=True, subtalker_top_k=50, subtalker_top_p=1.0, subtalker_temperature=0.9,
                    max_new_tokens=8192)
    model.load_generate_config(defaults)
    return Qwen3TTSModel(model=model, processor=Qwen3TTSProcessor(tokenizer=tokenizer), generate_defaults=defaults)


def load_tiny(device: str, dtype):
    from qwen_tts import Qwen3TTSModel

    from tests.support.qwen_fixtures import tiny_checkpoint

    return Qwen3TTSModel.from_pretrained(str(tiny_checkpoint("base")), device_map=device, dtype=dtype,
                                         attn_implementation="sdpa")


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def row(label: str, frames: int, seconds: float, first: float | None = None, cpu: float | None = None) -> dict:
    out = dict(label=label, frames=frames, seconds=round(seconds, 3),
               ms_per_frame=round(1000 * seconds / max(frames, 1), 1),
               x_real_time=round(frames * FRAME_SECONDS / seconds, 3) if seconds else None)
    if first is not None:
        out["first_audio_s"] = round(first, 3)
    if cpu is not None:  # CPU seconds of the whole process: the work done, whatever else runs on the machine
        out["cpu_ms_per_frame"] = round(1000 * cpu / max(frames, 1), 1)
    return out


def time_qwen_tts(model, prompt, frames: int, device: str) -> dict:
    import torch

    captured = {}
    original = model.model.generate

    def wrapped(*args, **kwargs):  # qwen-tts's own flow (generate + decode); count the frames on the side
        result = original(*args, **kwargs)
        captured["codes"] = result[0][0]
        return result

    model.model.generate = wrapped
    try:
        torch.manual_seed(0)
        sync(device)
        start, cpu = time.perf_counter(), time.process_time()
        model.generate_voice_clone(TEXT, language="English", voice_clone_prompt=prompt, max_new_tokens=frames + 1)
        sync(device)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        del model.model.generate
    return row("qwen-tts generate", int(captured["codes"].shape[0]), seconds, cpu=cpu)


def time_core_single(core, prompt, frames: int) -> dict:
    from utter.adapters.tts.qwen_core import Sampling

    before = dict(core.seconds)
    start, cpu = time.perf_counter(), time.process_time()
    stream = core.clone(prompt, TEXT, "English", sampling=Sampling(seed=0), max_new_tokens=frames + 1)
    for _ in stream:
        pass
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = row("core, 1 stream", int(stream.codes.shape[0]), seconds, stream.first_audio, cpu=cpu)
    out["split_s"] = {k: round(v - before.get(k, 0.0), 3) for k, v in core.seconds.items()}
    return out


def time_core_many(core, prompt, frames: int, n: int) -> dict:
    from utter.adapters.tts.qwen_core import Sampling

    start = time.perf_counter()
    streams = [core.clone(prompt, TEXT, "English", sampling=Sampling(seed=i), max_new_tokens=frames + 1) for i in range(n)]
    ends = []
    for stream in streams:
        stream.wait()
        ends.append(time.perf_counter())
    wall = max(ends) - start
    audio = sum(int(s.codes.shape[0]) for s in streams) * FRAME_SECONDS
    per_stream = [int(s.codes.shape[0]) * FRAME_SECONDS / (end - start) for s, end in zip(streams, ends)]
    firsts = [s.first_audio for s in streams if s.first_audio is not None]
    return dict(label=f"core, {n} streams", streams=n, wall_s=round(wall, 3),
                audio_s_per_s=round(audio / wall, 2),
                per_stream_x_real_time=dict(min=round(min(per_stream), 3), median=round(statistics.median(per_stream), 3)),
                first_audio_s_median=round(statistics.median(firsts), 3) if firsts else None)


def time_faster_qwen3_tts(model, prompt, frames: int, device: str, dtype) -> dict:
    try:
        from faster_qwen3_tts import FasterQwen3TTS
        from faster_qwen3_tts.predictor_graph import PredictorGraph
        from faster_qwen3_tts.talker_graph import TalkerGraph
    except Exception as exc:  # noqa: BLE001 - optional, and it needs transformers 5
        return dict(label="faster-qwen3-tts", skipped=f"not importable: {type(exc).__name__}: {exc}")
    try:
        talker = model.model.talker
        tc = model.model.config.talker_config
        fast = FasterQwen3TTS(
            base_model=model,
            predictor_graph=PredictorGraph(talker.code_predictor, talker.code_predictor.model.config, tc.hidden_size,
                                           device=device, dtype=dtype, do_sample=True, top_k=50, temperature=0.9),
            talker_graph=TalkerGraph(talker.model, tc, device=device, dtype=dtype, max_seq_len=2048),
            device=device, dtype=dtype, max_seq_len=2048,
        )
        fast.warmup()
        sync(device)
        start = time.perf_counter()
        wavs, rate = fast.generate_voice_clone(TEXT, "English", voice_clone_prompt=prompt, max_new_tokens=frames + 1)
        sync(device)
        seconds = time.perf_counter() - start
        return row("faster-qwen3-tts", round(len(wavs[0]) / rate / FRAME_SECONDS), seconds)
    except Exception as exc:  # noqa: BLE001
        return dict(label="faster-qwen3-tts", skipped=f"failed: {type(exc).__name__}: {exc}")


def time_service_first_audio(model, device: str, dtype, frames: int, repeats: int = 5) -> dict:
    """POST /api/generate -> first bytes of /stream through the real app, for a voice whose prompt is cached."""
    import httpx

    from tests.qwen.conftest import write_wav
    from tests.support.server import start_live_server
    from utter.adapters.storage import reference_key
    from utter.adapters.tts import qwen_inference as qi
    from utter.adapters.tts.qwen import QwenEngine
    from utter.audio import codec
    from utter.config import Settings
    from utter.models import TranscriptSource, Voice

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), engine="qwen", asr="off", workers=1,
                            qwen_model="in-memory", qwen_design_model="")
        engine = QwenEngine(settings, reason="benchmark", max_new_tokens=frames + 1)
        engine._base = qi.LoadedModel(model=model, source="in memory", device=device,
                                      dtype=str(dtype).removeprefix("torch."), attn="sdpa",
                                      languages=tuple(qi.QWEN_LANGUAGES))
        qi.attach_core(engine._base)
        server = start_live_server(settings, engine=engine)
        try:
            # The voice as a clone leaves it (a reference clip and its transcript), made directly:
            # the clone page's speech check would refuse the synthetic clip.
            voice = Voice(name="Benchmark", reference_seconds=3.0, reference_transcript=TRANSCRIPT,
                          transcript_source=TranscriptSource.TYPED, language="en")
            voice.reference_key = reference_key(str(voice.id))
            wav = write_wav(Path(tmp) / "reference.wav", seconds=3.0)
            server.ctx.storage.put_file(voice.reference_key, wav, "audio/wav")
            with server.ctx.sessions() as session:
                session.add(voice)
                session.commit()
                voice_id = str(voice.id)
            firsts = []
            with httpx.Client(base_url=server.url, timeout=120) as client:
                for attempt in range(repeats + 1):  # the first caches the voice's prompt
                    start = time.perf_counter()
                    queued = client.post("/api/generate", json={"voice_id": voice_id, "text": TEXT, "language": "en"})
                    queued.raise_for_status()
                    with client.stream("GET", queued.json()["stream_url"]) as streamed:
                        for data in streamed.iter_bytes():
                            if data:
                                if attempt:
                                    firsts.append(time.perf_counter() - start)
                                break
                    while client.get(queued.json()["status_url"]).json()["status"] in ("queued", "running"):
                        time.sleep(0.05)
            return dict(label="service first audio", first_audio_s_median=round(statistics.median(firsts), 3),
                        first_audio_s_min=round(min(firsts), 3), runs=len(firsts))
        finally:
            server.stop()
            engine.close()


def best(rows: list[dict]) -> dict:
    """The fastest of repeated runs (the machine may be shared), with the median alongside."""
    top = dict(min(rows, key=lambda r: r["seconds"]))
    if len(rows) > 1:
        top["median_ms_per_frame"] = round(statistics.median(r["ms_per_frame"] for r in rows), 1)
        top["runs"] = len(rows)
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per generation (80 ms each)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--streams", default=None, help="concurrent streams for the core (default: 4,16,64 on CUDA, 4 on CPU)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on CPU, for both (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=1, help="alternate qwen-tts and the core this many times, keep the best")
    parser.add_argument("--skip-qwen-tts", action="store_true")
    parser.add_argument("--skip-service", action="store_true", help="leave out first audio through the whole service")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny checkpoint instead of the real shapes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from tests.qwen.conftest import write_wav
    from utter.adapters.tts.qwen_core import QwenCore

    device = ("cuda:0" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    on_cuda = device.startswith("cuda")
    if args.threads and not on_cuda:
        torch.set_num_threads(args.threads)
    if args.dtype == "auto":
        dtype = torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32
    else:
        dtype = getattr(torch, args.dtype)
    name = (torch.cuda.get_device_name(device) if on_cuda
            else f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)")
    results: dict = dict(device=name, dtype=str(dtype).removeprefix("torch."), frames=args.frames,
                         model="tiny test checkpoint" if args.tiny else "random, published 0.6B Base shapes", rows=[])
    print(f"device: {name}   dtype: {results['dtype']}   frames: {args.frames}   model: {results['model']}", flush=True)

    start = time.perf_counter()
    model = load_tiny(device, dtype) if args.tiny else build_real_size(device, dtype)
    results["build_s"] = round(time.perf_counter() - start, 1)
    print(f"built in {results['build_s']} s", flush=True)

    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        audio, rate = sf.read(str(write_wav(Path(tmp) / "ref.wav", seconds=3.0)), dtype="float32")
    start = time.perf_counter()
    prompt = model.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=TRANSCRIPT, x_vector_only_mode=False)
    results["clone_prompt_s"] = round(time.perf_counter() - start, 2)

    streams = [int(s) for s in (args.streams or ("4,16,64" if on_cuda else "4")).split(",") if s]
    start = time.perf_counter()
    core = QwenCore(model, max_batch=max(streams + [1]))
    core.warmup()
    results["core_setup_s"] = round(time.perf_counter() - start, 2)
    results["core"] = dict(max_batch=core.max_batch, cache_len=core.cache_len, cuda_graphs=core.use_graphs)

    def show(entry: dict) -> None:
        results["rows"].append(entry)
        if "skipped" in entry:
            print(f"  {entry['label']:<24} {entry['skipped']}", flush=True)
        elif entry["label"] == "service first audio":
            print(f"  {entry['label']:<24} median {entry['first_audio_s_median']} s, best {entry['first_audio_s_min']} s "
                  f"(POST /api/generate to the first bytes of /stream, prompt cached, {entry['runs']} runs)", flush=True)
        elif "streams" in entry:
            print(f"  {entry['label']:<24} {entry['audio_s_per_s']:>8} s of audio per s   per stream x RT "
                  f"min {entry['per_stream_x_real_time']['min']} median {entry['per_stream_x_real_time']['median']}   "
                  f"first audio {entry['first_audio_s_median']} s", flush=True)
        else:
            extra = f"   first audio {entry['first_audio_s']} s" if "first_audio_s" in entry else ""
            if "cpu_ms_per_frame" in entry:
                extra += f"   cpu {entry['cpu_ms_per_frame']} ms/frame"
            if "split_s" in entry:
                extra += "   [" + ", ".join(f"{k} {v} s" for k, v in entry["split_s"].items()) + "]"
            median = f"   (median of {entry['runs']}: {entry['median_ms_per_frame']} ms)" if "runs" in entry else ""
            print(f"  {entry['label']:<24} {entry['ms_per_frame']:>8} ms/frame   {entry['x_real_time']:>6} x real time   "
                  f"({entry['frames']} frames in {entry['seconds']} s){extra}{median}", flush=True)

    # warm both paths once (first-call allocations, lazy inits, the voice's codec priming), then time
    if not args.skip_qwen_tts:
        model.generate_voice_clone(TEXT, language="English", voice_clone_prompt=prompt, max_new_tokens=3)
    list(core.clone(prompt, TEXT, "English", max_new_tokens=3))
    print("results:", flush=True)
    qwen_runs, core_runs = [], []
    for _ in range(max(1, args.repeats)):
        if not args.skip_qwen_tts:
            qwen_runs.append(time_qwen_tts(model, prompt, args.frames, device))
        core_runs.append(time_core_single(core, prompt, args.frames))
    if qwen_runs:
        show(best(qwen_runs))
    show(best(core_runs))
    for n in streams:
        if n <= 1:
            continue
        if n <= core.max_batch:
            show(time_core_many(core, prompt, args.frames, n))
        else:
            show(dict(label=f"core, {n} streams", skipped=f"more than max_batch={core.max_batch}"))
    core.close()
    if not args.skip_service:
        show(time_service_first_audio(model, device, dtype, args.frames))
    if on_cuda:
        show(time_faster_qwen3_tts(model, prompt, args.frames, device, dtype))
    qwen = next((r for r in results["rows"] if r["label"] == "qwen-tts generate"), None)
    single = next(r for r in results["rows"] if r["label"] == "core, 1 stream")
    if qwen:
        results["core_speedup"] = round(qwen["ms_per_frame"] / single["ms_per_frame"], 2)
        print(f"core single stream vs qwen-tts: {results['core_speedup']}x faster per frame", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
