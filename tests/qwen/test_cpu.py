"""The CPU paths (qwen_core.cpu), the expected speed and `auto`'s choice on a CPU, on the tiny checkpoint.

Lower precision is checked against float32 on the same inputs: relative error of the talker's and
code predictor's outputs, and the codec's SNR. The real-size figures come from
benchmarks/qwen_cpu.py (docs/qwen.md); these checks keep the arithmetic honest in the suite.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("qwen_tts")

from utter.adapters.tts import qwen  # noqa: E402
from utter.adapters.tts.qwen_core import QwenCore, Sampling  # noqa: E402
from utter.adapters.tts.qwen_core import speed as sp  # noqa: E402
from utter.adapters.tts.qwen_core.cpu import (  # noqa: E402
    Int8Linear,
    codec_snr,
    int8_available,
    output_errors,
    prepare_cpu,
    resolve_precision,
    weight_bytes_per_frame,
)
from utter.adapters.tts.qwen_core.prompt import build_prompt  # noqa: E402
from utter.config import Settings  # noqa: E402

from .conftest import write_wav  # noqa: E402

N = 16
TEXT = "Another, rather longer sentence, to be spoken right now with commas!"
needs_int8 = pytest.mark.skipif(int8_available() is not None, reason=f"no int8 kernel: {int8_available()}")


def _load(path, dtype=None):
    from qwen_tts import Qwen3TTSModel

    return Qwen3TTSModel.from_pretrained(str(path), device_map="cpu", dtype=dtype or torch.float32,
                                         attn_implementation="sdpa")


@pytest.fixture(scope="module")
def reference(tiny_qwen_base_dir):
    return _load(tiny_qwen_base_dir)


@pytest.fixture(scope="module")
def int8_model(tiny_qwen_base_dir):
    if int8_available() is not None:
        pytest.skip(int8_available())
    model = _load(tiny_qwen_base_dir)
    path = prepare_cpu(model, "int8", codec="bfloat16", threads=1)
    assert path.precision == "int8" and path.codec_dtype == "bfloat16"
    return model


@pytest.fixture(scope="module")
def prompt_item(reference, tmp_path_factory):
    import soundfile as sf

    audio, rate = sf.read(str(write_wav(tmp_path_factory.mktemp("cpu") / "ref.wav", seconds=2.0)), dtype="float32")
    return reference.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=None, x_vector_only_mode=True)


def _codes(seed=0):
    return torch.randint(0, 2048, (16,), generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------- precision


@needs_int8
def test_int8_swaps_the_linear_layers_and_reads_a_quarter_of_the_bytes(reference, int8_model, tiny_qwen_base_dir):
    talker = int8_model.model.talker
    layer = talker.model.layers[0]
    assert isinstance(layer.self_attn.o_proj, Int8Linear) and isinstance(layer.mlp.down_proj, Int8Linear)
    assert isinstance(talker.code_predictor.model.layers[0].mlp.down_proj, Int8Linear)
    assert isinstance(talker.codec_head, torch.nn.Linear)  # the logits stay in float32
    heads = (sum(h.weight.numel() for h in talker.code_predictor.lm_head) + talker.codec_head.weight.numel()) * 4
    fp32, int8 = weight_bytes_per_frame(reference.model), weight_bytes_per_frame(int8_model.model, "int8")
    assert int8 - heads == (fp32 - heads) // 4
    # the estimate made from config.json (before loading) counts the same bytes
    config = json.loads((tiny_qwen_base_dir / "config.json").read_text())
    assert sp.weight_bytes_from_config(config, "float32") == fp32
    assert sp.weight_bytes_from_config(config, "int8") == int8


@needs_int8
def test_int8_outputs_stay_within_a_few_bfloat16_errors_of_float32(tiny_qwen_base_dir, reference, int8_model,
                                                                   prompt_item):
    embeds = build_prompt(reference, TEXT, "English", clone_item=prompt_item[0]).embeds
    bf16 = _load(tiny_qwen_base_dir, torch.bfloat16)
    int8_errors = output_errors(reference, int8_model, embeds, _codes())
    bf16_errors = output_errors(reference, bf16, embeds, _codes())
    for key in ("talker_hidden", "talker_logits", "predictor_logits"):
        assert 0 < int8_errors[key] < 0.03, (key, int8_errors)  # it is quantised, and not by much
        assert int8_errors[key] < 3 * bf16_errors[key], (key, int8_errors, bf16_errors)
    assert int8_errors["talker_top1_agreement"] >= 0.9 and int8_errors["predictor_top1_agreement"] >= 0.9
    # the check itself tells a broken model from a good one
    broken = _load(tiny_qwen_base_dir)
    with torch.no_grad():
        broken.model.talker.model.layers[0].mlp.down_proj.weight.mul_(-1)
        broken.model.talker.code_predictor.model.layers[0].mlp.down_proj.weight.mul_(-1)
    errors = output_errors(reference, broken, embeds, _codes())
    assert errors["talker_hidden"] > 0.03 and errors["predictor_logits"] > 0.03  # past the bound above


def test_bfloat16_codec_keeps_40_db(reference, tiny_qwen_base_dir):
    other = _load(tiny_qwen_base_dir)
    path = prepare_cpu(other, "float32", codec="bfloat16")
    assert (path.precision, path.codec_dtype) == ("float32", "bfloat16")
    codes = torch.randint(0, 2048, (2, 40, 16), generator=torch.Generator().manual_seed(1))
    snr = codec_snr(reference.model.speech_tokenizer, other.model.speech_tokenizer, codes)
    assert 30 < snr < 100  # close, and not identical: it did run in bfloat16
    assert codec_snr(reference.model.speech_tokenizer, reference.model.speech_tokenizer, codes) > 200


def test_default_cpu_path_keeps_qwen_tts_greedy_codes(reference, tiny_qwen_base_dir, prompt_item):
    """`auto` runs the talker and predictor in float32: the codes stay qwen-tts's exactly."""
    model = _load(tiny_qwen_base_dir)
    path = prepare_cpu(model, "auto")
    assert path.precision == "float32"
    with_spy = {}
    original = reference.model.generate

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        with_spy["codes"] = result[0][0]
        return result

    reference.model.generate = spy
    try:
        reference.generate_voice_clone(TEXT, language="English", voice_clone_prompt=prompt_item, do_sample=False,
                                       subtalker_dosample=False, max_new_tokens=N)
    finally:
        del reference.model.generate
    with QwenCore(model, max_batch=1, max_frames=32, max_prompt=192, cpu_threads=path.threads) as core:
        stream = core.clone(prompt_item, TEXT, "English", sampling=Sampling.greedy(), max_new_tokens=N)
        list(stream)
    assert torch.equal(stream.codes, with_spy["codes"])


