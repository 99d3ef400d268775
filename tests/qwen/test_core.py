"""The fast decoding core against qwen-tts itself, on the tiny checkpoints.

"Same codes" means torch.equal with what qwen-tts's `generate` returns for the same
prompt, text and settings (greedy: do_sample=False, subtalker_dosample=False); audio is
compared with qwen-tts's own codec decode within float tolerance.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("qwen_tts")

from utter.adapters.tts.qwen_core import CoreUnavailable, QwenCore, Sampling, unsupported_reason  # noqa: E402
from utter.adapters.tts.qwen_core.codec import StreamingCodec  # noqa: E402
from utter.adapters.tts.qwen_core.prompt import build_prompt  # noqa: E402
from utter.adapters.tts.qwen_core.sampling import choose, talker_scores, warp  # noqa: E402
from utter.adapters.tts.qwen_core.stepper import default_buckets  # noqa: E402

from .conftest import write_wav  # noqa: E402

N = 24  # max_new_tokens: random weights rarely stop on their own, so most runs make N - 1 frames
SPF = 1920  # samples per frame
TEXTS = ["Hi, this is a test.", "Another, rather longer sentence, to be spoken right now with commas!", "Hi, this is a tent."]
REF_TEXT = "This is the reference clip."
INSTRUCT = "A calm, low voice, speaking slowly."
GREEDY = Sampling.greedy()
EOS = 2150  # tiny_qwen.CODEC_IDS["codec_eos_token_id"]


def _load(path):
    """A tiny checkpoint (its text audible to the talker: tiny_qwen scales the text projection, so one
    changed letter changes the codes from the frame where that letter is fed on)."""
    from qwen_tts import Qwen3TTSModel

    return Qwen3TTSModel.from_pretrained(str(path), device_map="cpu", dtype=torch.float32, attn_implementation="sdpa")


@pytest.fixture(scope="module")
def base(tiny_qwen_base_dir):
    return _load(tiny_qwen_base_dir)


@pytest.fixture(scope="module")
def design_model(tiny_qwen_design_dir):
    return _load(tiny_qwen_design_dir)


@pytest.fixture(scope="module")
def prompts(base, tmp_path_factory):
    import soundfile as sf

    wav = write_wav(tmp_path_factory.mktemp("core") / "ref.wav", seconds=2.0)
    audio, rate = sf.read(str(wav), dtype="float32")
    return {
        "icl": base.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=REF_TEXT, x_vector_only_mode=False),
        "xvec": base.create_voice_clone_prompt(ref_audio=(audio, rate), ref_text=None, x_vector_only_mode=True),
    }


@pytest.fixture(scope="module")
def core(base):
    with QwenCore(base, max_batch=4, max_frames=64, max_prompt=192) as c:
        yield c


@pytest.fixture(scope="module")
def design_core(design_model):
    with QwenCore(design_model, max_batch=4, max_frames=64, max_prompt=192) as c:
        yield c


@contextlib.contextmanager
def spy(model, attr="generate", target=None):
    """Record what `target.attr` (default: model.model.generate) is called with and returns."""
    target = target if target is not None else model.model
    seen = {}
    original = getattr(target, attr)

    def wrapper(*args, **kwargs):
        seen["kwargs"] = kwargs
        seen["result"] = original(*args, **kwargs)
        return seen["result"]

    setattr(target, attr, wrapper)
    try:
        yield seen
    finally:
        delattr(target, attr)  # the instance attribute shadowed the method


def qwen_clone(model, prompt, text, max_new_tokens=N, **gen):
    """(codes [frames, 16], audio) from qwen-tts's generate_voice_clone."""
    gen = {"do_sample": False, "subtalker_dosample": False, **gen}
    with spy(model) as seen:
        wavs, _ = model.generate_voice_clone(text, language="English", voice_clone_prompt=prompt,
                                             max_new_tokens=max_new_tokens, **gen)
    return seen["result"][0][0], wavs[0]


def qwen_design(model, text, instruct=INSTRUCT, max_new_tokens=N, **gen):
    gen = {"do_sample": False, "subtalker_dosample": False, **gen}
    with spy(model) as seen:
        wavs, _ = model.generate_voice_design(text, instruct=instruct, language="English",
                                              max_new_tokens=max_new_tokens, **gen)
    return seen["result"][0][0], wavs[0]


