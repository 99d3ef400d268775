"""Frame-by-frame decoding of Qwen3-TTS's talker + code predictor on a static KV cache.

One *step* advances every row (slot) of the batch by one codec frame:

    code predictor: [talker hidden, embed(first code)] -> codebooks 2..16 (15 tiny decode steps)
    next talker input = sum of the 16 code embeddings + the next text embedding (or tts_pad)
    talker: one token through all layers against the row's static KV cache -> next first code

which is exactly one `Qwen3TTSTalkerForConditionalGeneration.forward` decode call of
qwen-tts (predictor first, then the talker), re-expressed on preallocated buffers:

- talker KV: per layer [max_batch, kv_heads, cache_len, head_dim]; each row writes at its
  own position (rows are at different points of their generations);
- predictor KV: per layer [max_batch, kv_heads, 17, head_dim], rewritten every frame;
- every input/output of a step lives in a buffer, so the step reads and writes only
  those: on CUDA it is captured once per batch size as a `torch.cuda.CUDAGraph` and
  replayed; on CPU (or with graphs off) the very same `_step` runs eagerly.

Weights are never copied or re-derived: the step calls the model's own modules (norms,
projections, MLPs, embeddings, heads) and qwen-tts's rotary tables; only the attention
against the static cache is written here (`attend`: the arithmetic of qwen-tts's eager
attention, grouped-query without repeating k/v). The prefill runs qwen-tts's own
`talker.model` forward (same call, mask and positions as its `generate`) and its KV is
copied into the row's cache.

Numerics: with one row, every matmul has the shape qwen-tts gives it (M=1 for decode
steps, M=2 for the predictor's 2-token prefill, logits over the whole prompt at
prefill), so greedy codes come out identical (the tests check torch.equal). With
several rows the matmuls have M=rows, and BLAS kernels may round a row differently
than at M=1 (MKL does at the real sizes): a batched stream's greedy codes can then
part from its solo codes at a near-tie, as qwen-tts's own batched generate can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .options import CoreUnavailable
from .sampling import choose, talker_scores


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def attend(q, k, v, scale: float, mask=None):
    """Attention of q [b, heads, n, d] over k, v [b, kv_heads, L, d] (grouped-query), as
    qwen-tts's eager attention computes it (scores in the input dtype, softmax in float32),
    without repeating k/v: the query heads of each kv head are stacked as rows.
    `mask` is a bool [b or 1, 1, rows, L] (True = attend), rows = heads/kv_heads * n.

    Plain matmuls rather than scaled_dot_product_attention: for one query against a few
    keys the CPU kernel's threading costs ~100x the arithmetic, and this runs 103 times a
    frame (28 talker layers + 15 x 5 predictor layers).
    """
    b, heads, n, d = q.shape
    kv_heads = k.shape[1]
    rows = heads // kv_heads * n
    scores = torch.matmul(q.reshape(b, kv_heads, rows, d), k.transpose(2, 3)) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probs, v).reshape(b, heads, n, d)


def _merged_mrope_tables(talker, length: int, dtype, device):
    """Per-position cos/sin [length, head_dim] as qwen-tts's multimodal rotary applies them.

    The talker's rotary module gives 3 rows (temporal/height/width) and
    `apply_multimodal_rotary_pos_emb` interleaves them. For text-only prompts all three
    rows carry the same position; rather than assume what the interleave yields, run
    qwen-tts's own function on unit inputs and read the merged tables back exactly:
    with q = [1, 0] (halves) it returns [cos_1, sin_2]; with q = [0, 1], [-sin_1, cos_2].
    """
    from qwen_tts.core.models.modeling_qwen3_tts import apply_multimodal_rotary_pos_emb

    rope = talker.model.rotary_emb
    positions = torch.arange(length, device=device).view(1, 1, length).expand(3, 1, length)
    probe = torch.zeros(1, 1, length, 1, dtype=dtype, device=device)
    cos3, sin3 = rope(probe, positions)  # [3, 1, length, head_dim]
    head_dim = cos3.shape[-1]
    half = head_dim // 2
    first = torch.zeros(1, 1, length, head_dim, dtype=dtype, device=device)
    first[..., :half] = 1
    second = torch.zeros_like(first)
    second[..., half:] = 1
    section = talker.config.rope_scaling["mrope_section"]
    interleaved = talker.config.rope_scaling.get("interleaved", False)
    out_first, out_second = apply_multimodal_rotary_pos_emb(first, second, cos3, sin3, section, interleaved)
    cos = torch.cat((out_first[..., :half], out_second[..., half:]), dim=-1)[0, 0]
    sin = torch.cat((-out_second[..., :half], out_first[..., half:]), dim=-1)[0, 0]
    return cos.contiguous(), sin.contiguous()


@dataclass
class RowSettings:
    """A row's sampling settings (qwen-tts's names)."""

    do_sample: bool
    top_k: int
    top_p: float
    temperature: float
    repetition_penalty: float
    subtalker_dosample: bool
    subtalker_top_k: int
    subtalker_top_p: float
    subtalker_temperature: float


@dataclass(frozen=True)
class Hints:
    """What eager steps may skip, known on the host from the rows' settings (graphs use GENERAL).

    sample: any row samples; k_max / sub_k_max: the largest effective top-k over the rows
    (None: sort everything); top_p / sub_top_p: any row uses top-p.
    """

    sample: bool = True
    k_max: int | None = None
    top_p: bool = True
    sub_k_max: int | None = None
    sub_top_p: bool = True

    @classmethod
    def of(cls, settings: list["RowSettings"], vocab: int, sub_vocab: int) -> "Hints":
        def eff(k, v):
            return v if not k or k <= 0 else min(int(k), v)

        return cls(
            sample=any(s.do_sample or s.subtalker_dosample for s in settings),
            k_max=max(eff(s.top_k, vocab) for s in settings),
            top_p=any(float(s.top_p) < 1.0 for s in settings),
            sub_k_max=max(eff(s.subtalker_top_k, sub_vocab) for s in settings),
            sub_top_p=any(float(s.subtalker_top_p) < 1.0 for s in settings),
        )


GENERAL = Hints()


def check_supported(tts) -> None:
    """Raise CoreUnavailable if this model has a shape the step does not handle."""
    talker = getattr(tts, "talker", None)
    if talker is None or not hasattr(talker, "code_predictor"):
        raise CoreUnavailable("not a Qwen3-TTS model (no talker / code predictor)")
    tc = talker.config
    pc = talker.code_predictor.config
    if getattr(tts, "tokenizer_type", None) != "qwen3_tts_tokenizer_12hz":
        raise CoreUnavailable(f"codec {getattr(tts, 'tokenizer_type', None)!r}: the core streams only the 12 Hz codec")
    if getattr(tc, "sliding_window", None) is not None:
        raise CoreUnavailable("talker uses sliding-window attention (not in the static-cache step)")
    if "sliding_attention" in (getattr(pc, "layer_types", None) or []):
        raise CoreUnavailable("code predictor uses sliding-window attention (not in the static-cache step)")
    scaling = getattr(tc, "rope_scaling", None) or {}
    if "mrope_section" not in scaling:
        raise CoreUnavailable("talker rotary embedding is not the multimodal rope qwen-tts 0.1.1 uses")
    if scaling.get("rope_type", "default") not in ("default",) or (getattr(pc, "rope_scaling", None) or {}).get(
        "rope_type", "default"
    ) not in ("default",):
        raise CoreUnavailable("dynamic rotary scaling is not supported by the static tables")
    if tc.num_code_groups != pc.num_code_groups:
        raise CoreUnavailable("talker and code predictor disagree on the number of code groups")


class FrameStepper:
    """Static buffers + the step for up to `max_batch` rows. Owned by one thread."""

    def __init__(self, wrapper, *, max_batch: int, cache_len: int, trail_cap: int, use_graphs: bool, buckets=None):
        from .prompt import pad_embedding

        tts = wrapper.model
        check_supported(tts)
        self.wrapper = wrapper
        self.talker = talker = tts.talker
        self.cp = cp = talker.code_predictor
        tc, pc = talker.config, cp.config
        self.device = device = talker.device
        self.dtype = dtype = talker.dtype
        self.max_batch = max_batch
        self.cache_len = S = cache_len
        self.trail_cap = trail_cap
        self.groups = tc.num_code_groups
        self.vocab = tc.vocab_size
        self.cp_vocab = pc.vocab_size
        self.eos_id = tc.codec_eos_token_id

        self.t_layers = list(talker.model.layers)
        self.t_head_dim = getattr(tc, "head_dim", tc.hidden_size // tc.num_attention_heads)
        self.t_kv_heads = tc.num_key_value_heads
        self.p_layers = list(cp.model.layers)
        self.p_head_dim = getattr(pc, "head_dim", pc.hidden_size // pc.num_attention_heads)
        self.p_kv_heads = pc.num_key_value_heads
        self.p_len = self.groups + 1  # hidden + 16 codes (the 16th is never fed back)
        H = tc.hidden_size

        z = dict(device=device)
        self.k_cache = [torch.zeros(max_batch, self.t_kv_heads, S, self.t_head_dim, dtype=dtype, **z) for _ in self.t_layers]
        self.v_cache = [torch.zeros_like(self.k_cache[0]) for _ in self.t_layers]
        self.pk_cache = [torch.zeros(max_batch, self.p_kv_heads, self.p_len, self.p_head_dim, dtype=dtype, **z) for _ in self.p_layers]
        self.pv_cache = [torch.zeros_like(self.pk_cache[0]) for _ in self.p_layers]
        self.t_cos, self.t_sin = _merged_mrope_tables(talker, S, dtype, device)
        probe = torch.zeros(1, 1, 1, dtype=dtype, device=device)
        p_cos, p_sin = cp.model.rotary_emb(probe, torch.arange(self.p_len, device=device)[None])
        self.p_cos, self.p_sin = p_cos[:, None], p_sin[:, None]  # [1, 1, 17, head_dim]
        self.kv_arange = torch.arange(S, device=device)
        # the predictor's 2-token prefill: query i sees keys 0..i (rows stack the query heads of a kv head)
        group = pc.num_attention_heads // pc.num_key_value_heads
        self.p_causal = torch.tril(torch.ones(2, 2, dtype=torch.bool, device=device)).repeat(group, 1)[None, None]
        self.rows = torch.arange(max_batch, device=device)

        # per-row state
        self.hidden = torch.zeros(max_batch, 1, H, dtype=dtype, **z)  # talker's last hidden state
        self.token = torch.zeros(max_batch, dtype=torch.long, **z)  # last first-codebook token
        self.pos = torch.zeros(max_batch, dtype=torch.long, **z)  # next cache position
        self.gen_step = torch.zeros(max_batch, dtype=torch.long, **z)  # qwen-tts's generation_step
        self.generated = torch.zeros(max_batch, dtype=torch.long, **z)  # talker tokens so far
        self.seen = torch.zeros(max_batch, self.vocab, dtype=torch.bool, **z)
        self.trail = torch.zeros(max_batch, trail_cap, H, dtype=dtype, **z)
        self.trail_len = torch.zeros(max_batch, dtype=torch.long, **z)
        self.pad_embed = pad_embedding(wrapper).to(dtype)  # [1, H]
        # per-row sampling settings
        f32 = dict(dtype=torch.float32, **z)
        self.do_sample = torch.zeros(max_batch, dtype=torch.bool, **z)
        self.temperature = torch.ones(max_batch, **f32)
        self.top_k = torch.zeros(max_batch, dtype=torch.long, **z)
        self.top_p_floor = torch.zeros(max_batch, **f32)
        self.use_top_p = torch.zeros(max_batch, dtype=torch.bool, **z)
        self.penalty = torch.ones(max_batch, **f32)
        self.sub_do_sample = torch.zeros(max_batch, dtype=torch.bool, **z)
        self.sub_temperature = torch.ones(max_batch, **f32)
        self.sub_top_k = torch.zeros(max_batch, dtype=torch.long, **z)
        self.sub_top_p_floor = torch.zeros(max_batch, **f32)
        self.sub_use_top_p = torch.zeros(max_batch, dtype=torch.bool, **z)
        self.noise = torch.ones(max_batch, self.vocab, **f32)
        self.sub_noise = torch.ones(max_batch, self.groups - 1, self.cp_vocab, **f32)
        # constant masks
        self.suppress = torch.zeros(self.vocab, dtype=torch.bool, **z)
        self.suppress[[i for i in range(self.vocab - 1024, self.vocab) if i != self.eos_id]] = True
        self.eos_onehot = torch.zeros(self.vocab, dtype=torch.bool, **z)
        self.eos_onehot[self.eos_id] = True
        # outputs of the last step
        self.frame = torch.zeros(max_batch, self.groups, dtype=torch.long, **z)

        self.graphs = None
        if use_graphs:
            if device.type != "cuda" or not torch.cuda.is_available():
                raise CoreUnavailable("CUDA graphs need a CUDA device")
            self.graphs = CudaGraphs(self, buckets or default_buckets(max_batch))

    # ----------------------------------------------------------------- prefill

    @torch.no_grad()
    def prefill(self, row: int, embeds: torch.Tensor, trailing: torch.Tensor, settings: RowSettings, noise_gen=None) -> int:
        """Run the prompt through the talker into `row`'s cache and draw the first token.

        The forward is qwen-tts's: `talker.model` with the all-ones attention mask and the
        positions `talker.get_rope_index` gives (what the talker's forward passes at
        prefill), and logits from `codec_head` over the whole prompt, last position taken,
        as HF `generate` does. Returns the first token.
        """
        L = embeds.shape[1]
        T = trailing.shape[1]
        if L + 1 > self.cache_len:
            raise ValueError(f"prompt of {L} positions does not fit the cache ({self.cache_len})")
        if T > self.trail_cap:
            raise ValueError(f"text of {T} trailing positions exceeds the core's limit ({self.trail_cap})")
        mask = torch.ones(1, L, dtype=torch.long, device=self.device)
        position_ids, _ = self.talker.get_rope_index(mask)
        out = self.talker.model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            cache_position=torch.arange(L, device=self.device),
        )
        cache = out.past_key_values
        for li in range(len(self.t_layers)):
            layer = cache.layers[li]
            self.k_cache[li][row, :, :L].copy_(layer.keys[0])
            self.v_cache[li][row, :, :L].copy_(layer.values[0])
        hidden = out.last_hidden_state
        logits = self.talker.codec_head(hidden)[:, -1, :].float()
        self.hidden[row].copy_(hidden[0, -1:])
        self.pos[row] = L
        self.gen_step[row] = 0
        self.generated[row] = 0
        self.seen[row] = False
        self.trail[row, :T].copy_(trailing[0])
        self.trail_len[row] = T
        self.set_settings(row, settings)
        r = slice(row, row + 1)
        if settings.do_sample:
            self.fill_noise(row, noise_gen)
        hints = Hints.of([settings], self.vocab, self.cp_vocab)
        scores = talker_scores(logits, self.seen[r], self.generated[r], self.penalty[r], self.suppress, self.eos_onehot)
        token = choose(scores, self.do_sample[r], self.temperature[r], self.top_k[r], self.top_p_floor[r],
                       self.use_top_p[r], self.noise[r], sample=bool(settings.do_sample), k_max=hints.k_max,
                       any_top_p=hints.top_p)
        self.token[row] = token[0]
        self.seen[row, token[0]] = True
        self.generated[row] = 1
        return int(token[0])

    def set_settings(self, row: int, s: RowSettings) -> None:
        self.do_sample[row] = bool(s.do_sample)
        self.temperature[row] = float(s.temperature)
        self.top_k[row] = int(s.top_k or 0)
        self.top_p_floor[row] = 1.0 - float(s.top_p)  # in double, as HF's `1 - self.top_p`
        self.use_top_p[row] = float(s.top_p) < 1.0
        self.penalty[row] = float(s.repetition_penalty) if s.repetition_penalty is not None else 1.0
        self.sub_do_sample[row] = bool(s.subtalker_dosample)
        self.sub_temperature[row] = float(s.subtalker_temperature)
        self.sub_top_k[row] = int(s.subtalker_top_k or 0)
        self.sub_top_p_floor[row] = 1.0 - float(s.subtalker_top_p)
        self.sub_use_top_p[row] = float(s.subtalker_top_p) < 1.0

    def fill_noise(self, row: int | slice, generator=None) -> None:
        """Fresh Exp(1) draws for `row`'s next step (its own generator when it has a seed)."""
        self.noise[row].exponential_(generator=generator)
        self.sub_noise[row].exponential_(generator=generator)

    def release(self, row: int) -> None:
        """Neutral values for a free row (it may still be computed inside a larger graph)."""
        self.pos[row] = 0
        self.token[row] = 0
        self.gen_step[row] = 0
        self.trail_len[row] = 0
        self.do_sample[row] = False
        self.sub_do_sample[row] = False

    def move_row(self, src: int, dst: int, length: int) -> None:
        """Copy row `src` (its first `length` cache positions and all its state) to `dst`."""
        for cache in (*self.k_cache, *self.v_cache):
            cache[dst, :, :length].copy_(cache[src, :, :length])
        for buf in (self.hidden, self.token, self.pos, self.gen_step, self.generated, self.seen, self.trail,
                    self.trail_len, self.do_sample, self.temperature, self.top_k, self.top_p_floor, self.use_top_p,
                    self.penalty, self.sub_do_sample, self.sub_temperature, self.sub_top_k, self.sub_top_p_floor,
                    self.sub_use_top_p):
            buf[dst].copy_(buf[src])

    # -------------------------------------------------------------------- step

    def run_step(self, n: int, *, hints: Hints = GENERAL, kv_len: int | None = None) -> int:
        """Advance rows 0..n-1 by one frame; results in self.frame / self.token. Returns the batch size run.

        With CUDA graphs this replays the graph of the smallest captured batch >= n (rows
        past n are free and neutral); eagerly it runs `_step` on exactly n rows, attending
        to `kv_len` cache positions (unmasked when n == 1, as qwen-tts's decode does).
        """
        if self.graphs is not None:
            return self.graphs.replay(n)
        with torch.no_grad():
            self._step(n, kv_len or self.cache_len, hints=hints, masked=n > 1 or kv_len is None)
        return n

    def _step(self, b: int, kv_len: int, *, hints: Hints = GENERAL, masked: bool = True) -> None:
        """One frame for rows 0..b-1, from and into the static buffers only (graph-capturable)."""
        talker = self.talker
        tok0 = self.token[:b]
        e0 = talker.get_input_embeddings()(tok0[:, None])  # [b, 1, H]
        codes, code_embeds = self._predict(self.hidden[:b], e0, b, hints)
        frame = torch.cat((tok0[:, None], codes), dim=1)
        x = torch.cat([e0] + code_embeds, dim=1).sum(1, keepdim=True)
        gen_step = self.gen_step[:b]
        text = self.trail[self.rows[:b], gen_step.clamp(max=self.trail_cap - 1)]
        x = x + torch.where((gen_step < self.trail_len[:b])[:, None], text, self.pad_embed)[:, None]
        h = self._talker_decode(x, b, kv_len, masked)
        logits = talker.codec_head(h)[:, -1, :].float()
        scores = talker_scores(logits, self.seen[:b], self.generated[:b], self.penalty[:b], self.suppress, self.eos_onehot)
        token = choose(scores, self.do_sample[:b], self.temperature[:b], self.top_k[:b], self.top_p_floor[:b],
                       self.use_top_p[:b], self.noise[:b], sample=hints.sample, k_max=hints.k_max,
                       any_top_p=hints.top_p)
        self.frame[:b].copy_(frame)
        self.hidden[:b].copy_(h)
        self.token[:b].copy_(token)
        self.seen[:b].scatter_(1, token[:, None], True)
        self.pos[:b] += 1
        self.pos[:b].clamp_(max=self.cache_len - 1)  # free rows inside a captured batch keep stepping
        self.gen_step[:b] += 1
        self.generated[:b] += 1

    def _talker_decode(self, x, b: int, kv_len: int, masked: bool):
        """One token per row through the talker's layers against the static cache."""
        hd = self.t_head_dim
        pos = self.pos[:b]
        cos = self.t_cos.index_select(0, pos).view(b, 1, 1, hd)
        sin = self.t_sin.index_select(0, pos).view(b, 1, 1, hd)
        write = pos.view(b, 1, 1, 1).expand(b, self.t_kv_heads, 1, hd)
        mask = (self.kv_arange[:kv_len].view(1, 1, 1, kv_len) <= pos.view(b, 1, 1, 1)) if masked else None
        for li, layer in enumerate(self.t_layers):
            attn = layer.self_attn
            residual = x
            y = layer.input_layernorm(x)
            q = attn.q_norm(attn.q_proj(y).view(b, 1, -1, hd)).transpose(1, 2)
            k = attn.k_norm(attn.k_proj(y).view(b, 1, -1, hd)).transpose(1, 2)
            v = attn.v_proj(y).view(b, 1, -1, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            kc = self.k_cache[li][:b]
            vc = self.v_cache[li][:b]
            kc.scatter_(2, write, k)
            vc.scatter_(2, write, v)
            o = attend(q, kc[:, :, :kv_len], vc[:, :, :kv_len], attn.scaling, mask)
            x = residual + attn.o_proj(o.transpose(1, 2).reshape(b, 1, -1))
            residual = x
            x = residual + layer.mlp(layer.post_attention_layernorm(x))
        return self.talker.model.norm(x)

    def _predict(self, past_hidden, e0, b: int, hints: Hints):
        """Codebooks 2..16 for each row (qwen-tts's code_predictor.generate, 15 new tokens).

        Returns the codes [b, 15] and their codec embeddings (list of [b, 1, H]) for the
        talker's next input.
        """
        cp = self.cp
        proj = cp.small_to_mtp_projection
        x = proj(torch.cat((past_hidden, e0), dim=1))
        h = self._predictor_forward(x, b, 0, 2)
        logits = cp.lm_head[0](h)[:, -1, :].float()
        token = self._choose_sub(logits, b, 0, hints)
        codes, embeds = [token], []
        embedding = cp.model.codec_embedding
        for j in range(1, self.groups - 1):
            e = embedding[j - 1](token[:, None])
            embeds.append(e)
            h = self._predictor_forward(proj(e), b, j + 1, 1)
            logits = cp.lm_head[j](h)[:, -1, :].float()
            token = self._choose_sub(logits, b, j, hints)
            codes.append(token)
        embeds.append(embedding[self.groups - 2](token[:, None]))
        return torch.stack(codes, dim=1), embeds

    def _choose_sub(self, logits, b: int, j: int, hints: Hints):
        return choose(logits, self.sub_do_sample[:b], self.sub_temperature[:b], self.sub_top_k[:b],
                      self.sub_top_p_floor[:b], self.sub_use_top_p[:b], self.sub_noise[:b, j], sample=hints.sample,
                      k_max=hints.sub_k_max, any_top_p=hints.sub_top_p)

    def _predictor_forward(self, x, b: int, start: int, n: int):
        """n tokens at positions start..start+n-1 through the predictor's layers (prefix cache 0..start-1)."""
        hd = self.p_head_dim
        end = start + n
        cos = self.p_cos[:, :, start:end]
        sin = self.p_sin[:, :, start:end]
        for li, layer in enumerate(self.p_layers):
            attn = layer.self_attn
            residual = x
            y = layer.input_layernorm(x)
            q = attn.q_norm(attn.q_proj(y).view(b, n, -1, hd)).transpose(1, 2)
            k = attn.k_norm(attn.k_proj(y).view(b, n, -1, hd)).transpose(1, 2)
            v = attn.v_proj(y).view(b, n, -1, hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            kc = self.pk_cache[li][:b]
            vc = self.pv_cache[li][:b]
            kc[:, :, start:end].copy_(k)
            vc[:, :, start:end].copy_(v)
            o = attend(q, kc[:, :, :end], vc[:, :, :end], attn.scaling, self.p_causal if n > 1 else None)
            x = residual + attn.o_proj(o.transpose(1, 2).reshape(b, n, -1))
            residual = x
            x = residual + layer.mlp(layer.post_attention_layernorm(x))
        return self.cp.model.norm(x)


def default_buckets(max_batch: int) -> list[int]:
    """Batch sizes to capture: powers of two up to max_batch, and max_batch itself."""
    sizes = [1 << i for i in range(int(math.log2(max_batch)) + 1)]
    return sorted(set(s for s in sizes if s <= max_batch) | {max_batch})


class CudaGraphs:
    """One CUDA graph of `FrameStepper._step` per batch size (all sharing one memory pool).

    Capture runs the step on the static buffers: the rows hold whatever they hold (free
    rows are neutral), and the caller resets rows when it admits requests, so the
    garbage written while warming up and capturing is never read.
    """

    def __init__(self, stepper: FrameStepper, buckets: list[int]):
        self.stepper = stepper
        self.buckets = sorted(buckets)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}

    def bucket(self, n: int) -> int:
        for size in self.buckets:
            if size >= n:
                return size
        raise ValueError(f"{n} rows exceed the largest captured batch ({self.buckets[-1]})")

    @torch.no_grad()
    def capture(self, warmup: int = 2) -> None:
        st = self.stepper
        saved = [t.clone() for t in (st.pos, st.token, st.gen_step, st.generated, st.seen, st.hidden)]
        stream = torch.cuda.Stream(device=st.device)
        stream.wait_stream(torch.cuda.current_stream(st.device))
        with torch.cuda.stream(stream):
            for size in self.buckets:
                for _ in range(warmup):
                    st._step(size, st.cache_len)
        torch.cuda.current_stream(st.device).wait_stream(stream)
        torch.cuda.synchronize(st.device)
        pool = None
        for size in sorted(self.buckets, reverse=True):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool, capture_error_mode="thread_local"):
                st._step(size, st.cache_len)
            pool = graph.pool()
            self.graphs[size] = graph
        torch.cuda.synchronize(st.device)
        for buf, value in zip((st.pos, st.token, st.gen_step, st.generated, st.seen, st.hidden), saved):
            buf.copy_(value)

    def replay(self, n: int) -> int:
        size = self.bucket(n)
        if not self.graphs:
            self.capture()
        self.graphs[size].replay()
        return size