@needs_int8
def test_int8_core_streams_a_whole_generation(int8_model, reference, prompt_item):
    with QwenCore(int8_model, max_batch=2, max_frames=32, max_prompt=192, cpu_threads=1) as core:
        streams = [core.clone(prompt_item, TEXT, "English", sampling=Sampling.greedy(), max_new_tokens=N)
                   for _ in range(2)]
        pieces = [list(s) for s in streams]
    for s, p in zip(streams, pieces):
        assert s.finish_reason == "length" and s.codes.shape == (N - 1, 16)
        audio = np.concatenate(p)
        assert len(p) >= 2 and audio.size == (N - 1) * 1920 and np.isfinite(audio).all()
    assert torch.equal(streams[0].codes, streams[1].codes)  # same prompt, greedy: same codes when batched


def test_precision_setting():
    assert resolve_precision("auto")[0] == "float32"
    assert resolve_precision("float32")[0] == "float32"
    assert resolve_precision("int8")[0] == ("int8" if int8_available() is None else "float32")
    with pytest.raises(ValueError):
        resolve_precision("int4")


# ------------------------------------------------------------------- speed


def test_speed_meter_prefers_recent_generations_and_ignores_tiny_ones():
    meter = sp.SpeedMeter(window=3)
    assert meter.estimate() is None
    meter.startup = sp.Run(frames=12, seconds=3.0, first_audio=1.0)  # (3 - 1) / 10 = 0.2 s a frame
    est = meter.estimate()
    assert est["source"] == "measured at start-up"
    assert est["real_time_factor"] == 2.5 and est["ms_per_frame"] == 200.0 and est["first_audio_seconds"] == 1.0
    assert math.isclose(sp.expected_wait(est, 140), 1.0 + 140 * 0.2 * 12.5 / 14, rel_tol=1e-3)
    meter.record(sp.Run(frames=3, seconds=9.0, first_audio=1.0))  # too short to say anything
    assert meter.estimate()["source"] == "measured at start-up"
    for per_frame in (0.1, 0.1, 0.3, 0.1):
        meter.record(sp.Run(frames=22, seconds=0.5 + 20 * per_frame, first_audio=0.5))
    est = meter.estimate()
    assert est["source"] == "median of the last 3 generations"
    assert est["ms_per_frame"] == 100.0 and est["first_audio_seconds"] == 0.5


