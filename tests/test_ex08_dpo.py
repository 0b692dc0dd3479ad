"""Graded tests for exercise 8 (solutions/ex08_dpo.py): concatenated_logps, implicit_rewards, dpo_loss, ipo_loss.

The oracle is the library (`hhcourse.dpo`, `hhcourse.ops`); closed forms (ln 2 and 1/(4β²) at policy ==
reference) and gradient signs pin what a comparison alone cannot. Hints name the usual mistakes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hhcourse import dpo, ops
from hhcourse.grading.hints import assert_close, negated, not_finite

BETA = 0.1
# (prompt length, response length) per row, response ending with the EOS, then padding: 3 pairs → 6 rows
LAYOUT = [(2, 3), (3, 5), (4, 1), (2, 6), (3, 2), (1, 7)]
T, V, EOS = 10, 11, 0


def logps(seed: int, n: int = 8):
    """Summed log-probs of a policy and a reference that differ: (pc, pr, rc, rr)."""
    g = torch.Generator().manual_seed(seed)
    return tuple(-20 * torch.rand(n, generator=g) for _ in range(4))


def concatenated_batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(LAYOUT), T, V, generator=g) * 2
    input_ids = torch.randint(1, V, (len(LAYOUT), T), generator=g)
    mask = torch.zeros(len(LAYOUT), T, dtype=torch.bool)
    for row, (prompt, length) in enumerate(LAYOUT):
        mask[row, prompt:prompt + length] = True
        input_ids[row, prompt + length - 1:] = EOS  # pad id == EOS id, as in SmolLM2
    return logits, input_ids, mask


def margin(pc, pr, rc, rr):
    return (pc - rc) - (pr - rr)


SWAPPED = ("swapped chosen and rejected (or the policy and reference roles): h = (log π(y_c) − log π_ref(y_c)) − "
           "(log π(y_r) − log π_ref(y_r)) must grow when the policy prefers the chosen response")
REF_FLIPPED = ("reference terms flipped: each response's log-ratio subtracts ITS OWN reference log-prob, "
               "log π(y_c) − log π_ref(y_c), not the other response's")
NO_BETA = "forgot β: the margin is scaled by β inside the sigmoid, σ(β h)"
WRONG_SIGN = "wrong sign: a loss to minimise is −log σ(β h) ≥ 0 (you returned log σ, which is ≤ 0)"


def dpo_mistakes(pc, pr, rc, rr, beta, eps=0.0):
    def loss(h, b=beta):
        return (-(1 - eps) * F.logsigmoid(b * h) - eps * F.logsigmoid(-b * h)).mean()

    h = margin(pc, pr, rc, rr)
    return [
        (negated, WRONG_SIGN),
        (loss(-h), SWAPPED),
        (loss((pc - rr) - (pr - rc)), REF_FLIPPED),
        (loss(h, 1.0), NO_BETA),
        (-F.logsigmoid(beta * h).mean(), "label_smoothing ignored: cDPO mixes −log σ(β h) and −log σ(−β h) "
                                         "with weights 1 − ε and ε"),
        (-F.logsigmoid(beta * h).sum(), "summed over pairs: return the mean over the batch"),
        (not_finite, "got inf/nan: use F.logsigmoid, not torch.log(torch.sigmoid(...))"),
    ]


# concatenated_logps --------------------------------------------------------------------------------------

def concatenated_mistakes(logits, input_ids, mask):
    per_token = ops.next_token_logprobs(logits, input_ids)
    counted = mask[:, 1:].float()
    summed = (per_token * counted).sum(1)
    mean = summed / counted.sum(1)
    return [
        (lambda a, e: torch.allclose(a[0], mean[:3], atol=1e-5),
         "mean instead of sum of token log-probs: log π(y|x) is the SUM over the response tokens"),
        (lambda a, e: torch.allclose(a[0], summed[3:], atol=1e-5), SWAPPED.split(":")[0] + ": chosen rows come first"),
        (lambda a, e: torch.allclose(a[0], per_token.sum(1)[:3], atol=1e-4),
         "summed every position: only response tokens count (multiply by completion_mask[:, 1:])"),
        (lambda a, e: torch.allclose(a[0], (per_token * mask[:, :-1].float()).sum(1)[:3], atol=1e-4),
         "off by one: token t is predicted by the logits at t − 1, so use completion_mask[:, 1:]"),
        (lambda a, e: torch.allclose(a[0], -summed[:3], atol=1e-4), "wrong sign: log-probs are ≤ 0"),
    ]


@pytest.mark.points(2)
def test_concatenated_logps_matches_library(impl):
    for seed in range(3):
        logits, input_ids, mask = concatenated_batch(seed)
        out = impl.concatenated_logps(logits, input_ids, mask)
        assert isinstance(out, tuple) and len(out) == 2, "return a tuple (chosen_logps, rejected_logps)"
        expected = ops.sequence_logprob(logits, input_ids, mask)
        assert_close(torch.stack(out), torch.stack(expected.chunk(2)), what="(chosen_logps, rejected_logps)",
                     mistakes=concatenated_mistakes(logits, input_ids, mask), rtol=1e-4)


@pytest.mark.points(1)
def test_concatenated_logps_sums_in_fp32(impl):
    logits, input_ids, mask = concatenated_batch(5)
    chosen, rejected = impl.concatenated_logps(logits.bfloat16(), input_ids, mask)
    assert chosen.dtype == torch.float32 and rejected.dtype == torch.float32, \
        f"returned {chosen.dtype}: upcast the logits (.float()) before log_softmax and sum in fp32"


# implicit_rewards ----------------------------------------------------------------------------------------

@pytest.mark.points(1)
def test_implicit_rewards(impl):
    pc, _, rc, _ = logps(0)
    assert_close(impl.implicit_rewards(pc, rc, BETA), dpo.implicit_rewards(pc, rc, BETA), what="implicit_rewards",
                 mistakes=[(negated, "reference terms flipped: r = β (log π − log π_ref), positive when the "
                                     "policy likes y more than the reference did"),
                           (pc - rc, NO_BETA.split(":")[0] + ": r = β (log π − log π_ref)")])
    assert_close(impl.implicit_rewards(pc, pc, BETA), torch.zeros_like(pc), what="implicit reward at policy == ref")


# dpo_loss ------------------------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_dpo_loss_is_ln2_at_the_reference(impl):
    for seed in range(3):
        pc, pr, _, _ = logps(seed)
        assert_close(impl.dpo_loss(pc, pr, pc, pr, BETA), torch.tensor(math.log(2)),
                     what="dpo_loss when policy == reference (h = 0: −log σ(0) = ln 2)",
                     mistakes=[(torch.tensor(-math.log(2)), WRONG_SIGN),
                               (torch.tensor(0.5), "returned σ(0): the loss is −log σ(β h)"),
                               (-F.logsigmoid(2 * BETA * (pc - pr)).mean(), REF_FLIPPED)])


@pytest.mark.points(3)
def test_dpo_loss_matches_library(impl):
    for seed, beta in [(0, 0.1), (1, 0.5), (2, 0.05)]:
        args = logps(seed)
        assert_close(impl.dpo_loss(*args, beta), dpo.dpo_loss(*args, beta).loss, what=f"dpo_loss (β = {beta})",
                     mistakes=dpo_mistakes(*args, beta))


@pytest.mark.points(1)
def test_dpo_loss_label_smoothing_is_cdpo(impl):
    args = logps(3)
    for eps in (0.1, 0.3):
        assert_close(impl.dpo_loss(*args, BETA, label_smoothing=eps),
                     dpo.dpo_loss(*args, BETA, label_smoothing=eps).loss, what=f"cDPO loss (ε = {eps})",
                     mistakes=dpo_mistakes(*args, BETA, eps))


@pytest.mark.points(2)
def test_dpo_loss_gradient_raises_chosen_lowers_rejected(impl):
    pc, pr, rc, rr = (t.clone().requires_grad_(True) for t in logps(4))
    impl.dpo_loss(pc, pr, rc, rr, BETA).backward()
    assert pc.grad is not None, "no gradient reached the policy log-probs: keep the computation in torch"
    assert (pc.grad < 0).all() and (pr.grad > 0).all(), (
        f"{SWAPPED}. Gradient descent must raise log π(y_c) and lower log π(y_r): d loss/d chosen must be < 0")
    expected = torch.sigmoid(-BETA * margin(*logps(4))) * BETA / len(pc)  # |dL/dpc| = β σ(−βh) / B
    assert_close(-pc.grad, expected, what="−d loss / d policy_chosen_logps",
                 mistakes=[(expected / BETA, NO_BETA), (expected * len(pc), "summed over pairs: take the mean")])


@pytest.mark.points(1)
def test_dpo_loss_is_stable_for_large_margins(impl):
    pc, pr, rc, rr = torch.tensor([0.0, -5000.0]), torch.tensor([-5000.0, 0.0]), torch.zeros(2), torch.zeros(2)
    assert_close(impl.dpo_loss(pc, pr, rc, rr, 1.0), torch.tensor(2500.0), what="dpo_loss with margins ±5000",
                 mistakes=[(not_finite, "got inf/nan: σ(−5000) underflows to 0 and log(0) = −inf; "
                                        "use F.logsigmoid")])


# ipo_loss ------------------------------------------------------------------------------------------------

@pytest.mark.points(1)
def test_ipo_loss_at_the_reference(impl):
    pc, pr, _, _ = logps(6)
    for beta in (0.1, 0.5):
        assert_close(impl.ipo_loss(pc, pr, pc, pr, beta), torch.tensor(1 / (4 * beta**2)),
                     what=f"ipo_loss when policy == reference (β = {beta}: (0 − 1/(2β))² = 1/(4β²))",
                     mistakes=[(torch.tensor(1 / (2 * beta)), "forgot to square: (h − 1/(2β))²"),
                               (torch.tensor(beta**2 / 4), "target margin is 1/(2β), not β/2"),
                               (torch.tensor(0.25), "forgot β: the target margin is 1/(2β)")])


@pytest.mark.points(2)
def test_ipo_loss_matches_library(impl):
    for seed, beta in [(7, 0.1), (8, 1.0)]:
        args = logps(seed)
        h = margin(*args)
        assert_close(impl.ipo_loss(*args, beta), dpo.dpo_loss(*args, beta, loss_type="ipo").loss,
                     what=f"ipo_loss (β = {beta})",
                     mistakes=[(((-h - 1 / (2 * beta)) ** 2).mean(), SWAPPED),
                               (((h + 1 / (2 * beta)) ** 2).mean(), "wrong sign of the target: (h − 1/(2β))²"),
                               (((beta * h - 1 / 2) ** 2).mean(), "β belongs in the target 1/(2β), not on h"),
                               (((h - 1 / (2 * beta)) ** 2).sum(), "summed over pairs: take the mean")])