def run(stream, timeout=60):
    pieces = list(stream)
    assert stream.wait(timeout)
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32), pieces


# ---------------------------------------------------------------- prompts


@pytest.mark.parametrize("mode", ["icl", "xvec"])
def test_clone_prompt_is_what_qwen_tts_feeds_the_talker(base, prompts, mode):
    talker = base.model.talker
    with spy(base, attr="generate", target=talker) as seen:
        base.generate_voice_clone(TEXTS[1], language="English", voice_clone_prompt=prompts[mode],
                                  do_sample=False, subtalker_dosample=False, max_new_tokens=2)
    mine = build_prompt(base, TEXTS[1], "English", clone_item=prompts[mode][0])
    assert torch.equal(mine.embeds, seen["kwargs"]["inputs_embeds"])
    assert torch.equal(mine.trailing, seen["kwargs"]["trailing_text_hidden"])
    assert (mine.ref_codes is not None) is (mode == "icl")


def test_design_prompt_is_what_qwen_tts_feeds_the_talker(design_model):
    with spy(design_model, attr="generate", target=design_model.model.talker) as seen:
        design_model.generate_voice_design(TEXTS[0], instruct=INSTRUCT, language="Auto",
                                           do_sample=False, subtalker_dosample=False, max_new_tokens=2)
    mine = build_prompt(design_model, TEXTS[0], "Auto", instruct=INSTRUCT, non_streaming_mode=True)
    assert torch.equal(mine.embeds, seen["kwargs"]["inputs_embeds"])
    assert torch.equal(mine.trailing, seen["kwargs"]["trailing_text_hidden"])


# ------------------------------------------------------------ greedy codes


def test_the_text_steers_the_codes(base, prompts):
    """The fixture's premise: a one-letter change changes the codes once that letter is fed."""
    test, tent = (qwen_clone(base, prompts["xvec"], t)[0] for t in (TEXTS[0], TEXTS[2]))
    assert torch.equal(test[:8], tent[:8]) and not torch.equal(test, tent)


@pytest.mark.parametrize("mode", ["icl", "xvec"])
@pytest.mark.parametrize("text", TEXTS)
def test_clone_greedy_codes_equal_qwen_tts(base, core, prompts, mode, text):
    expected, expected_audio = qwen_clone(base, prompts[mode], text)
    stream = core.clone(prompts[mode], text, "English", sampling=GREEDY, max_new_tokens=N)
    audio, _ = run(stream)
    assert expected.shape == (N - 1, 16)
    assert torch.equal(stream.codes, expected)
    assert stream.finish_reason == "length"
    # And the audio is qwen-tts's (it cuts the reference off a joint decode: at most one sample apart).
    assert abs(len(audio) - len(expected_audio)) <= 1
    np.testing.assert_allclose(audio[-len(expected_audio):], expected_audio[-len(audio):], atol=2e-5)


@pytest.mark.parametrize("text", TEXTS)
def test_design_greedy_codes_equal_qwen_tts(design_model, design_core, text):
    expected, expected_audio = qwen_design(design_model, text)
    stream = design_core.design(text, INSTRUCT, "English", sampling=GREEDY, max_new_tokens=N)
    audio, _ = run(stream)
    assert torch.equal(stream.codes, expected)
    np.testing.assert_allclose(audio, expected_audio, atol=2e-5)


def test_streaming_text_mode_and_auto_language_match_too(design_model, design_core, base, core, prompts):
    expected, _ = qwen_design(design_model, TEXTS[0], non_streaming_mode=False)
    stream = design_core.design(TEXTS[0], INSTRUCT, "English", sampling=GREEDY, max_new_tokens=N, non_streaming_mode=False)
    run(stream)
    assert torch.equal(stream.codes, expected)
    with spy(base) as seen:
        base.generate_voice_clone(TEXTS[0], language="Auto", voice_clone_prompt=prompts["icl"], non_streaming_mode=True,
                                  do_sample=False, subtalker_dosample=False, max_new_tokens=N)
    stream = core.clone(prompts["icl"], TEXTS[0], "Auto", sampling=GREEDY, max_new_tokens=N, non_streaming_mode=True)
    run(stream)
    assert torch.equal(stream.codes, seen["result"][0][0])