@pytest.fixture
def engine(qwen_settings):
    engine = qwen.QwenEngine(qwen_settings, reason="test", max_new_tokens=12)
    yield engine
    engine.close()


def test_engine_measures_its_speed_at_start_then_from_generations(engine, qwen_settings, reference_wav):
    from utter.adapters.tts.base import SpeechJob, VoiceReference
    from utter.api.health import engine_summary

    assert engine.expected_speed() is None  # nothing measured before the model loads
    engine.load()
    est = engine.expected_speed()
    assert est["source"] == "measured at start-up" and est["real_time_factor"] > 0
    assert "CPU: float32 (exact)" in est["path"]
    stored = json.loads((qwen_settings.data_dir / sp.SPEED_FILE).read_text())
    assert stored["key"]["precision"] == "float32" and stored["estimate"]["ms_per_frame"] == est["ms_per_frame"]
    voice = VoiceReference(voice_id="v", audio_path=reference_wav, transcript="This is my reference clip.", version="1")
    list(engine.synthesize(SpeechJob("Hello from a measured voice.", "en", voice)))
    assert engine.expected_speed()["source"] == "median of the last 1 generation"
    summary = engine_summary(SimpleNamespace(engine=engine, settings=qwen_settings, cloning=None))
    assert summary["expected_speed"] == engine.expected_speed()


# --------------------------------------------------------------------- auto

REAL_SIZE = {"talker_config": {
    "hidden_size": 1024, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
    "intermediate_size": 3072, "num_hidden_layers": 28, "vocab_size": 3072, "num_code_groups": 16,
    "code_predictor_config": {"hidden_size": 1024, "num_attention_heads": 16, "num_key_value_heads": 8,
                              "head_dim": 128, "intermediate_size": 3072, "num_hidden_layers": 5,
                              "vocab_size": 2048},
}}


@pytest.fixture
def real_size_weights(tmp_path, monkeypatch):
    """A folder that looks like the published 0.6B Base (its config.json), on a CPU with 24 GB/s."""
    folder = tmp_path / "models" / "Qwen3-TTS-12Hz-0.6B-Base"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(REAL_SIZE))
    monkeypatch.setattr(qwen, "_bandwidth", lambda: 24e9)
    monkeypatch.setattr(qwen, "_on_gpu", lambda settings: False)
    monkeypatch.setattr(sp, "native_bf16", lambda: True)
    return folder


def test_auto_declines_float32_on_a_slow_cpu_and_says_int8_would_do(tmp_path, real_size_weights):
    from utter.adapters.tts.registry import build_engine

    settings = Settings(data_dir=tmp_path, engine="auto", models_dir=tmp_path / "models")
    assert qwen.availability(settings) is None
    engine = build_engine(settings)
    assert engine.info.name == "piper"
    reason = engine.info.reason
    assert reason.startswith("auto: no Modal token, no CUDA GPU; Qwen3-TTS weights found at")
    assert "more than UTTER_QWEN_CPU_MAX_RTF=3" in reason and "estimated from 24 GB/s" in reason
    assert "UTTER_QWEN_CPU_PRECISION=int8" in reason


def test_auto_takes_int8_qwen_when_fast_enough(tmp_path, real_size_weights):
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models", qwen_cpu_precision="int8")
    reason = qwen.availability(settings)
    assert reason.startswith(f"Qwen3-TTS weights found at {real_size_weights}; on this CPU (int8, codec in bfloat16)")
    assert "within UTTER_QWEN_CPU_MAX_RTF=3" in reason
    assert qwen.declined(settings) is None
    strict = settings.model_copy(update={"qwen_cpu_max_rtf": 1.0})
    assert qwen.availability(strict) is None and "more than UTTER_QWEN_CPU_MAX_RTF=1" in qwen.declined(strict)


def test_a_stored_measurement_outranks_the_estimate(tmp_path, real_size_weights):
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    key = sp.machine_key(str(real_size_weights), "float32", sp.default_threads())
    sp.store_measurement(tmp_path, key, sp.expected(0.12, 1.5, "measured at start-up"))
    reason = qwen.availability(settings)
    assert "about 1.5 s per second of speech (measured at start-up)" in reason
    # another precision is another key: back to the estimate
    assert qwen.availability(settings.model_copy(update={"qwen_cpu_max_rtf": 5.0, "qwen_cpu_precision": "int8"}))
    assert "estimated" in qwen.availability(settings.model_copy(update={"qwen_cpu_max_rtf": 5.0,
                                                                        "qwen_cpu_precision": "int8"}))
