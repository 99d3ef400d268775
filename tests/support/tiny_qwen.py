"""Build tiny, randomly initialised Qwen3-TTS checkpoints for tests.

The real weights cannot be downloaded here, so the tests build checkpoints with the
same layout as the published ones (config.json, generation_config.json, a Qwen2 text
tokenizer, a `speech_tokenizer/` subfolder with the 12 Hz codec) from qwen-tts's own
config and model classes, and load them through the real
`Qwen3TTSModel.from_pretrained`. The output is noise; shapes, rates and the code
paths are real.

    python -m tests.support.tiny_qwen OUT_DIR   # builds OUT_DIR/base and OUT_DIR/design
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# The builder must never reach for a hub: everything is made here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HIDDEN = 32
CODE_GROUPS = 16
CODEBOOK_SIZE = 2048
# Codec vocabulary as in the real checkpoints: codes 0..2047, control ids above them,
# and the talker suppresses its top 1024 ids (all controls except EOS) while sampling.
CODEC_VOCAB = 3072
CODEC_IDS = dict(
    codec_pad_id=2148,
    codec_bos_id=2149,
    codec_eos_token_id=2150,
    codec_think_id=2154,
    codec_nothink_id=2155,
    codec_think_bos_id=2156,
    codec_think_eos_id=2157,
)
LANGUAGE_IDS = {
    "chinese": 2055,
    "english": 2050,
    "german": 2053,
    "spanish": 2054,
    "japanese": 2058,
    "french": 2061,
    "korean": 2064,
    "russian": 2069,
    "italian": 2070,
    "portuguese": 2071,
    # Real checkpoints list dialects here too; the model hides them from its languages.
    "beijing_dialect": 2074,
}
SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>", "<|tts_pad|>", "<|tts_text_bos|>", "<|tts_text_eod|>", "<|endoftext|>"]


def _byte_vocab() -> dict[str, int]:
    """GPT-2's byte-to-unicode alphabet, token id = byte value: any text encodes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    vocab, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            vocab[chr(byte)] = byte
        else:
            vocab[chr(256 + extra)] = byte
            extra += 1
    return vocab