def test_repetition_penalty_path_matches_qwen_tts(base, core, prompts):
    # Random weights never repeat a first code under greedy decoding, so a penalty above 1
    # changes nothing; one below 1 favours repeats, which shows the penalty is applied.
    expected, _ = qwen_clone(base, prompts["xvec"], TEXTS[0], repetition_penalty=0.2)
    plain, _ = qwen_clone(base, prompts["xvec"], TEXTS[0], repetition_penalty=1.0)
    assert not torch.equal(expected, plain)
    assert len(set(expected[:, 0].tolist())) < len(expected)
    stream = core.clone(prompts["xvec"], TEXTS[0], "English",
                        sampling=Sampling(do_sample=False, subtalker_dosample=False, repetition_penalty=0.2),
                        max_new_tokens=N)
    run(stream)
    assert torch.equal(stream.codes, expected)


@pytest.fixture(scope="module")
def eos_model(tiny_qwen_base_dir):
    """The tiny Base model with its EOS logit scaled up, so generations stop on their own."""
    model = _load(tiny_qwen_base_dir)
    with torch.no_grad():
        model.model.talker.codec_head.weight[EOS] *= 3.0
    return model


def test_eos_path_matches_qwen_tts(eos_model, prompts):
    with QwenCore(eos_model, max_batch=2, max_frames=64, max_prompt=192) as eos_core:
        for mode in ("icl", "xvec"):
            expected, expected_audio = qwen_clone(eos_model, prompts[mode], TEXTS[0], max_new_tokens=40)
            assert 0 < expected.shape[0] < 39  # it did stop on EOS
            stream = eos_core.clone(prompts[mode], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=40)
            audio, _ = run(stream)
            assert stream.finish_reason == "eos"
            assert torch.equal(stream.codes, expected)
            assert abs(len(audio) - len(expected_audio)) <= 1
            # the batched path too: both modes at once
        streams = [eos_core.clone(prompts[m], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=40) for m in ("icl", "xvec")]
        for m, s in zip(("icl", "xvec"), streams):
            run(s)
            assert torch.equal(s.codes, qwen_clone(eos_model, prompts[m], TEXTS[0], max_new_tokens=40)[0])


def test_the_captured_step_runs_eagerly_on_a_padded_bucket(base, prompts):
    """What a CUDA graph captures (FrameStepper._step over a whole bucket: full cache,
    masked attention, sampling branch on), run eagerly: rows 0-1 active, rows 2-3 free."""
    from utter.adapters.tts.qwen_core.stepper import FrameStepper, RowSettings

    expected = [qwen_clone(base, prompts[m], TEXTS[1])[0] for m in ("icl", "xvec")]
    st = FrameStepper(base, max_batch=4, cache_len=256, trail_cap=128, use_graphs=False)
    greedy = RowSettings(False, 50, 1.0, 0.9, 1.05, False, 50, 1.0, 0.9)
    for row, mode in enumerate(("icl", "xvec")):
        p = build_prompt(base, TEXTS[1], "English", clone_item=prompts[mode][0])
        st.prefill(row, p.embeds, p.trailing, greedy)
    for row in (2, 3):
        st.release(row)
    frames = []
    with torch.no_grad():
        for _ in range(N - 1):
            st._step(4, st.cache_len)
            frames.append(st.frame[:2].clone())
    codes = torch.stack(frames, dim=1)
    for row in range(2):
        assert torch.equal(codes[row], expected[row])


