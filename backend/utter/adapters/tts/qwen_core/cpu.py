"""The decoding core's CPU paths: what a frame's weights cost and how to read fewer bytes.

On a CPU one frame step reads every weight of the talker once and the code predictor's
15 times (about 1.6 G parameters: 6.5 GB in float32), so the step is bound by memory
bandwidth. The paths, chosen with `UTTER_QWEN_CPU_PRECISION` (see docs/qwen.md):

- ``float32``: the model as qwen-tts loads it; greedy codes equal qwen-tts's.
- ``int8`` (opt-in): the talker's and code predictor's linear layers as int8 weights
  (symmetric, one scale per output channel) with activations quantised per row when
  they are used (fbgemm's dynamic int8 GEMM, PyTorch's well-kept CPU int8 kernel): a
  quarter of the bytes. q/k/v and gate/up are fused into one product each, and the
  RMS norms run as one fused op. The output heads (logits) stay in float32.
- the codec decoder runs in bfloat16 where the CPU multiplies bfloat16 natively
  (AVX512-BF16 or AMX): qwen-tts runs it in bfloat16 on GPUs too. Elsewhere float32.

bfloat16 for the talker and code predictor was measured too and is not faster on a CPU
(PyTorch's bfloat16 matrix-vector product reads half the bytes but runs no faster than
float32's at one row): it is what `UTTER_QWEN_DTYPE=bfloat16` loads, not a path here.

`prepare_cpu(wrapper, precision)` changes the loaded model in place (the real modules
stay; only their linear layers are swapped) and says what it did. `weight_bytes_per_frame`
is what a step reads, for the speed estimate.
"""

from __future__ import annotations

import functools
import platform
import warnings
from dataclasses import dataclass

import torch

from .speed import cpu_flags, default_threads, native_bf16

PRECISIONS = ("auto", "float32", "int8")


@functools.lru_cache(maxsize=1)
def int8_available() -> str | None:
    """Why the int8 path cannot run here (None when it can)."""
    engines = set(torch.backends.quantized.supported_engines)
    if not engines & {"fbgemm", "x86", "qnnpack"}:
        return f"no int8 CPU kernel in this PyTorch build (engines: {sorted(engines)})"
    try:  # PyTorch marks its quantised tensors as deprecated: check the kernel still runs
        packed = _pack(torch.ones(2, 2), None)
        torch.ops.quantized.linear_dynamic(torch.ones(1, 2), packed, True)
    except (RuntimeError, AttributeError, NotImplementedError) as exc:
        return f"this PyTorch build cannot run the dynamic int8 linear ({type(exc).__name__}: {exc})"
    return None


