"""Batched token choice with per-row settings, as qwen-tts's `generate` makes it.

qwen-tts drives Hugging Face `generate`, which (transformers 4.57) turns the last
position's logits into float32 and runs, in this order:

talker (first codebook):
  RepetitionPenaltyLogitsProcessor   over the talker tokens generated so far
  MinLength / MinNewTokensLength     EOS forbidden until 2 tokens exist (qwen-tts sets min_new_tokens=2)
  SuppressTokensLogitsProcessor      the top 1024 ids of the codec vocabulary except EOS
  then, only when sampling: Temperature, TopK, TopP warpers, softmax, multinomial;
  greedy is argmax of the processed scores.
code predictor (codebooks 2..16): no processors; when sampling the same three warpers.

Here every setting is a per-row tensor so one call (and one CUDA graph) serves a
batch of streams with different settings, and nothing depends on host values.
Sampling draws with the exponential race (argmax of p / E, E ~ Exp(1)), which picks
token i with probability p_i exactly as multinomial does, from noise the caller fills
(each stream from its own generator), so the draw does not depend on the batch.
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def talker_scores(logits, seen, generated, penalty, suppress, eos_onehot, min_new_tokens: int = 2):
    """Processed talker scores (greedy picks their argmax).

    logits [b, V] float32; seen [b, V] bool (tokens this row generated so far);
    generated [b] long (how many); penalty [b] float32; suppress [V] bool; eos_onehot [V] bool.
    """
    pen = penalty[:, None]
    penalised = torch.where(logits < 0, logits * pen, logits / pen)
    scores = torch.where(seen, penalised, logits)
    too_early = (generated < min_new_tokens)[:, None] & eos_onehot[None, :]
    scores = scores.masked_fill(too_early, NEG_INF)
    return scores.masked_fill(suppress[None, :], NEG_INF)


def warp(scores, temperature, top_k, top_p_floor, use_top_p, *, k_max: int | None = None, any_top_p: bool = True):
    """Temperature, top-k, top-p as HF's warpers do them, one setting per row.

    temperature [b] float32; top_k [b] long (0 = off); top_p_floor [b] float32 = 1 - top_p
    computed in double as HF does; use_top_p [b] bool (top_p < 1). Eager callers may pass
    `k_max` (>= every row's effective k) to use topk instead of a full sort, and
    `any_top_p=False` to skip the top-p sort when no row uses it; a captured graph keeps
    the general form.
    """
    vocab = scores.shape[-1]
    scores = scores / temperature[:, None]
    k = torch.where(top_k > 0, top_k.clamp(max=vocab), torch.full_like(top_k, vocab))
    if k_max is None or k_max >= vocab:
        ranked = scores.sort(dim=-1, descending=True).values
    else:
        ranked = scores.topk(k_max, dim=-1).values
    kth = ranked.gather(1, (k - 1)[:, None])
    scores = scores.masked_fill(scores < kth, NEG_INF)
    if not any_top_p:
        return scores
    sorted_scores, order = scores.sort(dim=-1, descending=False)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    drop_sorted = (cumulative <= top_p_floor[:, None]) & use_top_p[:, None]
    drop_sorted[:, -1] = False
    drop = drop_sorted.scatter(1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def choose(scores, do_sample, temperature, top_k, top_p_floor, use_top_p, noise, sample: bool = True,
           k_max: int | None = None, any_top_p: bool = True):
    """Token per row: argmax of `scores` where do_sample is False, else a draw from the warped distribution.

    `noise` [b, V] holds Exp(1) draws; `sample=False` skips the sampling branch entirely
    (eager callers that know no row samples); `k_max`, `any_top_p`: see `warp`.
    """
    greedy = scores.argmax(dim=-1)
    if not sample:
        return greedy
    warped = warp(scores, temperature, top_k, top_p_floor, use_top_p, k_max=k_max, any_top_p=any_top_p)
    drawn = (warped.softmax(dim=-1) / noise.clamp_min(1e-30)).argmax(dim=-1)
    return torch.where(do_sample, drawn, greedy)