class HostReads:
    """Records every op that makes the host wait for a value on the device (what CUDA graph
    capture refuses: `.item()` and `if tensor:` (_local_scalar_dense), nonzero and boolean-mask
    indexing (their output size is data), tensors of more than one value built from Python data
    (a host-to-device copy inside the graph). A one-value tensor from a constant is allowed: that is
    how `x[:, -1] = False` lifts its value, and PyTorch fills with it (the constant is baked into the
    graph). Seen on the CPU by a dispatch mode, so no GPU is needed to find them."""

    SYNCING = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.masked_select.default",
               "aten._unique2.default", "aten.unique_consecutive.default", "aten.repeat_interleave.Tensor",
               "aten.lift_fresh.default", "aten.lift_fresh_copy.default"}

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        found = self.found = []
        syncing = self.SYNCING

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = str(func)
                if name.startswith("aten.lift_fresh"):
                    if args[0].numel() > 1:
                        found.append(name)
                elif name in syncing:
                    found.append(name)
                elif name.startswith("aten.index.Tensor") and any(
                        isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None):
                    found.append(name + " (boolean mask)")
                return func(*args, **(kwargs or {}))

        self.mode = Mode()

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def test_the_captured_step_never_waits_for_the_device(base, prompts):
    """The step a CUDA graph captures (whole bucket, sampling on, rows with different settings)
    runs with no op that reads a device value on the host; the detector itself catches each kind."""
    from utter.adapters.tts.qwen_core.stepper import FrameStepper, RowSettings

    st = FrameStepper(base, max_batch=4, cache_len=256, trail_cap=128, use_graphs=False)
    settings = [RowSettings(False, 50, 1.0, 0.9, 1.05, False, 50, 1.0, 0.9),
                RowSettings(True, 30, 0.8, 0.7, 1.3, True, 20, 0.9, 1.1)]
    for row, mode in enumerate(("icl", "xvec")):
        p = build_prompt(base, TEXTS[1], "English", clone_item=prompts[mode][0])
        st.prefill(row, p.embeds, p.trailing, settings[row], noise_gen=torch.Generator().manual_seed(row))
    for row in (2, 3):
        st.release(row)
    with torch.no_grad(), HostReads() as reads:
        for _ in range(3):
            st._step(4, st.cache_len)
    assert reads.found == []
    assert (st.frame[:2] >= 0).all() and st.generated[:2].tolist() == [4, 4]

    x = torch.arange(6.0)
    for leak, caught in [(lambda: x.sum().item(), "aten._local_scalar_dense.default"),
                         (lambda: bool(x.max() > 3), "aten._local_scalar_dense.default"),
                         (lambda: x[x > 2], "aten.index.Tensor (boolean mask)"),
                         (lambda: torch.nonzero(x), "aten.nonzero.default"),
                         (lambda: x[:2] + torch.tensor([1.0, 2.0]), "aten.lift_fresh.default")]:
        with HostReads() as reads:
            leak()
        assert caught in reads.found


# ------------------------------------------------------------------ sampling


def _hf_processors(penalty, generated, eos, suppress, temperature, top_k, top_p):
    from transformers.generation.logits_process import (
        LogitsProcessorList, MinNewTokensLengthLogitsProcessor, RepetitionPenaltyLogitsProcessor,
        SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

    procs = LogitsProcessorList()
    if penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(penalty=penalty))
    procs.append(MinNewTokensLengthLogitsProcessor(0, 2, torch.tensor([eos])))
    procs.append(SuppressTokensLogitsProcessor(suppress))
    warpers = LogitsProcessorList()
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    return procs, warpers


@pytest.mark.parametrize("penalty, temperature, top_k, top_p", [
    (1.05, 0.9, 50, 1.0), (1.0, 1.0, 0, 0.8), (1.3, 0.7, 10, 0.95), (2.0, 1.3, 3000, 0.5)])
@pytest.mark.parametrize("generated", [0, 1, 2, 6])
def test_logit_processing_equals_hf_processors(penalty, temperature, top_k, top_p, generated):
    g = torch.Generator().manual_seed(generated)
    V, b = 3072, 3
    logits = torch.randn(b, V, generator=g) * 4
    logits[:, EOS] = 50.0  # EOS would win unless min_new_tokens holds it back
    history = torch.randint(0, 2048, (b, generated), generator=g)
    suppress_ids = [i for i in range(V - 1024, V) if i != EOS]
    procs, warpers = _hf_processors(penalty, generated, EOS, suppress_ids, temperature, top_k, top_p)
    expected = procs(history, logits.clone())
    seen = torch.zeros(b, V, dtype=torch.bool).scatter_(1, history, True) if generated else torch.zeros(b, V, dtype=torch.bool)
    suppress = torch.zeros(V, dtype=torch.bool)
    suppress[suppress_ids] = True
    eos = torch.zeros(V, dtype=torch.bool)
    eos[EOS] = True
    mine = talker_scores(logits, seen, torch.full((b,), generated), torch.full((b,), penalty), suppress, eos)
    assert torch.equal(mine, expected)
    full = lambda v, dtype=torch.float32: torch.full((b,), v, dtype=dtype)  # noqa: E731
    warped = warp(mine, full(temperature), full(top_k, torch.long), full(1 - top_p), full(top_p < 1.0, torch.bool))
    assert torch.equal(warped, warpers(history, expected.clone()))
    shortcut = warp(mine, full(temperature), full(top_k, torch.long), full(1 - top_p), full(top_p < 1.0, torch.bool),
                    k_max=min(top_k, V) or V, any_top_p=top_p < 1.0)  # what eager steps take
    assert torch.equal(shortcut, warped)
    assert (mine.argmax(-1) == EOS).all() == (generated >= 2)


