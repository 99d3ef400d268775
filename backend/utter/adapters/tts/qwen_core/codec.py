"""Streaming decode of the 12 Hz codec (qwen-tts's `Qwen3TTSTokenizerV2Decoder`), exact.

The decoder is causal end to end:

    quantizer.decode        per frame (embedding lookups, 1x1 convs)
    pre_conv                causal conv, kernel 3                       -> 2 frames of left context
    pre_transformer         8 layers (real size), causal attention with a sliding window of
                            72 (`kv_idx > q_idx - 72`): each layer looks 71 frames back, so
                            the stack sees 8 x 71 = 568 frames back
    upsample x2, x2         causal transposed convs (kernel = stride: no overlap) + ConvNeXt
                            blocks (causal depthwise conv, kernel 7)
    decoder                 causal conv k7, 4 blocks (transposed conv kernel 2r stride r: one
                            input step of overlap; residual units with causal dilated convs
                            k7 d1/3/9), SnakeBeta, causal conv k7, clamp

Re-decoding with a window of left context is exact only if the window covers the whole
receptive field: 2 (pre_conv) + 8 x 71 (transformer) + ~11 frames for the conv stack
after it (about 581 frames, 46 s; with the tiny test codec's 1 layer, 2 + 71 + ~11). That
is why qwen-tts's own `chunked_decode` (300-frame chunks, 25 frames of context) is an
approximation past 300 frames. Instead this decoder keeps each causal layer's state
between calls: the last (kernel-1) inputs of every causal conv, the last (ceil(K/r)-1)
inputs of every transposed conv, and the last 71 keys/values of every attention layer
(with absolute positions, as a one-shot pass numbers them). Decoding frames in pieces
then computes what one pass over all of them computes, to float rounding, at a cost
proportional to the new frames only, and pieces join without clicks by construction.

Everything with weights is the decoder's own modules; states are per stream and batch
together (`decode(states, codes)` runs any number of streams with the same piece length
in one call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .options import CoreUnavailable


@dataclass
class CodecState:
    """One stream's decoder state: a tensor per stateful layer (batch dim 1) and the frames seen."""

    tensors: list = field(default_factory=list)
    frames: int = 0

    def clone(self) -> "CodecState":
        return CodecState([t.clone() for t in self.tensors], self.frames)