def _reduce_range() -> bool:
    """fbgemm quantises activations to 7 bits unless the CPU has VNNI (whose products cannot saturate)."""
    return not ({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags()) and platform.machine() in ("x86_64", "AMD64")


# ------------------------------------------------------------------- int8 modules


def _pack(weight: torch.Tensor, bias: torch.Tensor | None):
    """fbgemm's prepacked int8 weight (symmetric, per output channel)."""
    w = weight.detach().float().contiguous()
    scale = (w.abs().amax(dim=1).clamp_min(1e-12) / 127.0).double()
    zero = torch.zeros(w.shape[0], dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_per_channel warns that quantised tensors are on their way out
        q = torch.quantize_per_channel(w, scale, zero, 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(q, None if bias is None else bias.detach().float())


class Int8Linear(torch.nn.Module):
    """y = x W^T + b with W in int8 (per-channel scale) and x quantised per row on the fly (float32 in and out)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        self.in_features = int(weight.shape[1])
        self.out_features = int(weight.shape[0])
        self._packed = _pack(weight, bias)
        self._reduce = _reduce_range()
        self._last: tuple | None = None  # (input, its version, output) for FusedPart

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x.float(), self._packed, self._reduce)

    def once(self, x: torch.Tensor) -> torch.Tensor:
        """forward(x), computed once for the same input tensor (the parts of a fused product share it)."""
        last = self._last
        if last is not None and last[0] is x and last[1] == x._version:
            return last[2]
        out = self.forward(x)
        self._last = (x, x._version, out)
        return out

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"


class FusedPart(torch.nn.Module):
    """One of several linear layers fused into one int8 product (q/k/v, gate/up): its columns of the result.

    The model calls q_proj(y), k_proj(y), v_proj(y) on the same tensor: the first call runs
    the fused product, the others slice what it returned.
    """

    def __init__(self, fused: Int8Linear, start: int, stop: int):
        super().__init__()
        self.fused = [fused]  # a list, so the shared module is not registered (and counted) three times
        self.start, self.stop = start, stop
        self.in_features, self.out_features = fused.in_features, stop - start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fused[0].once(x)[..., self.start:self.stop]

    def extra_repr(self) -> str:
        return f"columns {self.start}:{self.stop} of a fused int8 product"


class FusedRMSNorm(torch.nn.Module):
    """qwen-tts's RMSNorm as one op (torch's fused rms_norm), same weight and epsilon."""

    def __init__(self, norm: torch.nn.Module):
        super().__init__()
        self.weight = norm.weight
        self.eps = float(norm.variance_epsilon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def _fuse(owner, names: list[str]) -> None:
    linears = [getattr(owner, n) for n in names]
    biases = [lin.bias for lin in linears]
    bias = None if all(b is None for b in biases) else torch.cat(
        [b.detach() if b is not None else torch.zeros(lin.out_features) for b, lin in zip(biases, linears)])
    fused = Int8Linear(torch.cat([lin.weight.detach() for lin in linears]), bias)
    start = 0
    for name, lin in zip(names, linears):
        setattr(owner, name, FusedPart(fused, start, start + lin.out_features))
        start += lin.out_features


def _int8_layer(layer) -> None:
    attn, mlp = layer.self_attn, layer.mlp
    _fuse(attn, ["q_proj", "k_proj", "v_proj"])
    attn.o_proj = Int8Linear(attn.o_proj.weight, attn.o_proj.bias)
    _fuse(mlp, ["gate_proj", "up_proj"])
    mlp.down_proj = Int8Linear(mlp.down_proj.weight, mlp.down_proj.bias)
    for name in ("input_layernorm", "post_attention_layernorm"):
        setattr(layer, name, FusedRMSNorm(getattr(layer, name)))
    attn.q_norm = FusedRMSNorm(attn.q_norm)
    attn.k_norm = FusedRMSNorm(attn.k_norm)


# ------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class CpuPath:
    """What runs on the CPU, in words and figures."""

    precision: str  # "float32" or "int8": the talker's and code predictor's linear layers
    codec_dtype: str  # "float32" or "bfloat16"
    threads: int
    weight_bytes_per_frame: int
    note: str = ""

    def describe(self) -> str:
        step = ("int8 linear layers (fbgemm, per-channel weights, activations quantised per row)"
                if self.precision == "int8" else "float32 (exact)")
        text = f"CPU: {step}, codec in {self.codec_dtype}, {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{text} ({self.note})" if self.note else text


def resolve_precision(requested: str) -> tuple[str, str]:
    """(precision, why) for the CPU step. `auto` keeps float32: int8 loses more than the
    published bfloat16 precision, so it runs only when asked for (docs/qwen.md)."""
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ValueError(f"UTTER_QWEN_CPU_PRECISION={requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested == "int8":
        reason = int8_available()
        if reason:
            return "float32", f"int8 asked for but unavailable: {reason}"
        return "int8", "int8 asked for (UTTER_QWEN_CPU_PRECISION=int8)"
    if requested == "float32":
        return "float32", "float32 asked for"
    return "float32", "auto: float32 (int8 is opt-in: UTTER_QWEN_CPU_PRECISION=int8)"


def _layers(tts):
    talker = tts.talker
    return list(talker.model.layers), list(talker.code_predictor.model.layers)


def weight_bytes_per_frame(tts, precision: str = "float32") -> int:
    """Bytes of weights one frame step reads: the talker's layers once, the code predictor's
    layers 15 times, one predictor head per codebook and the talker's head."""
    t_layers, p_layers = _layers(tts)

    def linear_params(layers) -> int:
        n = 0
        for layer in layers:
            for mod in (layer.self_attn, layer.mlp):
                for sub in mod.modules():
                    if isinstance(sub, torch.nn.Linear):
                        n += sub.weight.numel()
                    elif isinstance(sub, (Int8Linear, FusedPart)):
                        n += sub.in_features * sub.out_features
        return n

    elem = 1 if precision == "int8" else 4
    passes = tts.talker.config.num_code_groups - 1
    heads = sum(h.weight.numel() for h in tts.talker.code_predictor.lm_head) + tts.talker.codec_head.weight.numel()
    return (linear_params(t_layers) + passes * linear_params(p_layers)) * elem + heads * 4


def prepare_cpu(wrapper, precision: str = "auto", *, codec: str = "auto", threads: int | None = None) -> CpuPath:
    """Make the loaded (float32, CPU) model run the chosen CPU path; in place, once.

    `codec`: "auto" (bfloat16 where the CPU has native bfloat16), "bfloat16" or "float32".
    """
    tts = getattr(wrapper, "model", wrapper)
    if tts.talker.device.type != "cpu":
        raise ValueError("prepare_cpu is for a model on the CPU")
    chosen, why = resolve_precision(precision)
    if getattr(tts, "_utter_cpu_path", None) is not None:
        return tts._utter_cpu_path
    if chosen == "int8" and tts.talker.dtype != torch.float32:
        chosen, why = "float32", f"int8 needs the model loaded in float32 (it is {tts.talker.dtype})"
    if chosen == "int8":
        t_layers, p_layers = _layers(tts)
        for layer in t_layers + p_layers:
            _int8_layer(layer)
    codec_dtype = _codec_dtype(codec)
    decoder = tts.speech_tokenizer.model.decoder
    if codec_dtype == "bfloat16" and next(decoder.parameters()).dtype == torch.float32:
        decoder.to(torch.bfloat16)
    codec_now = str(next(decoder.parameters()).dtype).removeprefix("torch.")
    path = CpuPath(precision=chosen, codec_dtype=codec_now, threads=int(threads or default_threads()),
                   weight_bytes_per_frame=weight_bytes_per_frame(tts, chosen), note=why)
    tts._utter_cpu_path = path
    return path


def _codec_dtype(codec: str) -> str:
    codec = (codec or "auto").lower()
    if codec == "auto":
        return "bfloat16" if native_bf16() else "float32"
    if codec not in ("bfloat16", "float32"):
        raise ValueError(f"codec dtype {codec!r}: use auto, bfloat16 or float32")
    return codec


# ------------------------------------------------------------------- accuracy checks


def _relative_error(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    reference = reference.float()
    return float((candidate.float() - reference).norm() / reference.norm().clamp_min(1e-30))


@torch.no_grad()
def output_errors(reference, candidate, embeds: torch.Tensor, codes: torch.Tensor) -> dict:
    """How far a lower-precision model's outputs are from full precision on the same inputs.

    `reference` / `candidate`: two Qwen3TTSModel wrappers (or their `.model`) of the same weights.
    `embeds` [1, L, H]: a talker prompt (the prefill input); `codes` [16]: one frame's codes,
    fed to both code predictors (teacher-forced, so both see the same inputs at every codebook).
    Relative errors (||candidate - reference|| / ||reference||) of the talker's last hidden
    states and logits over the whole prompt, and of the code predictor's logits for codebooks
    2..16; plus how often both pick the same top token.
    """
    out: dict = {}
    models = [getattr(m, "model", m) for m in (reference, candidate)]
    talker_out = []
    for tts in models:
        talker = tts.talker
        x = embeds.to(talker.dtype)
        mask = torch.ones(1, x.shape[1], dtype=torch.long)
        position_ids, _ = talker.get_rope_index(mask)
        hidden = talker.model(inputs_embeds=x, attention_mask=mask, position_ids=position_ids).last_hidden_state
        talker_out.append((hidden.float(), talker.codec_head(hidden).float()))
    (h_ref, l_ref), (h_c, l_c) = talker_out
    out["talker_hidden"] = _relative_error(h_c, h_ref)
    out["talker_logits"] = _relative_error(l_c, l_ref)
    out["talker_top1_agreement"] = float((l_c.argmax(-1) == l_ref.argmax(-1)).float().mean())
    predictor_out = []
    past = h_ref[:, -1:]  # the same talker state for both predictors
    for tts in models:
        talker, cp = tts.talker, tts.talker.code_predictor
        dtype = talker.dtype
        first = talker.get_input_embeddings()(codes[None, :1])
        rest = [cp.model.codec_embedding[j](codes[None, j + 1:j + 2]) for j in range(codes.shape[0] - 2)]
        x = cp.small_to_mtp_projection(torch.cat([past.to(dtype), first, *rest], dim=1))
        h = cp.model(inputs_embeds=x).last_hidden_state
        predictor_out.append(torch.stack([cp.lm_head[j](h[:, j + 1]).float() for j in range(codes.shape[0] - 1)]))
    p_ref, p_c = predictor_out
    out["predictor_logits"] = _relative_error(p_c, p_ref)
    out["predictor_top1_agreement"] = float((p_c.argmax(-1) == p_ref.argmax(-1)).float().mean())
    return {k: round(v, 5) for k, v in out.items()}


@torch.no_grad()
def codec_snr(reference, candidate, codes: torch.Tensor, piece: int = 8) -> float:
    """Signal-to-noise ratio (dB) of a candidate codec's streamed audio against the reference's,
    for `codes` [B, T, 16] decoded in pieces of `piece` frames (as the core streams them).
    `reference` / `candidate`: speech tokenizers (`model.speech_tokenizer`) of the same weights."""
    from .codec import StreamingCodec

    audio = []
    for tokenizer in (reference, candidate):
        codec = StreamingCodec(tokenizer)
        states = [codec.new_state() for _ in range(codes.shape[0])]
        audio.append(torch.cat([codec.decode(states, codes[:, i:i + piece]) for i in range(0, codes.shape[1], piece)],
                               dim=1))
    ref, cand = audio
    noise = (cand - ref).pow(2).sum()
    return float(10 * torch.log10(ref.pow(2).sum() / noise.clamp_min(1e-30)))