def test_draws_follow_the_warped_distribution():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]]).repeat(20000, 1)
    b = logits.shape[0]
    ones = torch.ones(b)
    noise = torch.empty_like(logits).exponential_(generator=g)
    tokens = choose(logits, torch.ones(b, dtype=torch.bool), ones * 0.8, torch.full((b,), 4), 1 - ones * 0.95,
                    torch.ones(b, dtype=torch.bool), noise)
    freq = torch.bincount(tokens, minlength=6).float() / b
    expected = warp(logits[:1], ones[:1] * 0.8, torch.tensor([4]), 1 - ones[:1] * 0.95, torch.tensor([True])).softmax(-1)[0]
    assert freq[4:].sum() == 0  # top-k removed them
    assert torch.allclose(freq, expected, atol=0.015)
    greedy = choose(logits, torch.zeros(b, dtype=torch.bool), ones, torch.zeros(b, dtype=torch.long), 1 - ones,
                    torch.zeros(b, dtype=torch.bool), noise)
    assert (greedy == 0).all()


def test_top_k_one_sampling_is_greedy(base, core, prompts):
    expected, _ = qwen_clone(base, prompts["icl"], TEXTS[0])
    sampling = Sampling(do_sample=True, top_k=1, temperature=0.7, subtalker_dosample=True, subtalker_top_k=1, seed=5)
    stream = core.clone(prompts["icl"], TEXTS[0], "English", sampling=sampling, max_new_tokens=N)
    run(stream)
    assert torch.equal(stream.codes, expected)


