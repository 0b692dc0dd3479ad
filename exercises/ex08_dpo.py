# Generated from solutions/ex08_dpo.py by `hhcourse make-exercises` — edit the solution, not this file.
# Students: this copy is yours. Replace each `# YOUR CODE HERE` stub, then run hhcourse.check("ex08_dpo").
"""Exercise 8: Direct Preference Optimization (Rafailov et al. 2023) and IPO (Azar et al. 2023).

1. `concatenated_logps`  summed completion log-probs of a [chosen; rejected] batch → (chosen, rejected)
2. `implicit_rewards`    r(x, y) = β log π(y|x) / π_ref(y|x)
3. `dpo_loss`            −log σ(β h), with cDPO label smoothing
4. `ipo_loss`            (h − 1/(2β))²

where h = [log π(y_c|x) − log π_ref(y_c|x)] − [log π(y_r|x) − log π_ref(y_r|x)] is the policy's log-ratio
margin, each log π a SUM over the response tokens. The library's versions are in `hhcourse/dpo.py`;
`hhcourse.check("ex08_dpo")` compares yours with them. `DPOTrainer(..., loss_fn=your dpo_loss)` trains the
real model with your function.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def concatenated_logps(
    logits: Tensor,  # (2B, T, V): one forward over rows [chosen_1 … chosen_B; rejected_1 … rejected_B]
    input_ids: Tensor,  # (2B, T) long: prompt | response … EOS | padding
    completion_mask: Tensor,  # (2B, T) bool or 0/1: marks the response tokens of input_ids, EOS included
) -> tuple[Tensor, Tensor]:  # (B,), (B,) float32
    """Summed log-probs of each chosen and each rejected response: log π(y|x) = Σ_t log π(y_t | x, y_<t).

    DPO runs chosen and rejected through the model together (one forward, identical kernels), chosen rows
    first. Token t is predicted by the logits at position t − 1, so pair logits[:, :-1] with
    input_ids[:, 1:] and completion_mask[:, 1:]. Sum in float32 — not the mean: DPO compares whole-sequence
    probabilities (eq. 7).
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex08_dpo.concatenated_logps")


def implicit_rewards(
    policy_logps: Tensor,  # (B,) summed log π(y|x)
    ref_logps: Tensor,  # (B,) summed log π_ref(y|x)
    beta: float,
) -> Tensor:  # (B,)
    """The reward the DPO policy is optimal for (Rafailov et al. eq. 5, without the Z(x) term):

        r(x, y) = β · (log π(y|x) − log π_ref(y|x))

    It is 0 when the policy equals the reference, and a response the policy now likes more gets r > 0.
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex08_dpo.implicit_rewards")


def dpo_loss(
    policy_chosen_logps: Tensor,  # (B,)
    policy_rejected_logps: Tensor,  # (B,)
    ref_chosen_logps: Tensor,  # (B,)
    ref_rejected_logps: Tensor,  # (B,)
    beta: float,
    label_smoothing: float = 0.0,
) -> Tensor:  # () mean over pairs
    """The DPO loss (Rafailov et al. 2023, eq. 7), averaged over pairs:

        L = −log σ(β h),   h = (log π(y_c) − log π_ref(y_c)) − (log π(y_r) − log π_ref(y_r))

    With label smoothing ε (cDPO: each label is wrong with probability ε) the target is soft:

        L = −(1 − ε) log σ(β h) − ε log σ(−β h)

    Use F.logsigmoid, never log(sigmoid(·)): sigmoid underflows to 0 for large negative inputs.
    At policy == reference h = 0 and L = ln 2 ≈ 0.6931.
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex08_dpo.dpo_loss")


def ipo_loss(
    policy_chosen_logps: Tensor,  # (B,)
    policy_rejected_logps: Tensor,  # (B,)
    ref_chosen_logps: Tensor,  # (B,)
    ref_rejected_logps: Tensor,  # (B,)
    beta: float,
) -> Tensor:  # () mean over pairs
    """The IPO loss (Azar et al. 2023, eq. 17), averaged over pairs:

        L = (h − 1/(2β))²

    A squared error that pulls the margin h to a finite target 1/(2β), where DPO keeps pushing h → ∞
    (and overfits deterministic preferences). At policy == reference L = 1/(4β²).
    """
    # YOUR CODE HERE
    raise NotImplementedError("ex08_dpo.ipo_loss")

