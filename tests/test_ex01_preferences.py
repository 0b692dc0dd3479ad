"""Graded tests for exercise 1 (solutions/ex01_preferences.py): segment_return, preference_probability, bt_loss.

Oracles: `hhcourse.preferences` (P = σ(R¹ − R²), the soft-label cross-entropy) and
`hhcourse.toy_preferences` (returns, the loss with μ as (B, 2), the gridworld fit). Closed-form and
property cases pin what the oracle alone cannot; hints name the common mistakes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hhcourse import preferences
from hhcourse import toy_preferences as toy
from hhcourse.grading.hints import assert_close, negated, not_finite

LN2 = math.log(2)
ORDER = "σ¹ and σ² swapped: P̂[σ¹ ≻ σ²] = σ(R¹ − R²), not σ(R² − R¹)"
MEAN = "summed over the pairs: take the mean over the batch (divide by B)"
OVERFLOW = "got inf or nan: exp(R) overflows for large returns; use σ(R¹ − R²) (torch.sigmoid), which never does"
LOG_OF_SIGMOID = "got inf or nan: log(sigmoid(x)) is log(0) = −inf for x < −88; use F.logsigmoid(x)"


def returns(seed: int, n: int = 8, scale: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * scale, torch.randn(n, generator=g) * scale


def one_hot_labels(seed: int, n: int = 8) -> torch.Tensor:
    """Random one-hot μ (n, 2), with both kinds of label present."""
    g = torch.Generator().manual_seed(seed + 1000)
    first_wins = torch.rand(n, generator=g) < 0.5
    first_wins[:2] = torch.tensor([True, False])
    return torch.stack([first_wins, ~first_wins], dim=1).float()


def ties(n: int) -> torch.Tensor:
    return torch.full((n, 2), 0.5)


# segment_return ---------------------------------------------------------------------------------------

def return_mistakes(rewards):
    return [
        (rewards.mean(1), "averaged over the steps: a segment's return is the sum, Σ_t r̂(s_t)"),
        (rewards.sum(0), "summed over the batch (dim 0): sum over the k steps of each segment (dim 1)"),
        (rewards.sum(), "returned one number: keep one return per segment, shape (B,)"),
        (rewards, "returned the per-step rewards: sum them over the steps"),
    ]


@pytest.mark.points(1)
def test_segment_return_matches_library(impl):
    for seed, (b, k) in enumerate([(5, 6), (3, 1), (1, 10)]):
        rewards = torch.randn(b, k, generator=torch.Generator().manual_seed(seed))
        assert_close(impl.segment_return(rewards), toy.sum_over_steps(rewards), what=f"segment_return of a ({b}, {k})",
                     mistakes=return_mistakes(rewards))


# preference_probability -------------------------------------------------------------------------------

def probability_mistakes(return_1, return_2):
    gap = return_1 - return_2
    return [
        (torch.sigmoid(-gap), ORDER),
        (gap, "returned the gap R¹ − R²: squash it into a probability with σ"),
        (F.logsigmoid(gap), "returned log P̂: the function returns the probability itself"),
        (not_finite, OVERFLOW),
    ]


@pytest.mark.points(2)
def test_preference_probability_matches_library(impl):
    for seed in range(3):
        return_1, return_2 = returns(seed)
        assert_close(impl.preference_probability(return_1, return_2),
                     preferences.preference_probability(return_1, return_2), what="preference_probability",
                     mistakes=probability_mistakes(return_1, return_2))


@pytest.mark.points(1)
def test_preference_probability_closed_form(impl):
    return_1, return_2 = returns(3)
    assert_close(impl.preference_probability(return_1, return_1), torch.full_like(return_1, 0.5),
                 what="P̂ of two segments with equal returns (½)", mistakes=probability_mistakes(return_1, return_1))
    assert_close(impl.preference_probability(torch.tensor([math.log(3.0)]), torch.tensor([0.0])),
                 torch.tensor([0.75]), what="P̂ with R¹ − R² = ln 3 (e^ln3 / (e^ln3 + e^0) = 3/4)",
                 mistakes=[(torch.tensor([0.25]), ORDER)])
    both_ways = impl.preference_probability(return_1, return_2) + impl.preference_probability(return_2, return_1)
    assert_close(both_ways, torch.ones_like(return_1), what="P̂[σ¹ ≻ σ²] + P̂[σ² ≻ σ¹] (must be 1)")
    assert_close(impl.preference_probability(return_1 + 7.0, return_2 + 7.0),
                 preferences.preference_probability(return_1, return_2),
                 what="P̂ after adding 7 to both returns (only the gap R¹ − R² matters)")


@pytest.mark.points(1)
def test_preference_probability_huge_returns_stay_finite(impl):
    return_1 = torch.tensor([1000.0, -1000.0, 1e4, 500.0])
    return_2 = torch.tensor([999.0, 1000.0, -1e4, 500.0])
    assert_close(impl.preference_probability(return_1, return_2),
                 torch.tensor([1 / (1 + math.exp(-1)), 0.0, 1.0, 0.5]), what="P̂ for returns in the thousands",
                 mistakes=probability_mistakes(return_1, return_2))


# bt_loss ----------------------------------------------------------------------------------------------

def loss_mistakes(return_1, return_2, mu):
    gap = return_1 - return_2
    library = toy.bt_cross_entropy(return_1, return_2, mu)
    return [
        (negated, "wrong sign: a cross-entropy is ≥ 0; the loss is −(log-likelihood of the labels)"),
        (library * len(mu), MEAN),
        (toy.bt_cross_entropy(return_1, return_2, mu.flip(1)),
         f"{ORDER} — or μ(1) and μ(2) swapped: μ(1) goes with log P̂[σ¹ ≻ σ²]"),
        (-(mu[:, 0] * F.logsigmoid(gap)).mean(),
         "forgot the μ(2)·log P̂[σ² ≻ σ¹] term: pairs where σ² was preferred must count too"),
        (-(mu[:, 0] * torch.sigmoid(gap) + mu[:, 1] * torch.sigmoid(-gap)).mean(),
         "forgot the log: the cross-entropy uses log P̂ (F.logsigmoid), not P̂"),
        (not_finite, LOG_OF_SIGMOID),
        (lambda a, e: a.dim() > 0, "returned one loss per pair: average them into one number"),
    ]


@pytest.mark.points(2)
def test_bt_loss_matches_library(impl):
    for seed in range(3):
        return_1, return_2 = returns(seed)
        mu = one_hot_labels(seed)
        assert_close(impl.bt_loss(return_1, return_2, mu), preferences.soft_bt_loss(return_1, return_2, mu[:, 0]),
                     what="bt_loss with one-hot μ", mistakes=loss_mistakes(return_1, return_2, mu))


@pytest.mark.points(1)
def test_bt_loss_is_ln2_at_equal_returns(impl):
    return_1, _ = returns(4)
    for mu in (one_hot_labels(4), ties(8)):
        assert_close(impl.bt_loss(return_1, return_1.clone(), mu), torch.tensor(LN2),
                     what="bt_loss when both segments have the same return (P̂ = ½, so −log ½ = ln 2)",
                     mistakes=loss_mistakes(return_1, return_1.clone(), mu))


@pytest.mark.points(1)
def test_bt_loss_swapping_segments_swaps_mu(impl):
    return_1, return_2 = returns(5)
    mu = one_hot_labels(5)
    swapped = impl.bt_loss(return_2, return_1, mu.flip(1))
    only_first_term = -(mu[:, 1] * F.logsigmoid(return_2 - return_1)).mean()  # the swapped call, μ(2) term dropped
    assert_close(swapped, impl.bt_loss(return_1, return_2, mu),
                 what="bt_loss after swapping σ¹ ↔ σ² and μ(1) ↔ μ(2) (the same comparisons, so the same loss)",
                 mistakes=[(only_first_term, "forgot the μ(2)·log P̂[σ² ≻ σ¹] term: the loss must treat "
                                             "both segments alike")])


@pytest.mark.points(1)
def test_bt_loss_ties(impl):
    return_1, return_2 = returns(6)
    mu = ties(8)
    gap = return_1 - return_2
    expected = -0.5 * (F.logsigmoid(gap) + F.logsigmoid(-gap)).mean()  # μ = (½, ½): half of each term
    assert_close(impl.bt_loss(return_1, return_2, mu), expected, what="bt_loss with ties, μ = (½, ½)",
                 mistakes=[(toy.bt_cross_entropy(return_1, return_2, torch.tensor([[1.0, 0.0]]).expand(8, 2)),
                            "a tie was scored as a win for σ¹: weigh both log-probabilities by μ = (½, ½)"),
                           *loss_mistakes(return_1, return_2, mu)])


@pytest.mark.points(1)
def test_bt_loss_huge_gaps_stay_finite(impl):
    return_1 = torch.tensor([200.0, -200.0, 300.0, 0.0])
    return_2 = torch.tensor([0.0, 0.0, -300.0, 150.0])
    mu = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    # log σ(x) ≈ min(x, 0) when |x| is large: the loss is the mean gap the labels disagree with
    expected = torch.tensor((0.0 + 200.0 + 600.0 + 0.5 * 150.0) / 4)
    assert_close(impl.bt_loss(return_1, return_2, mu), expected, what="bt_loss for return gaps in the hundreds",
                 mistakes=loss_mistakes(return_1, return_2, mu), rtol=1e-4)


@pytest.mark.points(1)
def test_bt_loss_gradient(impl):
    return_1, return_2 = returns(7)
    return_1.requires_grad_(True)
    mu = one_hot_labels(7)
    loss = impl.bt_loss(return_1, return_2, mu)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, \
        "bt_loss must return a 0-dim tensor (no .item(), no Python float): the optimiser needs its gradient"
    loss.backward()
    assert return_1.grad is not None, "no gradient reached return_1: keep the computation in torch"
    # d loss / d R¹ = −(μ(1) − P̂[σ¹ ≻ σ²]) / B: the gradient pushes R¹ up until P̂ matches the label
    expected = -(mu[:, 0] - torch.sigmoid(return_1.detach() - return_2)) / len(mu)
    assert_close(return_1.grad, expected, what="d bt_loss / d return_1",
                 mistakes=[(expected * len(mu), MEAN), (negated, "wrong sign: the loss must fall as P̂ moves "
                                                                  "towards the label")])


@pytest.mark.points(1)
def test_your_functions_learn_the_gridworld_reward(impl):
    world = toy.make_gridworld(height=5, width=5, n_bumps=2, seed=1)
    train = toy.make_comparisons(world, 300, temperature=0.0, seed=0)
    held_out = toy.make_comparisons(world, 500, seed=1)
    fit = toy.fit_reward(world, train, loss=impl.bt_loss, segment_return=impl.segment_return, steps=150)
    agreement = toy.preference_agreement(fit.reward, world.true_reward, held_out.first, held_out.second)
    assert agreement > 0.85, (
        f"a reward fit with your segment_return and bt_loss agrees with the true reward on only {agreement:.0%} "
        "of held-out pairs (the library's gets over 90%): check the sign and the order of σ¹ and σ²")