def test_seeded_sampling_is_reproducible_and_batch_independent(core, prompts):
    sampling = Sampling(do_sample=True, subtalker_dosample=True, seed=1234)
    alone = core.clone(prompts["xvec"], TEXTS[0], "English", sampling=sampling, max_new_tokens=N)
    run(alone)
    together = [core.clone(prompts["xvec"], TEXTS[0], "English", sampling=sampling, max_new_tokens=N),
                core.clone(prompts["icl"], TEXTS[1], "English", sampling=Sampling(do_sample=True, seed=9), max_new_tokens=N),
                core.clone(prompts["xvec"], TEXTS[0], "English", sampling=Sampling(do_sample=True, subtalker_dosample=True, seed=99),
                           max_new_tokens=N)]
    for s in together:
        run(s)
    assert torch.equal(together[0].codes, alone.codes)
    assert not torch.equal(together[2].codes, alone.codes)  # another seed, other codes
    greedy = core.clone(prompts["xvec"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=N)
    run(greedy)
    assert not torch.equal(alone.codes, greedy.codes)  # it did sample


def test_suppressed_control_ids_never_appear(tiny_qwen_base_dir, prompts):
    """Boost every suppressed control id so it would win without the suppression; sample."""
    model = _load(tiny_qwen_base_dir)
    suppressed = [i for i in range(3072 - 1024, 3072) if i != EOS]
    with torch.no_grad():
        model.model.talker.codec_head.weight[suppressed] *= 6.0
        embeds = build_prompt(model, TEXTS[0], "English", clone_item=prompts["xvec"][0]).embeds
        hidden = model.model.talker.model(inputs_embeds=embeds).last_hidden_state
        assert int(model.model.talker.codec_head(hidden)[0, -1].argmax()) in suppressed
    with QwenCore(model, max_batch=2, max_frames=64, max_prompt=192) as c:
        streams = [c.clone(prompts["xvec"], TEXTS[0], "English", max_new_tokens=N,
                           sampling=Sampling(do_sample=True, temperature=1.5, top_k=0, seed=s)) for s in (1, 2)]
        for s in streams:
            run(s)
            first = s.codes[:, 0]
            assert ((first < 2048) | (first == EOS)).all()
            assert (s.codes[:, 1:] < 2048).all()


# ------------------------------------------------------------------ streaming


def _one_shot(model, codes):
    wavs, _ = model.model.speech_tokenizer.decode([{"audio_codes": codes}])
    return wavs[0]


@pytest.mark.parametrize("mode", ["icl", "xvec"])
def test_streamed_clone_audio_equals_one_shot_decode(base, core, prompts, mode):
    stream = core.clone(prompts[mode], TEXTS[1], "English", sampling=GREEDY, max_new_tokens=N)
    audio, pieces = run(stream)
    assert len(pieces) >= 3 and len(pieces[0]) == core.first_frames * SPF
    assert all(p.dtype == np.float32 for p in pieces)
    codes = stream.codes
    if mode == "icl":
        ref = prompts[mode][0].ref_code
        full = _one_shot(base, torch.cat([ref, codes]))
        expected = full[len(ref) * SPF:]
    else:
        expected = _one_shot(base, codes)
    assert len(audio) == len(codes) * SPF == len(expected)
    np.testing.assert_allclose(audio, expected, atol=2e-5)


def test_streamed_design_audio_equals_one_shot_decode(design_model, design_core):
    stream = design_core.design(TEXTS[0], INSTRUCT, "English", sampling=GREEDY, max_new_tokens=N)
    audio, pieces = run(stream)
    assert len(pieces) >= 3
    np.testing.assert_allclose(audio, _one_shot(design_model, stream.codes), atol=2e-5)


def test_codec_pieces_of_any_size_join_exactly(base):
    """Past the attention window (72 frames), in odd piece sizes, batched across streams.

    Up to 300 frames qwen-tts's decode is one pass of the decoder; past that it decodes
    300-frame chunks with 25 frames of context (an approximation), so longer streams are
    compared with one pass of the decoder itself.
    """
    codec = StreamingCodec(base.model.speech_tokenizer)
    decoder = base.model.speech_tokenizer.model.decoder
    g = torch.Generator().manual_seed(3)
    codes = torch.randint(0, 2048, (2, 330, 16), generator=g)
    with torch.no_grad():
        one_pass = decoder(codes.transpose(1, 2))[:, 0].numpy()
    np.testing.assert_allclose(one_pass[0, :150 * SPF], _one_shot(base, codes[0, :150]), atol=2e-5)
    states = [codec.new_state(), codec.new_state()]
    out, at = [], 0
    for size in (1, 2, 5, 8, 13, 40, 81, 180):
        out.append(codec.decode(states, codes[:, at:at + size]).numpy())
        at += size
    audio = np.concatenate(out, axis=1)
    assert audio.shape == one_pass.shape
    np.testing.assert_allclose(audio, one_pass, atol=2e-5)


# ------------------------------------------------------------ many listeners


def test_concurrent_generations_get_their_codes_alone(base, core, prompts):
    jobs = [("icl", TEXTS[0]), ("xvec", TEXTS[1]), ("icl", TEXTS[1])]
    alone = [qwen_clone(base, prompts[m], t)[0] for m, t in jobs]
    before = dict(core.batch_sizes)
    first = core.clone(prompts[jobs[0][0]], jobs[0][1], "English", sampling=GREEDY, max_new_tokens=N)
    second = core.clone(prompts[jobs[1][0]], jobs[1][1], "English", sampling=GREEDY, max_new_tokens=N)
    it = iter(first)
    next(it)  # the first two are running...
    third = core.clone(prompts[jobs[2][0]], jobs[2][1], "English", sampling=GREEDY, max_new_tokens=N)  # ...join mid-way
    rest = list(it)
    assert rest
    for s in (second, third):
        run(s)
    for s, expected in zip((first, second, third), alone):
        assert torch.equal(s.codes, expected)
    grew = {size: n - before.get(size, 0) for size, n in core.batch_sizes.items()}
    assert grew.get(3, 0) > 0 and grew.get(2, 0) > 0  # it really ran them as one batch


def test_requests_from_many_threads(core, prompts):
    results = {}

    def worker(i):
        stream = core.clone(prompts["xvec"], TEXTS[i % 2], "English", sampling=GREEDY, max_new_tokens=10 + i)
        results[i] = (run(stream)[0], stream.codes)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == list(range(6))
    for i, (audio, codes) in results.items():
        assert codes.shape == (9 + i, 16) and len(audio) == (9 + i) * SPF


def test_cancelled_slot_frees_its_place_and_others_finish_unchanged(base, prompts):
    long_alone = qwen_clone(base, prompts["xvec"], TEXTS[1], max_new_tokens=40)[0]
    short_alone = qwen_clone(base, prompts["icl"], TEXTS[0], max_new_tokens=8)[0]
    with QwenCore(base, max_batch=2, max_frames=64, max_prompt=192) as c:
        doomed = c.clone(prompts["icl"], TEXTS[1], "English", sampling=GREEDY, max_new_tokens=40)
        keeper = c.clone(prompts["xvec"], TEXTS[1], "English", sampling=GREEDY, max_new_tokens=40)
        it = iter(doomed)
        next(it)
        it.close()  # closing the iterator cancels
        assert doomed.wait(10) and doomed.finish_reason == "cancelled"
        assert doomed.codes.shape[0] < 39
        late = c.clone(prompts["icl"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=8)  # needs the freed row
        run(late)
        assert not keeper.done()  # it ran beside the survivor, not after it
        run(keeper)
        assert torch.equal(keeper.codes, long_alone)
        assert torch.equal(late.codes, short_alone)
        # explicit cancel of a queued request, and of a running one
        a = c.clone(prompts["xvec"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=40)
        b = c.clone(prompts["xvec"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=40)
        queued = c.clone(prompts["xvec"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=40)
        queued.cancel()
        a.cancel()
        for s in (a, queued):
            assert s.wait(10) and s.finish_reason == "cancelled"
        run(b)
        assert b.finish_reason == "length"
        deadline = time.time() + 5
        while c.active and time.time() < deadline:
            time.sleep(0.01)
        assert c.active == 0


@pytest.mark.parametrize("max_new_tokens", [1, 2, 5])
def test_runaway_cap_holds(core, prompts, max_new_tokens):
    stream = core.clone(prompts["xvec"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=max_new_tokens)
    audio, _ = run(stream)
    # qwen-tts semantics: max_new_tokens talker tokens; the last one's frame is never made.
    assert stream.codes.shape[0] == max_new_tokens - 1 < max_new_tokens
    assert len(audio) == stream.codes.shape[0] * SPF


def test_cache_end_caps_a_generation(base, prompts):
    with QwenCore(base, max_batch=1, max_frames=4, max_prompt=60) as c:  # cache of 64 positions
        stream = c.clone(prompts["xvec"], TEXTS[0], "English", sampling=GREEDY, max_new_tokens=200)
        run(stream)
        assert stream.finish_reason == "cache"
        assert stream.codes.shape[0] == c.cache_len - stream.prompt_length
        too_long = c.clone(prompts["icl"], TEXTS[1] * 3, "English", sampling=GREEDY, max_new_tokens=10)
        with pytest.raises(ValueError):
            run(too_long)
        assert too_long.finish_reason == "error"


# ------------------------------------------------------------------- misc


def test_support_checks(base, design_model):
    assert unsupported_reason(base) is None and unsupported_reason(design_model) is None
    assert "Qwen3TTSModel" in unsupported_reason(object())
    with pytest.raises(CoreUnavailable):
        QwenCore(object())
    assert default_buckets(64) == [1, 2, 4, 8, 16, 32, 64]
    assert default_buckets(6) == [1, 2, 4, 6]


def test_wrong_model_or_language_fails_at_once(core, design_core, prompts):
    with pytest.raises(ValueError):
        core.clone(prompts["xvec"], TEXTS[0], "Klingon")
    with pytest.raises(ValueError):
        core.design(TEXTS[0], INSTRUCT, "English")
    with pytest.raises(ValueError):
        design_core.clone(prompts["xvec"], TEXTS[0], "English")
