# Generated from solutions/ex00_basics.py by `hhcourse make-exercises` — edit the solution, not this file.
# Students: this copy is yours. Replace each `# YOUR CODE HERE` stub, then run hhcourse.check("ex00_basics").
"""Exercise 0: the three primitives every RLHF loss in this course is built from.

1. `masked_mean`          average over real tokens only (padding must not count)
2. `next_token_logprobs`  log p(x_{t+1} | x_≤t) at every position, from a causal LM's logits
3. `sequence_logprob`     log π(y | x) = Σ_t log π(y_t | x, y_<t): the log-prob of a whole response

Shapes: B = batch, T = sequence length (prompt + response + padding), V = vocabulary size.
The library's fast versions are in `hhcourse/ops.py`; `hhcourse.check("ex00_basics")` compares yours with them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def masked_mean(
    values: Tensor,  # (B, T) float
    mask: Tensor,  # (B, T) bool or 0/1: which positions are real tokens
) -> Tensor:  # () scalar
    """Mean of `values` over the positions where `mask` is true.

        masked_mean(x, m) = Σ_{b,t} m_bt · x_bt / Σ_{b,t} m_bt

    Every real token weighs the same, whichever row it is in (so a longer response counts more).
    If nothing is selected, return 0 rather than nan (0/0).
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex00_basics.masked_mean")


def next_token_logprobs(
    logits: Tensor,  # (B, T, V) any float dtype
    input_ids: Tensor,  # (B, T) long
) -> Tensor:  # (B, T-1) float32
    """log p(x_{t+1} | x_≤t) for t = 0 … T−2: how likely the model found each token that came next.

    A causal LM's logits at position t have seen tokens x_0 … x_t and predict token t+1 — the shift.
    Compute in float32 with `log_softmax` (x − logsumexp x): log(softmax(x)) underflows to −inf
    when a probability is tiny, and bf16 keeps only ~3 significant digits.
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex00_basics.next_token_logprobs")


def sequence_logprob(
    logits: Tensor,  # (B, T, V) any float dtype
    input_ids: Tensor,  # (B, T) long
    response_mask: Tensor,  # (B, T) bool or 0/1: marks the response tokens of input_ids, EOS included
) -> Tensor:  # (B,) float32
    """log π(y | x) = Σ_{t in response} log π(x_t | x_<t): the summed log-prob of each response.

    This is the quantity in the DPO loss (Rafailov et al. 2023, eq. 7) and in the PPO ratio
    (summed over a sequence). `response_mask[b, t]` is about token t of `input_ids`; token t is
    predicted by the logits at position t − 1. The final EOS is a response token: the model must
    learn to stop. Prompt and padding tokens do not count.
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex00_basics.sequence_logprob")
