"""Library tests for hhcourse.toy_preferences: the gridworld, synthetic Bradley–Terry labels, the reward fit."""

from __future__ import annotations

import math

import pytest
import torch

from hhcourse import preferences
from hhcourse import toy_preferences as toy


@pytest.fixture(scope="module")
def world() -> toy.GridWorld:
    return toy.make_gridworld(height=6, width=6, n_bumps=3, seed=2)


@pytest.fixture(scope="module")
def held_out(world) -> toy.Comparisons:
    return toy.make_comparisons(world, 1000, seed=999)


def agreement(world, held_out, n, seed, **label_options) -> float:
    return toy.trial_agreement(world, held_out, n, seed=seed, **label_options)


def test_true_reward_is_standardised_and_has_hills_and_pits(world):
    assert world.true_reward.shape == (36,)
    assert abs(world.true_reward.mean().item()) < 1e-5 and abs(world.true_reward.std().item() - 1) < 1e-5
    assert world.true_reward.min() < -1 and world.true_reward.max() > 1


def test_segments_are_walks_inside_the_grid(world):
    segments = toy.sample_segments(world, 500, 7, torch.Generator().manual_seed(0))
    assert segments.shape == (500, 7) and segments.min() >= 0 and segments.max() < world.n_cells
    rows, cols = segments // world.width, segments % world.width
    steps = (rows.diff(dim=1).abs() + cols.diff(dim=1).abs())
    assert steps.max() <= 1, "a segment jumped more than one cell in a step"
    assert (steps == 1).float().mean() > 0.7, "walks should mostly move (only walls keep them put)"
    assert len(segments[:, 0].unique()) == world.n_cells, "starts should cover the grid"


def test_noiseless_labels_pick_the_larger_return_and_tie_equal_ones():
    mu = toy.label_pairs(torch.tensor([3.0, -1.0, 2.0, 0.5]), torch.tensor([1.0, 4.0, 2.0, 0.4]),
                         temperature=0.0, tie_margin=0.2)
    torch.testing.assert_close(mu, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]]))


def test_bt_labels_follow_eq_1():
    gaps = torch.tensor([-2.0, 0.0, 1.0, 3.0]).repeat_interleave(20_000)
    mu = toy.label_pairs(gaps, torch.zeros_like(gaps), temperature=2.0, generator=torch.Generator().manual_seed(0))
    win_rate = mu[:, 0].view(4, -1).mean(1)
    torch.testing.assert_close(win_rate, torch.sigmoid(torch.tensor([-2.0, 0.0, 1.0, 3.0]) / 2), atol=0.015, rtol=0)


def test_error_rate_replaces_answers_by_coin_flips():
    gaps = torch.full((40_000,), 5.0)
    mu = toy.label_pairs(gaps, torch.zeros_like(gaps), temperature=0.0, error_rate=0.4,
                         generator=torch.Generator().manual_seed(0))
    assert abs((mu[:, 0] == 0).float().mean().item() - 0.2) < 0.01  # ε/2 of the answers contradict the rater


def test_invalid_label_options_are_rejected():
    with pytest.raises(ValueError, match="error_rate"):
        toy.label_pairs(torch.zeros(2), torch.zeros(2), error_rate=1.5)
    with pytest.raises(ValueError, match="temperature"):
        toy.label_pairs(torch.zeros(2), torch.zeros(2), temperature=-1.0)


def test_library_loss_is_the_papers_cross_entropy():
    g = torch.Generator().manual_seed(0)
    return_1, return_2 = torch.randn(16, generator=g) * 3, torch.randn(16, generator=g) * 3
    first_wins = (torch.rand(16, generator=g) < 0.5).float()
    mu = torch.stack([first_wins, 1 - first_wins], dim=1)
    p = preferences.preference_probability(return_1, return_2)
    by_hand = -(mu[:, 0] * p.log() + mu[:, 1] * (1 - p).log()).mean()
    torch.testing.assert_close(toy.bt_cross_entropy(return_1, return_2, mu), by_hand)
    torch.testing.assert_close(toy.bt_cross_entropy(return_1, return_1, mu), torch.tensor(math.log(2)))


