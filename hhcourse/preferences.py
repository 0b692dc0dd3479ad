"""The Bradley–Terry model of preferences and the reward-model losses built on it.

P(a ≻ b) = σ(r_a − r_b) = exp r_a / (exp r_a + exp r_b)           (Christiano et al. 2017, eq. 1)

Every loss here is a negative log-likelihood under that model, written with `F.logsigmoid` (never
log(sigmoid), which underflows to −inf for large margins). Rewards are per-example scalars, shape (B,).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

# Llama 2's discrete margin m(r) per preference rating (Touvron et al. 2023, Table 28): "small" and "large".
LLAMA2_MARGINS = {
    "small": {"significantly_better": 1.0, "better": 2 / 3, "slightly_better": 1 / 3, "negligibly_better": 0.0},
    "large": {"significantly_better": 3.0, "better": 2.0, "slightly_better": 1.0, "negligibly_better": 0.0},
}


def preference_probability(reward_a: torch.Tensor, reward_b: torch.Tensor) -> torch.Tensor:
    """P(a ≻ b) = σ(r_a − r_b), elementwise."""
    return torch.sigmoid(reward_a - reward_b)


def soft_bt_loss(reward_a: torch.Tensor, reward_b: torch.Tensor, prob_a: torch.Tensor | float) -> torch.Tensor:
    """Cross-entropy with a target distribution μ = (p, 1 − p) over {a ≻ b, b ≻ a}, averaged over the batch:

        −[ μ(1) log P(a ≻ b) + μ(2) log P(b ≻ a) ]       (Christiano et al. 2017: one-hot μ, or ½/½ for ties)

    Soft targets carry an AI labeler's confidence (RLAIF) or label smoothing.
    """
    delta = reward_a - reward_b
    prob_a = torch.as_tensor(prob_a, dtype=delta.dtype, device=delta.device)
    return -(prob_a * F.logsigmoid(delta) + (1 - prob_a) * F.logsigmoid(-delta)).mean()


def bt_loss(reward_chosen: torch.Tensor, reward_rejected: torch.Tensor, margin: torch.Tensor | float = 0.0,
            center_coef: float = 0.0) -> torch.Tensor:
    """−log σ(r_c − r_r − m(r)), averaged; with m the Llama 2 margin (0 gives plain Bradley–Terry).

    center_coef > 0 adds c·mean((r_c + r_r)²) (Eisenstein et al. 2023, as in TRL's RewardTrainer),
    which keeps rewards near zero without changing which response is preferred.
    """
    loss = -F.logsigmoid(reward_chosen - reward_rejected - margin).mean()
    if center_coef:
        loss = loss + center_coef * ((reward_chosen + reward_rejected) ** 2).mean()
    return loss


def ranking_loss(rewards: torch.Tensor) -> torch.Tensor:
    """InstructGPT's K-way loss. `rewards` (B, K) are in ranked order, best first:

        loss = −1/C(K,2) · Σ_{i<j} log σ(r_i − r_j),  averaged over the batch     (Ouyang et al. 2022, eq. 1)

    All C(K,2) pairs of one prompt form one batch element, so a prompt's K responses are seen together.
    """
    k = rewards.shape[1]
    better, worse = zip(*itertools.combinations(range(k), 2))
    pair_losses = -F.logsigmoid(rewards[:, list(better)] - rewards[:, list(worse)])  # (B, C(K,2))
    return pair_losses.mean()


def margins_for(strengths: list[str], scale: str = "small") -> torch.Tensor:
    """Llama 2 margins for a list of strength labels."""
    table = LLAMA2_MARGINS[scale]
    unknown = sorted({s for s in strengths if s not in table})
    if unknown:
        raise ValueError(f"unknown strength labels {unknown}: use one of {sorted(table)}")
    return torch.tensor([table[s] for s in strengths])
