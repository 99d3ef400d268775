"""Talker prompts built exactly as qwen-tts 0.1.1 builds them, one request at a time.

`Qwen3TTSForConditionalGeneration.generate` assembles the prompt for a whole batch and
then calls the talker's HF `generate` in one go; that assembly is not a separate
function, so it is mirrored here for one item (no left padding, which batch-of-one
qwen-tts does not add either), calling qwen-tts's own pieces for everything that
touches weights: the wrapper's tokenisation helpers (`_build_assistant_text`,
`_build_ref_text`, `_build_instruct_text`, `_tokenize_texts`), the talker's text
embedding + `text_projection`, its codec embedding, and `generate_icl_prompt` for
in-context cloning. The tests compare the result with what qwen-tts hands to the
talker's `generate` (torch.equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class TalkerPrompt:
    embeds: torch.Tensor  # [1, L, H]: the talker's prefill input
    trailing: torch.Tensor  # [1, T, H]: text embeddings added to the inputs of decode steps 0..T-1
    ref_codes: torch.Tensor | None  # [R, 16] reference codes (in-context clone): the codec's left context

    @property
    def length(self) -> int:
        return int(self.embeds.shape[1])


def _item_fields(item: Any) -> dict:
    """A VoiceClonePromptItem (or a dict with the same fields)."""
    get = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    return dict(
        ref_code=get("ref_code"),
        ref_spk_embedding=get("ref_spk_embedding"),
        x_vector_only_mode=bool(get("x_vector_only_mode", False)),
        icl_mode=bool(get("icl_mode", False)),
        ref_text=get("ref_text"),
    )


@torch.no_grad()
def build_prompt(
    wrapper: Any,
    text: str,
    language: str,
    *,
    clone_item: Any = None,
    instruct: str | None = None,
    non_streaming_mode: bool = False,
) -> TalkerPrompt:
    """The talker input for `text`, as `Qwen3TTSForConditionalGeneration.generate` makes it.

    `wrapper` is a `qwen_tts.Qwen3TTSModel`. Clone with `clone_item` (a
    VoiceClonePromptItem: in-context when it has ref codes and icl_mode, x-vector only
    otherwise); design with `instruct`. qwen-tts's defaults for `non_streaming_mode` are
    False for generate_voice_clone and True for generate_voice_design.
    """
    tts = wrapper.model
    talker = tts.talker
    cfg = tts.config
    tc = cfg.talker_config
    device = talker.device

    input_id = wrapper._tokenize_texts([wrapper._build_assistant_text(text)])[0]
    instruct_id = None
    if instruct:
        instruct_id = wrapper._tokenize_texts([wrapper._build_instruct_text(instruct)])[0]
    item = _item_fields(clone_item) if clone_item is not None else None
    ref_id = None
    if item is not None and item["ref_text"]:
        ref_id = wrapper._tokenize_texts([wrapper._build_ref_text(item["ref_text"])])[0]

    def text_embed(ids: torch.Tensor) -> torch.Tensor:
        return talker.text_projection(talker.get_text_embeddings()(ids))

    def codec_embed(ids: list[int]) -> torch.Tensor:
        return talker.get_input_embeddings()(torch.tensor([ids], device=device, dtype=input_id.dtype))

    parts = []
    if instruct_id is not None:
        parts.append(text_embed(instruct_id))

    speaker_embed = None
    if item is not None and (item["x_vector_only_mode"] or item["icl_mode"]):
        speaker_embed = item["ref_spk_embedding"].to(talker.device).to(talker.dtype)

    lang = language.lower()
    language_id = None if lang == "auto" else tc.codec_language_id[lang]

    tts_bos, tts_eos, tts_pad = text_embed(
        torch.tensor([[cfg.tts_bos_token_id, cfg.tts_eos_token_id, cfg.tts_pad_token_id]], device=device, dtype=input_id.dtype)
    ).chunk(3, dim=1)

    if language_id is None:
        tags = [tc.codec_nothink_id, tc.codec_think_bos_id, tc.codec_think_eos_id]
    else:
        tags = [tc.codec_think_id, tc.codec_think_bos_id, language_id, tc.codec_think_eos_id]
    codec_0 = codec_embed(tags)
    codec_1 = codec_embed([tc.codec_pad_id, tc.codec_bos_id])
    if speaker_embed is None:
        codec = torch.cat([codec_0, codec_1], dim=1)
    else:
        codec = torch.cat([codec_0, speaker_embed.view(1, 1, -1), codec_1], dim=1)

    role = text_embed(input_id[:, :3])  # <|im_start|>assistant\n
    head = torch.cat((tts_pad.expand(-1, codec.shape[1] - 2, -1), tts_bos), dim=1) + codec[:, :-1]
    talker_input = torch.cat((role, head), dim=1)

    ref_codes = None
    if item is not None and item["ref_code"] is not None and item["icl_mode"]:
        ref_codes = item["ref_code"].to(device)
        icl_input, trailing = tts.generate_icl_prompt(
            text_id=input_id[:, 3:-5],
            ref_id=ref_id[:, 3:-2],
            ref_code=ref_codes,
            tts_pad_embed=tts_pad,
            tts_eos_embed=tts_eos,
            non_streaming_mode=non_streaming_mode,
        )
        talker_input = torch.cat([talker_input, icl_input], dim=1)
    else:
        talker_input = torch.cat([talker_input, text_embed(input_id[:, 3:4]) + codec[:, -1:]], dim=1)
        if non_streaming_mode:
            talker_input = talker_input[:, :-1]
            body = input_id[:, 3:-5]
            talker_input = torch.cat(
                [
                    talker_input,
                    torch.cat((text_embed(body), tts_eos), dim=1) + codec_embed([tc.codec_pad_id] * (body.shape[1] + 1)),
                    tts_pad + codec_embed([tc.codec_bos_id]),
                ],
                dim=1,
            )
            trailing = tts_pad
        else:
            trailing = torch.cat((text_embed(input_id[:, 4:-5]), tts_eos), dim=1)
    parts.append(talker_input)
    embeds = torch.cat(parts, dim=1)
    return TalkerPrompt(embeds=embeds, trailing=trailing, ref_codes=ref_codes)


def pad_embedding(wrapper: Any) -> torch.Tensor:
    """tts_pad's projected text embedding [1, H]: what decode steps add once the text runs out.

    Projected together with bos and eos, as qwen-tts does (a 3-row matmul can round
    differently from a 1-row one)."""
    tts = wrapper.model
    talker = tts.talker
    cfg = tts.config
    ids = torch.tensor([[cfg.tts_bos_token_id, cfg.tts_eos_token_id, cfg.tts_pad_token_id]], device=talker.device)
    with torch.no_grad():
        return talker.text_projection(talker.get_text_embeddings()(ids))[0, 2:3]
