"""Exercise 1: a reward function as a predictor of preferences (Christiano et al. 2017, §2.2.3).

1. `segment_return`          R̂(σ) = Σ_t r̂(s_t): a segment's return from its per-step rewards
2. `preference_probability`  P̂[σ¹ ≻ σ²] = exp R̂¹ / (exp R̂¹ + exp R̂²)             (eq. 1)
3. `bt_loss`                 −mean[μ(1) log P̂[σ¹ ≻ σ²] + μ(2) log P̂[σ² ≻ σ¹]]     (the cross-entropy)

Shapes: B = number of pairs, k = steps per segment. μ (B, 2) is the label of each pair: [1, 0] when
σ¹ was preferred, [0, 1] when σ² was, [½, ½] when the rater found them equally good.
The library's versions are in `hhcourse/preferences.py` and `hhcourse/toy_preferences.py`;
`hhcourse.check("ex01_preferences")` compares yours with them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def segment_return(
    rewards: Tensor,  # (B, k) float: r̂(s_t) for each step t of each segment
) -> Tensor:  # (B,) float
    """R̂(σ) = r̂(s_0) + … + r̂(s_{k−1}): the summed reward of each segment.

    The paper's preference model compares whole segments through these sums (its eq. 1).
    """
    ### BEGIN SOLUTION
    return rewards.sum(dim=1)  # sum over the k steps, one return per segment
    ### END SOLUTION


def preference_probability(
    return_1: Tensor,  # (B,) float: R̂(σ¹)
    return_2: Tensor,  # (B,) float: R̂(σ²)
) -> Tensor:  # (B,) float in [0, 1]
    """P̂[σ¹ ≻ σ²] = exp R̂¹ / (exp R̂¹ + exp R̂²)   (Christiano et al. 2017, eq. 1).

    Computed as written, exp overflows to inf once a return passes ~88 in float32 (inf / inf = nan).
    Divide top and bottom by exp R̂¹ first: the same number, with only the difference R̂¹ − R̂² left.
    """
    ### BEGIN SOLUTION
    # exp R1 / (exp R1 + exp R2) = 1 / (1 + exp(−(R1 − R2))) = σ(R1 − R2): only the gap matters.
    gap = return_1 - return_2
    return torch.sigmoid(gap)  # torch's sigmoid never overflows, whatever the size of the gap
    ### END SOLUTION


def bt_loss(
    return_1: Tensor,  # (B,) float: R̂(σ¹)
    return_2: Tensor,  # (B,) float: R̂(σ²)
    mu: Tensor,  # (B, 2) float: the label distribution over (σ¹ preferred, σ² preferred)
) -> Tensor:  # () scalar
    """The paper's cross-entropy between the labels μ and the predicted preferences, averaged over pairs:

        loss = −1/B Σ_pairs [ μ(1) log P̂[σ¹ ≻ σ²] + μ(2) log P̂[σ² ≻ σ¹] ]

    (the paper sums over its dataset; a mean keeps the learning rate independent of the batch size).
    With a one-hot μ only the preferred segment's term survives; a tie μ = (½, ½) pulls both ways.
    Compute log P̂ with `F.logsigmoid`: log(sigmoid(x)) is log(0) = −inf once x < −88 in float32.
    """
    ### BEGIN SOLUTION
    gap = return_1 - return_2
    log_p_first = F.logsigmoid(gap)  # log P̂[σ¹ ≻ σ²] = log σ(R1 − R2)
    log_p_second = F.logsigmoid(-gap)  # log P̂[σ² ≻ σ¹] = log σ(R2 − R1) = log(1 − P̂[σ¹ ≻ σ²])
    per_pair = mu[:, 0] * log_p_first + mu[:, 1] * log_p_second  # (B,): log-likelihood of each label
    return -per_pair.mean()
    ### END SOLUTION
