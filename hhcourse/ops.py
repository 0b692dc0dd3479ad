"""Masked reductions and token log-probabilities: the primitives every loss in the course is built from.

Conventions (CORRECTNESS.md §3): masks come from lengths or attention masks, never from `ids != pad_id`
(SmolLM2's pad token *is* its EOS); log-probs are computed in fp32 with log_softmax, never log(softmax).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of `values` where `mask` is true (mask may be bool or 0/1)."""
    masked = values * mask.to(values.dtype)
    return masked.sum() if dim is None else masked.sum(dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `values` over the positions where `mask` is true; mean over everything selected if dim is None."""
    count = mask.to(values.dtype).sum() if dim is None else mask.to(values.dtype).sum(dim)
    return masked_sum(values, mask, dim) / count.clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over masked positions (Bessel-corrected by default, as TRL's masked_var)."""
    mean = masked_mean(values, mask)
    squared = masked_mean((values - mean) ** 2, mask)
    if not unbiased:
        return squared
    n = mask.to(values.dtype).sum()
    if n < 2:
        raise ValueError("masked_var needs at least two unmasked values; use a larger minibatch")
    return squared * n / (n - 1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x − mean) / sqrt(var + 1e-8) over masked positions; masked-out positions become 0."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(values.dtype)


def gather_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(tokens) under `logits` (same leading shape), in fp32: logit[token] − logsumexp(logits / T).

    Works on (..., V) logits and (...) tokens; upcasts before the log-softmax so bf16 logits are safe.
    """
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def next_token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-position log p(x_{t+1} | x_≤t): logits (B, T, V), input_ids (B, T) → (B, T−1).

    Position t of the logits predicts token t+1 — the shift that is easy to get off by one.
    """
    return gather_logprobs(logits[:, :-1], input_ids[:, 1:], temperature)


def sequence_logprob(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor,
                     temperature: float = 1.0) -> torch.Tensor:
    """Summed log-prob of the response tokens: (B, T, V), (B, T), (B, T) → (B,).

    `response_mask[b, t]` marks token t of `input_ids` as part of the response (EOS included).
    """
    per_token = next_token_logprobs(logits, input_ids, temperature)
    return masked_sum(per_token, response_mask[:, 1:], dim=1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax over the last dimension, in fp32."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)