def test_robust_loss_matches_its_definition_and_caps_a_wrong_label():
    return_1, return_2 = torch.tensor([2.0, -1.0, 500.0]), torch.tensor([0.0, 1.0, 0.0])
    mu = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    p = 0.05 + 0.9 * torch.sigmoid(return_1 - return_2)
    by_hand = -(mu[:, 0] * p.log() + mu[:, 1] * (1 - p).log()).mean()
    torch.testing.assert_close(toy.robust_bt_cross_entropy(return_1, return_2, mu, 0.1), by_hand)
    assert toy.robust_bt_cross_entropy(return_1[2:], return_2[2:], mu[2:]) < -math.log(0.05) + 1e-4
    torch.testing.assert_close(toy.robust_bt_cross_entropy(return_1, return_2, mu, 0.0),
                               toy.bt_cross_entropy(return_1, return_2, mu))


def test_fit_recovers_the_true_reward_from_noiseless_labels(world, held_out):
    fit = toy.fit_reward(world, toy.make_comparisons(world, 600, temperature=0.0, seed=0))
    assert fit.losses[-1] < fit.losses[0] == pytest.approx(math.log(2))
    assert toy.preference_agreement(fit.reward, world.true_reward, held_out.first, held_out.second) > 0.93
    assert toy.reward_correlation(fit.reward, world.true_reward) > 0.9
    assert abs(fit.reward.mean().item()) < 0.05, "the ℓ2 term should pick the mean-zero shift"


def test_temperature_sets_the_learned_scale(world):
    slopes = [toy.reward_scale(toy.fit_reward(world, toy.make_comparisons(world, 1500, temperature=t, seed=0),
                                              l2=1e-5, steps=500).reward, world.true_reward) for t in (2.0, 4.0)]
    assert slopes[0] == pytest.approx(0.5, rel=0.25) and slopes[1] == pytest.approx(0.25, rel=0.25)


def test_more_comparisons_help(world, held_out):
    few = sum(agreement(world, held_out, 20, seed) for seed in range(3))
    many = sum(agreement(world, held_out, 500, seed) for seed in range(3))
    assert many > few + 0.1


def test_label_noise_hurts(world, held_out):
    clean = sum(agreement(world, held_out, 200, seed, error_rate=0.0) for seed in range(3))
    noisy = sum(agreement(world, held_out, 200, seed, error_rate=0.6) for seed in range(3))
    assert clean > noisy + 0.1


def test_fit_follows_the_loss_it_is_given(world, held_out):
    train = toy.make_comparisons(world, 200, seed=0)
    flipped = toy.fit_reward(world, train, loss=lambda r1, r2, mu: toy.bt_cross_entropy(r2, r1, mu))
    assert toy.preference_agreement(flipped.reward, world.true_reward, held_out.first, held_out.second) < 0.2


def test_same_seed_same_result(world, held_out):
    first = toy.fit_reward(world, toy.make_comparisons(world, 100, seed=5, error_rate=0.1))
    again = toy.fit_reward(world, toy.make_comparisons(world, 100, seed=5, error_rate=0.1))
    other = toy.fit_reward(world, toy.make_comparisons(world, 100, seed=6, error_rate=0.1))
    assert torch.equal(first.reward, again.reward) and not torch.equal(first.reward, other.reward)


def test_metrics_ignore_shift_and_scale(world, held_out):
    reward = torch.randn(world.n_cells, generator=torch.Generator().manual_seed(0))
    shifted = 3.0 * reward - 7.0
    args = (held_out.first, held_out.second)
    assert toy.preference_agreement(shifted, world.true_reward, *args) == pytest.approx(
        toy.preference_agreement(reward, world.true_reward, *args))
    assert toy.reward_correlation(shifted, world.true_reward) == pytest.approx(
        toy.reward_correlation(reward, world.true_reward), abs=1e-6)
    torch.testing.assert_close(toy.standardise(shifted), toy.standardise(reward))
    assert toy.preference_agreement(world.true_reward, world.true_reward, *args) == 1.0
    assert toy.preference_agreement(torch.zeros(world.n_cells), world.true_reward, *args) == 0.5


def test_fit_rejects_comparisons_from_another_grid(world):
    bigger = toy.make_gridworld(height=9, width=9)
    with pytest.raises(ValueError, match="different grid"):
        toy.fit_reward(world, toy.make_comparisons(bigger, 50, seed=0), steps=1)
