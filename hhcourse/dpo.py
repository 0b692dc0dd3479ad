"""The DPO family of losses and the implicit reward (Rafailov et al. 2023; Azar et al. 2023 for IPO).

Inputs are sequence log-probabilities: the log-probs of the completion tokens (EOS included), summed in
fp32 (CORRECTNESS.md §2.1). With h the policy's log-ratio margin over the reference,

    h = [log π(y_c|x) − log π_ref(y_c|x)] − [log π(y_r|x) − log π_ref(y_r|x)],

    sigmoid (DPO)   −log σ(β h)                                     Rafailov et al. eq. 7
    cDPO            −(1−ε) log σ(β h) − ε log σ(−β h)               Mitchell 2023: labels flipped w.p. ε
    robust          [−(1−ε) log σ(β h) + ε log σ(−β h)] / (1 − 2ε)  Chowdhury et al. 2024 (TRL "robust")
    hinge           max(0, 1 − β h)                                 SLiC / RSO (TRL "hinge")
    ipo             (h − 1/(2β))²                                   Azar et al. 2023, eq. 17

IPO normalisation. Azar et al. write the loss on whole-sequence log-probs, and that is what this function
computes with summed inputs: one convention for every loss type, and the margin 1/(2β) is a number of nats
per *response*. TRL 1.16 instead averages each log-ratio over the completion tokens before squaring
(`dpo_trainer.py`, "confirmed with the IPO authors"), which makes the target margin per *token* and the loss
blind to length. Both are the same function of its inputs: pass per-token means (summed log-probs divided
by the completion lengths) to get TRL's IPO; `tests/test_dpo_vs_trl.py` checks exactly that.

Soft labels (AI-labeled data, unit 07): `label_smoothing` may be a tensor of per-pair values, ε_i = 1 − p_i
where p_i is the labeler's probability that `chosen` is better. Then the sigmoid loss is the cross-entropy
between the target p_i and the DPO preference probability σ(β h_i).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

LOSS_TYPES = ("sigmoid", "ipo", "hinge", "robust")


class DPOLoss(NamedTuple):
    loss: torch.Tensor              # () mean over pairs
    chosen_rewards: torch.Tensor    # (B,) β (log π − log π_ref) of the chosen response, detached
    rejected_rewards: torch.Tensor  # (B,) same for the rejected response
    losses: torch.Tensor | None     # (B,) per-pair losses, when asked for


def implicit_rewards(policy_logps: torch.Tensor, ref_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """r(x, y) = β log π(y|x)/π_ref(y|x): the reward DPO's policy is optimal for, up to a function of x
    (Rafailov et al. eq. 5)."""
    return beta * (policy_logps - ref_logps)


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, beta: float,
             loss_type: str = "sigmoid", label_smoothing: float | torch.Tensor = 0.0,
             return_losses: bool = False) -> DPOLoss:
    """Mean loss of one DPO-family objective, with the implicit rewards of both sides (module docstring)."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type={loss_type!r}: use one of {', '.join(LOSS_TYPES)}")
    if beta <= 0:
        raise ValueError(f"beta={beta}: must be > 0 (β = 0 removes the policy from the loss, which then "
                         "stays at ln 2 = 0.6931 forever)")
    eps = torch.as_tensor(label_smoothing, dtype=torch.float32, device=policy_chosen_logps.device)
    if (eps < 0).any() or (eps > 1).any() or (loss_type == "robust" and (eps >= 0.5).any()):
        raise ValueError("label_smoothing must lie in [0, 1] ([0, 0.5) for robust)")
    if loss_type in ("ipo", "hinge") and (eps != 0).any():
        raise ValueError(f"label_smoothing is only defined for the sigmoid and robust losses, not {loss_type!r}")

    chosen_ratio = policy_chosen_logps.float() - ref_chosen_logps.float()
    rejected_ratio = policy_rejected_logps.float() - ref_rejected_logps.float()
    margin = chosen_ratio - rejected_ratio  # h
    if loss_type == "sigmoid":
        losses = -(1 - eps) * F.logsigmoid(beta * margin) - eps * F.logsigmoid(-beta * margin)
    elif loss_type == "robust":
        losses = (-(1 - eps) * F.logsigmoid(beta * margin) + eps * F.logsigmoid(-beta * margin)) / (1 - 2 * eps)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * margin)
    else:
        losses = (margin - 1 / (2 * beta)) ** 2
    return DPOLoss(losses.mean(), (beta * chosen_ratio).detach(), (beta * rejected_ratio).detach(),
                   losses if return_losses else None)


def reward_accuracy(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> torch.Tensor:
    """Fraction of pairs whose implicit reward ranks chosen strictly above rejected (0 at step 0)."""
    return (chosen_rewards > rejected_rewards).float().mean()