def build_text_tokenizer(out: Path):
    """A Qwen2 byte-level BPE tokenizer with no merges, plus the special tokens.

    The model slices prompts by token position ("<|im_start|>assistant\\n" must be three
    tokens), so "assistant" is an added token rather than nine bytes.
    """
    from transformers import Qwen2TokenizerFast

    work = out / "_vocab"
    work.mkdir(parents=True, exist_ok=True)
    (work / "vocab.json").write_text(json.dumps(_byte_vocab()), encoding="utf-8")
    (work / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tok = Qwen2TokenizerFast(
        vocab_file=str(work / "vocab.json"),
        merges_file=str(work / "merges.txt"),
        unk_token=None,
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tok.add_tokens(["assistant"])
    for f in work.iterdir():
        f.unlink()
    work.rmdir()
    return tok


def build_speech_tokenizer(out: Path, seed: int = 0) -> None:
    """The 12 Hz codec (Mimi encoder + Qwen decoder), shrunk, with audible random output."""
    import torch
    from qwen_tts.core.tokenizer_12hz.configuration_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Config
    from qwen_tts.core.tokenizer_12hz.modeling_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Model
    from transformers import EncodecFeatureExtractor

    torch.manual_seed(seed)
    config = Qwen3TTSTokenizerV2Config(
        encoder_config=dict(
            hidden_size=HIDDEN,
            num_filters=4,
            num_residual_layers=1,
            upsampling_ratios=[8, 6, 5, 4],  # 24 kHz -> 25 Hz, then /2 -> 12.5 Hz
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=16,
            intermediate_size=64,
            codebook_size=CODEBOOK_SIZE,
            codebook_dim=16,
            vector_quantization_hidden_dimension=16,
            num_quantizers=CODE_GROUPS,
            num_semantic_quantizers=1,
            use_causal_conv=True,
            upsample_groups=HIDDEN,
        ),
        decoder_config=dict(
            codebook_size=CODEBOOK_SIZE,
            codebook_dim=16,
            hidden_size=16,
            latent_dim=16,
            decoder_dim=32,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            intermediate_size=32,
            num_hidden_layers=1,
            num_quantizers=CODE_GROUPS,
            upsample_rates=[8, 5, 4, 3],
            upsampling_ratios=[2, 2],
        ),
        encoder_valid_num_quantizers=CODE_GROUPS,
        input_sample_rate=24000,
        output_sample_rate=24000,
        decode_upsample_rate=1920,
        encode_downsample_rate=1920,
    )
    model = Qwen3TTSTokenizerV2Model(config).eval()
    # With the library's init the codebooks sum to zero and the convolutions are tiny,
    # so the decoder outputs near-silence; give it random but audible weights.
    with torch.no_grad():
        for name, param in model.decoder.quantizer.named_parameters():
            if name.endswith("embedding_sum"):
                param.normal_(0.0, 1.0)
        for module in model.decoder.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
    model.save_pretrained(out)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0).save_pretrained(out)


def build_checkpoint(out: Path, kind: str = "base", seed: int = 0) -> Path:
    """Write a tiny checkpoint of `kind` ("base" or "voice_design") to `out`."""
    import torch
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration, Qwen3TTSProcessor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = build_text_tokenizer(out)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    rope = {"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True}
    layer = dict(num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    config = Qwen3TTSConfig(
        talker_config=dict(
            vocab_size=CODEC_VOCAB,
            hidden_size=HIDDEN,
            intermediate_size=64,
            max_position_embeddings=4096,
            num_code_groups=CODE_GROUPS,
            text_hidden_size=HIDDEN,
            text_vocab_size=len(tokenizer),
            rope_scaling=rope,
            spk_id={},
            spk_is_dialect={},
            codec_language_id=LANGUAGE_IDS,
            code_predictor_config=dict(
                vocab_size=CODEBOOK_SIZE,
                hidden_size=HIDDEN,
                intermediate_size=64,
                max_position_embeddings=64,
                num_code_groups=CODE_GROUPS,
                **layer,
            ),
            **{k: v for k, v in layer.items() if k != "head_dim"},
            **CODEC_IDS,
        ),
        speaker_encoder_config=dict(
            enc_dim=HIDDEN,  # the x-vector is fed to the talker as one codec embedding
            enc_channels=[16, 16, 16, 16, 48],
            enc_attention_channels=8,
            enc_res2net_scale=2,
            enc_se_channels=8,
            sample_rate=24000,
        ),
        tokenizer_type="qwen3_tts_tokenizer_12hz",
        tts_model_size="0b6" if kind == "base" else "1b7",
        tts_model_type=kind,
        im_start_token_id=ids["<|im_start|>"],
        im_end_token_id=ids["<|im_end|>"],
        tts_pad_token_id=ids["<|tts_pad|>"],
        tts_bos_token_id=ids["<|tts_text_bos|>"],
        tts_eos_token_id=ids["<|tts_text_eod|>"],
    )
    model = Qwen3TTSForConditionalGeneration(config).eval()
    # The library's init leaves projected text at ~1e-4 against codec embeddings of ~0.02, so
    # the talker would ignore the text and a decode loop that fed the wrong text (or none)
    # would pass the tests. Scaled up, one changed letter changes the codes.
    with torch.no_grad():
        model.talker.text_projection.linear_fc2.weight.mul_(100.0)
    model.save_pretrained(out)
    Qwen3TTSProcessor(tokenizer=tokenizer).save_pretrained(out)

    # The nested speaker-encoder config is saved with a `model_type` that its config
    # class does not accept back, so reloading fails unless it is dropped.
    cfg_path = out / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved.get("speaker_encoder_config", {}).pop("model_type", None)
    cfg_path.write_text(json.dumps(saved, indent=2))

    # qwen-tts reads its sampling defaults from generation_config.json, as shipped.
    (out / "generation_config.json").write_text(
        json.dumps(
            dict(
                do_sample=True, top_k=50, top_p=1.0, temperature=0.9, repetition_penalty=1.05,
                subtalker_dosample=True, subtalker_top_k=50, subtalker_top_p=1.0,
                subtalker_temperature=0.9, max_new_tokens=8192,
            ),
            indent=2,
        )
    )
    build_speech_tokenizer(out / "speech_tokenizer", seed=seed)
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "tiny-qwen")
    print(build_checkpoint(root / "base", "base"))
    print(build_checkpoint(root / "design", "voice_design"))