class StreamingCodec:
    """Stateful, batched, exact streaming decode for a loaded `Qwen3TTSTokenizer` (12 Hz)."""

    def __init__(self, speech_tokenizer):
        from qwen_tts.core.tokenizer_12hz import modeling_qwen3_tts_tokenizer_v2 as mod

        self._mod = mod
        model = getattr(speech_tokenizer, "model", speech_tokenizer)
        decoder = getattr(model, "decoder", None)
        if not isinstance(decoder, mod.Qwen3TTSTokenizerV2Decoder):
            raise CoreUnavailable("the speech tokenizer is not the 12 Hz codec decoder")
        self.decoder = decoder
        self.config = decoder.config
        self.upsample = int(decoder.total_upsample)
        self.device = next(decoder.parameters()).device
        self.dtype = next(decoder.parameters()).dtype
        tm = decoder.pre_transformer
        self.window = int(tm.window_size)
        self.context = self.window - 1  # keys a query can see besides itself
        self.layer_types = set(self.config.layer_types) if getattr(self.config, "layer_types", None) else {"sliding_attention"}
        if self.layer_types != {"sliding_attention"}:
            raise CoreUnavailable(f"codec transformer layer types {self.layer_types}: expected sliding attention only")
        self._specs: list[tuple[str, tuple]] = []  # (kind, shape without batch) of each state tensor
        self._walk_specs()

    # --------------------------------------------------------------- structure

    def _walk_specs(self) -> None:
        mod = self._mod
        d = self.decoder
        specs = self._specs

        def conv(c: "mod.Qwen3TTSTokenizerV2CausalConvNet"):
            if c.stride != 1 or c.padding != c.kernel_size - 1:
                raise CoreUnavailable("strided causal conv in the codec decoder")
            specs.append(("conv", (c.conv.in_channels, c.padding)))

        def tconv(t: "mod.Qwen3TTSTokenizerV2CausalTransConvNet"):
            k, r = t.conv.kernel_size[0], t.conv.stride[0]
            if t.left_pad != 0 or t.right_pad != k - r or t.conv.padding[0] != 0 or t.conv.dilation[0] != 1:
                raise CoreUnavailable("unexpected transposed conv in the codec decoder")
            specs.append(("tconv", (t.conv.in_channels, math.ceil(k / r) - 1)))

        def block(m):
            if isinstance(m, mod.Qwen3TTSTokenizerV2CausalConvNet):
                conv(m)
            elif isinstance(m, mod.Qwen3TTSTokenizerV2CausalTransConvNet):
                tconv(m)
            elif isinstance(m, mod.Qwen3TTSTokenizerV2ConvNeXtBlock):
                conv(m.dwconv)
            elif isinstance(m, mod.Qwen3TTSTokenizerV2DecoderDecoderBlock):
                for sub in m.block:
                    block(sub)
            elif isinstance(m, mod.Qwen3TTSTokenizerV2DecoderDecoderResidualUnit):
                conv(m.conv1)
                conv(m.conv2)
            elif isinstance(m, mod.SnakeBeta):
                pass
            else:
                raise CoreUnavailable(f"unknown codec decoder block {type(m).__name__}")

        conv(d.pre_conv)
        tm = d.pre_transformer
        for layer in tm.layers:
            attn = layer.self_attn
            specs.append(("kv", (2, attn.config.num_key_value_heads, self.context, attn.head_dim)))
        for blocks in d.upsample:
            for m in blocks:
                block(m)
        for m in d.decoder:
            block(m)

    def new_state(self) -> CodecState:
        """The state before any frame: zeros, which is what the causal left padding feeds a one-shot pass."""
        return CodecState([torch.zeros(1, *shape, dtype=self.dtype, device=self.device) for _, shape in self._specs], 0)

    # ------------------------------------------------------------------ decode

    @torch.no_grad()
    def decode(self, states: list[CodecState], codes: torch.Tensor) -> torch.Tensor:
        """Audio [B, m * 1920] (float32, on the codec's device) for the next m frames of each stream.

        `codes` is [B, m, 16] (long). Each state advances by m frames in place.
        """
        B, m, _ = codes.shape
        if B != len(states):
            raise ValueError("one state per row")
        if m == 0:
            return torch.zeros(B, 0, dtype=torch.float32, device=self.device)
        ins = [torch.cat([s.tensors[i] for s in states], dim=0) for i in range(len(self._specs))]
        outs: list = [None] * len(ins)
        start = torch.tensor([s.frames for s in states], device=self.device)
        it = iter(range(len(ins)))
        d = self.decoder
        mod = self._mod

        def conv(c, x):
            i = next(it)
            ctx = c.padding
            if ctx == 0:
                outs[i] = ins[i]
                return c.conv(x).contiguous()
            xs = torch.cat((ins[i], x), dim=-1)
            outs[i] = xs[..., -ctx:]
            return c.conv(xs).contiguous()

        def tconv(t, x):
            i = next(it)
            r = t.conv.stride[0]
            keep = ins[i].shape[-1]
            xs = torch.cat((ins[i], x), dim=-1) if keep else x
            outs[i] = xs[..., xs.shape[-1] - keep:]
            y = t.conv(xs)
            n = x.shape[-1]
            return y[..., keep * r:(keep + n) * r].contiguous()

        def block(mdl, x):
            if isinstance(mdl, mod.Qwen3TTSTokenizerV2CausalConvNet):
                return conv(mdl, x)
            if isinstance(mdl, mod.Qwen3TTSTokenizerV2CausalTransConvNet):
                return tconv(mdl, x)
            if isinstance(mdl, mod.Qwen3TTSTokenizerV2ConvNeXtBlock):
                residual = x
                x = conv(mdl.dwconv, x).permute(0, 2, 1)
                x = mdl.pwconv2(mdl.act(mdl.pwconv1(mdl.norm(x))))
                return residual + (mdl.gamma * x).permute(0, 2, 1)
            if isinstance(mdl, mod.Qwen3TTSTokenizerV2DecoderDecoderBlock):
                for sub in mdl.block:
                    x = block(sub, x)
                return x
            if isinstance(mdl, mod.Qwen3TTSTokenizerV2DecoderDecoderResidualUnit):
                residual = x
                x = conv(mdl.conv1, mdl.act1(x))
                x = conv(mdl.conv2, mdl.act2(x))
                return x + residual
            return mdl(x)  # SnakeBeta: pointwise

        hidden = d.quantizer.decode(codes.transpose(1, 2))
        hidden = conv(d.pre_conv, hidden).transpose(1, 2)
        hidden = self._transformer(hidden, start, it, ins, outs)
        hidden = hidden.permute(0, 2, 1)
        for blocks in d.upsample:
            for mdl in blocks:
                hidden = block(mdl, hidden)
        wav = hidden
        for mdl in d.decoder:
            wav = block(mdl, wav)
        wav = wav.clamp(min=-1, max=1)
        for row, s in enumerate(states):
            s.tensors = [o[row:row + 1] for o in outs]
            s.frames += m
        return wav[:, 0].float()

    def _transformer(self, x, start, it, ins, outs):
        """The decoder's pre_transformer over new frames, with each layer's last 71 keys/values."""
        tm = self.decoder.pre_transformer
        B, m, _ = x.shape
        C, W = self.context, self.window
        x = tm.input_proj(x)
        q_pos = start[:, None] + torch.arange(m, device=x.device)[None]  # [B, m]
        k_pos = start[:, None] - C + torch.arange(C + m, device=x.device)[None]  # [B, C + m]
        allowed = (k_pos[:, None, :] <= q_pos[:, :, None]) & (k_pos[:, None, :] > q_pos[:, :, None] - W)
        allowed = (allowed & (k_pos >= 0)[:, None, :])[:, None]  # [B, 1, m, C + m]
        cos, sin = tm.rotary_emb(x, q_pos)
        apply_rope = self._mod.apply_rotary_pos_emb
        for layer in tm.layers:
            i = next(it)
            attn = layer.self_attn
            hd = attn.head_dim
            residual = x
            y = layer.input_layernorm(x)
            q = attn.q_norm(attn.q_proj(y).view(B, m, -1, hd)).transpose(1, 2)
            k = attn.k_norm(attn.k_proj(y).view(B, m, -1, hd)).transpose(1, 2)
            v = attn.v_proj(y).view(B, m, -1, hd).transpose(1, 2)
            q, k = apply_rope(q, k, cos, sin)
            keys = torch.cat((ins[i][:, 0], k), dim=2)
            values = torch.cat((ins[i][:, 1], v), dim=2)
            outs[i] = torch.stack((keys[:, :, -C:], values[:, :, -C:]), dim=1)
            o = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=allowed, scale=attn.scaling,
                enable_gqa=attn.num_key_value_groups > 1,
            )
            o = attn.o_proj(o.transpose(1, 2).reshape(B, m, -1))
            x = residual + layer.self_attn_layer_scale(o)
            residual = x
            x = residual + layer.mlp_layer_scale(layer.mlp(layer.post_attention_layernorm(x)))
        x = tm.norm(x)
        return tm.output_proj(x)

    # ------------------------------------------------------------------- helpers

    def one_shot(self, codes: torch.Tensor) -> torch.Tensor:
        """qwen-tts's own decode of [T, 16] codes (float32 numpy-ready tensor), for comparisons."""
        with torch.no_grad():
            return self.decoder.chunked_decode(codes.t()[None].clamp(min=0)).squeeze(1)[0].float()
