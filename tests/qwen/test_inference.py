"""The shared inference module against a tiny checkpoint loaded the real way."""

from __future__ import annotations

import numpy as np
import pytest

from utter.adapters.tts import qwen_inference as qi
from utter.adapters.tts.base import EngineError
from utter.languages import LANGUAGE_NAMES

from .conftest import MAX_NEW_TOKENS, SAMPLES_PER_TOKEN


@pytest.fixture(scope="module")
def base(tiny_qwen_base_dir):
    return qi.load_model(str(tiny_qwen_base_dir), device="cpu")


def test_loads_through_from_pretrained(base, tiny_qwen_base_dir):
    from qwen_tts import Qwen3TTSModel

    assert isinstance(base.model, Qwen3TTSModel)
    assert base.kind == "base"
    assert (base.device, base.dtype, base.attn) == ("cpu", "float32", "sdpa")
    # Languages come from what the model reports (dialects excluded), as ISO codes.
    reported = set(base.model.get_supported_languages())
    assert "beijing_dialect" not in reported
    assert set(base.languages) == {code for code, name in qi.QWEN_LANGUAGES.items() if name.lower() in reported}
    assert set(base.languages) == set(LANGUAGE_NAMES)


def test_unavailable_attention_falls_back(tiny_qwen_base_dir):
    loaded = qi.load_model(str(tiny_qwen_base_dir), device="cpu", attn="flash_attention_2")
    assert loaded.attn == "sdpa"


def test_unknown_dtype_is_a_clear_error(tiny_qwen_base_dir):
    with pytest.raises(EngineError) as err:
        qi.load_model(str(tiny_qwen_base_dir), device="cpu", dtype="float8")
    assert err.value.code == "bad_setting"


def test_token_budget_follows_text_length():
    short, long = qi.token_budget("Hi."), qi.token_budget("x" * 400)
    assert short == 74  # (5 s floor + 3 chars x 0.3 s) x 12.5 frames/s, rounded up
    assert long > 400 * qi.SECONDS_PER_CHAR * qi.FRAMES_PER_SECOND
    assert qi.token_budget("x" * 400, ceiling=10) == 10


@pytest.mark.parametrize("transcript, icl", [("A reference transcript.", True), (None, False), ("  ", False)])
def test_clone_prompt_mode_follows_transcript(base, reference_wav, transcript, icl):
    audio, rate = qi.read_audio(reference_wav)
    (item,) = qi.build_clone_prompt(base, audio, rate, transcript)
    assert item.icl_mode is icl
    assert item.x_vector_only_mode is (not icl)
    assert (item.ref_code is not None) is icl


def test_prompt_round_trips_through_bytes(base, reference_wav):
    audio, rate = qi.read_audio(reference_wav.read_bytes())
    prompt = qi.build_clone_prompt(base, audio, rate, "Hello there.")
    restored = qi.deserialise_prompt(base, qi.serialise_prompt(base, prompt))
    assert restored[0].ref_text == "Hello there."
    assert restored[0].icl_mode and not restored[0].x_vector_only_mode
    assert np.array_equal(restored[0].ref_code.numpy(), prompt[0].ref_code.numpy())
    assert np.allclose(restored[0].ref_spk_embedding.numpy(), prompt[0].ref_spk_embedding.numpy())
    # Garbage, or a prompt from another model, is treated as a cache miss.
    assert qi.deserialise_prompt(base, b"not a prompt") is None


def test_generation_is_capped(base, reference_wav):
    audio, rate = qi.read_audio(reference_wav)
    prompt = qi.build_clone_prompt(base, audio, rate, None)
    out = qi.generate_clone(base, prompt, "Hello world.", "en", max_new_tokens=MAX_NEW_TOKENS)
    assert out.dtype == np.float32 and out.ndim == 1
    assert 0 < out.size <= MAX_NEW_TOKENS * SAMPLES_PER_TOKEN
    assert np.abs(out).max() > 1e-3  # audible noise, not silence


def test_unsupported_language(base):
    with pytest.raises(EngineError) as err:
        qi.qwen_language(base, "xx")
    assert err.value.code == "unsupported_language"
    assert "en" in err.value.message


def test_missing_weights_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EngineError) as err:
        qi.load_model(str(tmp_path / "nowhere"), device="cpu")
    assert err.value.code == "weights_missing"
    assert "download-models" in err.value.message


def test_tiny_text_tokenizer_matches_the_prompt_slicing(base):
    """qwen-tts slices prompts by position: 3 role tokens in front, 5 after the text."""
    tokenizer = base.model.processor.tokenizer
    ids = base.model.processor(text="<|im_start|>assistant\nHi there.<|im_end|>\n<|im_start|>assistant\n")["input_ids"][0]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[:3] == ["<|im_start|>", "assistant", "Ċ"]
    assert tokens[-5:] == ["<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ"]
    assert tokenizer.decode(ids[3:-5]) == "Hi there."
